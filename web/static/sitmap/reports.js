/* The period-report button and dialog on the commanders map (GET /reports). Exposes window.SitmapReports.
 * Who may download reports is data/permissions.py's report.read: when someone signs in (map.js marks the
 * body's data-user), GET /reports/options answers for every role (never a 403) whether they may and which
 * communes they may choose. The dialog asks for a period (2025-09, 2025-Q3, 2025), a commune or all, and the
 * format; the file is fetched, a refusal (422/403) shown as the server's text, and the workbook saved under
 * the name of its Content-Disposition. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;
  var button = null, panel = null, form = null, status = null, commune = null, lastUser = null;

  var el = S.el;

  // The last complete quarter in Vietnam (UTC+7 all year), the period a commander most often reports.
  function defaultPeriod() {
    var now = new Date(Date.now() + 7 * 3600 * 1000);
    var q = Math.floor(now.getUTCMonth() / 3), y = now.getUTCFullYear();
    if (q === 0) { return (y - 1) + "-Q4"; }
    return y + "-Q" + q;
  }

  function field(labelKey, input) {
    var label = el("label", { class: "sm-report-field" });
    label.style.display = "block";
    label.style.margin = "6px 0";
    label.appendChild(el("span", { "data-i18n": labelKey }, t(labelKey)));
    label.appendChild(document.createElement("br"));
    label.appendChild(input);
    return label;
  }

  function build() {
    if (button) { return; }
    var parts = S.topPanel("sm-report", "report_title", "report_close", "360px", "report_open");
    button = parts.button;
    panel = parts.panel;
    form = el("form", { id: "sm-report-form" });
    var period = el("input", { name: "period", id: "sm-report-period", required: "required", maxlength: "10",
                               pattern: "\\d{4}(-(\\d{2}|[Qq][1-4]))?" });
    period.value = defaultPeriod();
    form.appendChild(field("report_period", period));
    commune = el("select", { name: "commune", id: "sm-report-commune" });
    form.appendChild(field("report_commune", commune));
    var format = el("select", { name: "format", id: "sm-report-format" });
    [["xlsx", "report_xlsx"], ["csv", "report_csv"]].forEach(function (f) {
      format.appendChild(el("option", { value: f[0], "data-i18n": f[1] }, t(f[1])));
    });
    form.appendChild(field("report_format", format));
    form.appendChild(el("button", { type: "submit", id: "sm-report-download", "data-i18n": "report_download" },
                        t("report_download")));
    panel.appendChild(form);
    status = el("p", { id: "sm-report-status", role: "status" });
    status.hidden = true;
    panel.appendChild(status);
    document.body.appendChild(panel);
    if (window.L) {
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
    }
    button.addEventListener("click", function () { panel.hidden = !panel.hidden; });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); download(); });
  }

  function say(key, extra) {
    status.hidden = false;
    status.dataset.state = key;
    status.textContent = t(key) + (extra ? " " + extra : "");
  }

  function filename(response, fallback) {
    var m = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return m ? m[1] : fallback;
  }

  function download() {
    var q = new URLSearchParams({ period: form.period.value.trim(), commune: form.commune.value,
                                  format: form.format.value, lang: S.lang() });
    say("report_loading");
    fetch("/reports?" + q.toString(), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (p) { throw new Error(p.detail || p.title || ("HTTP " + r.status)); },
                             function () { throw new Error("HTTP " + r.status); });
      }
      var name = filename(r, "sitmap-report." + (form.format.value === "csv" ? "zip" : "xlsx"));
      return r.blob().then(function (blob) {
        var a = el("a", { href: URL.createObjectURL(blob), download: name });
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
        say("report_done", name);
      });
    }).catch(function (err) { say("report_failed", "— " + err.message); });
  }

  function fill(options) {
    commune.textContent = "";
    commune.appendChild(el("option", { value: "all", "data-i18n": "report_all" }, t("report_all")));
    (options.communes || []).forEach(function (c) {
      commune.appendChild(el("option", { value: c.code }, c.name + " (" + c.code + ")"));
    });
  }

  function show(user) {
    build();
    button.hidden = true;
    panel.hidden = true;
    if (!user) { return; }
    delete button.dataset.ready;
    S.api("GET", "/reports/options").then(function (options) {
      if (document.body.dataset.user !== user) { return; }  // someone else signed in meanwhile
      button.dataset.for = user;
      button.dataset.ready = options && options.allowed ? "true" : "false";
      if (button.dataset.ready !== "true") { return; }
      fill(options);
      button.hidden = false;
    }, function () { /* not answered: no button */ });
  }

  // map.js marks who is signed in on the body; follow it (no change to map.js needed).
  function watch() {
    var seen = function () {
      var user = document.body.dataset.user || "";
      if (user === lastUser) { return; }
      lastUser = user;
      show(user);
    };
    new MutationObserver(seen).observe(document.body, { attributes: true, attributeFilter: ["data-user"] });
    seen();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", watch); } else { watch(); }
  window.SitmapReports = { show: show };
})();
