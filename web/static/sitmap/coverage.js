/* The coverage curve for the roles that run analyses (planners, commanders, admins: the page's config
 * `coverage_roles`, from data/permissions.py): a button in the top bar opens a panel with the picture
 * GET /analyses/coverage/curve.svg draws (geo/coverage/curve.py: the share of the population within reach
 * of a station against minutes by road, in the page's language, with the generated-roads note) and links to
 * the table and the underserved villages as CSV. A commune commander's curve is that of their communes.
 * map.js calls show(user) whenever the signed-in user changes. Exposes window.SitmapCoverage. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;
  var button = null, panel = null, img = null, status = null, loads = 0;

  function allowed(user) {
    return !!user && (S.config.coverage_roles || []).indexOf(user.role) >= 0;
  }

  var el = S.el;

  function build() {
    if (button) { return; }
    var parts = S.topPanel("sm-coverage", "coverage_curve", "coverage_close", "740px");
    button = parts.button;
    panel = parts.panel;
    status = el("p", { id: "sm-coverage-status", role: "status" });
    panel.appendChild(status);
    img = el("img", { id: "sm-coverage-img", alt: "" });
    img.style.width = "100%";
    img.style.height = "auto";
    img.hidden = true;
    panel.appendChild(img);
    var links = el("p");
    links.appendChild(el("a", { id: "sm-coverage-csv", href: "/analyses/coverage?f=csv", download: "coverage.csv",
                                "data-i18n": "coverage_table_csv" }, t("coverage_table_csv")));
    links.appendChild(document.createTextNode(" · "));
    links.appendChild(el("a", { id: "sm-coverage-underserved", href: "/analyses/coverage?f=csv&part=underserved",
                                download: "underserved.csv", "data-i18n": "coverage_underserved_csv" },
                         t("coverage_underserved_csv")));
    panel.appendChild(links);
    document.body.appendChild(panel);
    if (window.L) {
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
    }
    img.addEventListener("load", function () { status.hidden = true; img.hidden = false; });
    img.addEventListener("error", function () {
      img.hidden = true;
      status.hidden = false;
      status.textContent = t("coverage_failed");
    });
    button.addEventListener("click", function () {
      panel.hidden = !panel.hidden;
      if (!panel.hidden) { load(); }
    });
    S.onLang(function () { if (!panel.hidden) { load(); } });
  }

  function load() {
    build();
    status.hidden = false;
    status.textContent = t("coverage_loading");
    img.hidden = true;
    img.alt = t("coverage_curve");
    // A new address each time, so the picture is asked again (the stations' status and the closures change)
    // and its load event fires even when the language is the same.
    loads += 1;
    img.src = "/analyses/coverage/curve.svg?lang=" + encodeURIComponent(S.lang()) + "&n=" + loads;
  }

  function show(user) {
    build();
    var ok = allowed(user);
    button.hidden = !ok;
    if (!ok) { panel.hidden = true; img.removeAttribute("src"); }
  }

  window.SitmapCoverage = { show: show, load: load };
})();
