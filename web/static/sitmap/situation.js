/* The commanders' situation panel (GET /situation), live from /live. Exposes window.SitmapSituation.
 *
 * The panel opens for whoever /situation answers (the route checks data/permissions.py situation.read; a 403
 * hides it), within the map's time filter (the window) and the caller's communes. map.js owns the page's one
 * EventSource: the panel listens on it (no second stream) and re-reads /situation, debounced, when an
 * incident, a patrol visit or a station's status changes. Clicking a serious or stale incident pans the map. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;
  // The /live kinds that change a figure of the panel (api/routers/live.py).
  var KINDS = ["incident_created", "incident_updated", "alert", "patrol_visit", "station_status"];
  var DEBOUNCE_MS = 400;
  var STALE_SHOWN = 6;
  var state = { doc: null, loads: 0, seq: 0, timer: null, allowed: false, user: "", hooked: null, autoOpen: false,
    period: "24h" };
  var button = null, panel = null, body = null, status = null;

  var el = S.el;

  function mapState() { return window.SitmapMap ? window.SitmapMap.state : null; }

  // The map's time filter as since/until (the same reading as map.js's interval()).
  function windowParams() {
    var ms = mapState(), p = {};
    if (!ms) { return p; }
    var hours = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 }[ms.range];
    if (hours) {
      p.since = new Date(Date.now() - hours * 3600 * 1000).toISOString();
    } else if (ms.range === "custom" && ms.custom) {
      if (ms.custom.from) { p.since = new Date(ms.custom.from + "T00:00:00+07:00").toISOString(); }
      if (ms.custom.to) { p.until = new Date(ms.custom.to + "T23:59:59+07:00").toISOString(); }
    }
    return p;
  }

  function build() {
    if (button) { return; }
    button = el("button", { id: "sm-situation-open", type: "button", "data-i18n": "situation" }, t("situation"));
    button.hidden = true;
    var top = document.getElementById("sm-top");
    top.insertBefore(button, document.getElementById("sm-lang"));
    panel = el("section", { id: "sm-situation", class: "sm-panel", "aria-labelledby": "sm-situation-title" });
    panel.hidden = true;
    var head = el("div", { class: "sm-sit-head" });
    head.appendChild(el("strong", { id: "sm-situation-title", "data-i18n": "situation_title" }, t("situation_title")));
    var fold = el("button", { type: "button", id: "sm-situation-fold", "aria-expanded": "true" }, "−");
    var close = el("button", { type: "button", id: "sm-situation-close", "data-i18n": "coverage_close" },
                   t("coverage_close"));
    head.appendChild(fold);
    head.appendChild(close);
    panel.appendChild(head);
    status = el("p", { id: "sm-situation-status", role: "status" });
    panel.appendChild(status);
    body = el("div", { id: "sm-situation-body" });
    panel.appendChild(body);
    document.body.appendChild(panel);
    if (window.L) {
      L.DomEvent.disableClickPropagation(panel);
      L.DomEvent.disableScrollPropagation(panel);
    }
    button.addEventListener("click", function () {
      panel.hidden = !panel.hidden;
      if (!panel.hidden) { load(); }
    });
    close.addEventListener("click", function () { panel.hidden = true; });
    fold.addEventListener("click", function () {
      var open = body.hidden;
      body.hidden = !open;
      fold.textContent = open ? "−" : "+";
      fold.setAttribute("aria-expanded", String(open));
    });
    S.onLang(function () { if (state.doc) { render(state.doc); } });
  }

  // ------------------------------------------------------------------ loading
  // At most one read per DEBOUNCE_MS however many events arrive: a burst is one read after its first event,
  // and a steady stream of writes cannot postpone the read for ever (as a timer reset on each event would).
  function schedule() {
    if (!state.allowed || state.timer) { return; }
    state.timer = setTimeout(function () { state.timer = null; load(); }, DEBOUNCE_MS);
  }

  function load() {
    build();
    if (!state.user) { return; }
    var mine = ++state.seq;
    var q = new URLSearchParams(windowParams()).toString();
    if (!state.doc) { status.hidden = false; status.textContent = t("situation_loading"); }
    S.api("GET", "/situation" + (q ? "?" + q : "")).then(function (doc) {
      if (mine !== state.seq) { return; }
      state.allowed = true;
      state.doc = doc;
      button.hidden = false;
      delete panel.dataset.refused;
      if (state.autoOpen) { panel.hidden = false; state.autoOpen = false; }  // the situation before the map
      status.hidden = true;
      render(doc);
      state.loads += 1;
      panel.dataset.loads = String(state.loads);
    }).catch(function (e) {
      if (mine !== state.seq) { return; }
      if (e.status === 401 || e.status === 403) {  // not a role that watches the map: no panel
        state.allowed = false;
        button.hidden = true;
        panel.hidden = true;
        panel.dataset.refused = String(e.status);
        return;
      }
      status.hidden = false;
      status.textContent = t("situation_failed") + ": " + e.message;
    });
  }

  function onUser() {
    var user = document.body.dataset.user || "";
    if (user === state.user) { return; }
    state.user = user;
    state.doc = null;
    state.allowed = false;
    build();
    body.innerHTML = "";
    button.hidden = true;
    panel.hidden = true;
    state.autoOpen = !!user;  // opened at sign-in once /situation answers
    if (user) { load(); }
  }

  // map.js assigns state.es at each (re)start of the stream: catch the assignment to add the panel's listeners.
  function hookLive() {
    var ms = mapState();
    if (!ms || state.hooked === ms) { return; }
    state.hooked = ms;
    var current = ms.es;
    function listen(es) {
      if (!es) { return; }
      KINDS.forEach(function (kind) { es.addEventListener(kind, schedule); });
    }
    Object.defineProperty(ms, "es", {
      configurable: true, enumerable: true,
      get: function () { return current; },
      set: function (es) { current = es; listen(es); }
    });
    listen(current);
  }

  function wireTime() {
    document.querySelectorAll("input[name=sm-time]").forEach(function (r) {
      r.addEventListener("change", function () { if (r.value !== "custom") { schedule(); } });
    });
    var apply = document.getElementById("sm-time-apply");
    if (apply) { apply.addEventListener("click", schedule); }
  }

  // ------------------------------------------------------------------ rendering
  function num(n) { return n === null || n === undefined ? "—" : String(n); }
  function signed(n) { return n > 0 ? "+" + n : String(n); }

  function section(key, extra) {
    // No data-i18n: the whole panel is drawn again on a language change (some headings carry numbers).
    var h = el("h4", {}, t(key).replace("{h}", extra === undefined ? "" : extra));
    body.appendChild(h);
    return h;
  }

  function table(id, heads, rows) {
    var tb = el("table", { id: id, class: "sm-sit-table" });
    var tr = el("tr");
    heads.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
    var thead = el("thead");
    thead.appendChild(tr);
    tb.appendChild(thead);
    var tbody = el("tbody");
    rows.forEach(function (r) { tbody.appendChild(r); });
    tb.appendChild(tbody);
    body.appendChild(tb);
    return tb;
  }

  function row(cells, attrs) {
    var tr = el("tr", attrs || {});
    cells.forEach(function (c) {
      var td = typeof c === "object" && c !== null ? el("td", c.attrs || {}, c.text) : el("td", {}, c);
      tr.appendChild(td);
    });
    return tr;
  }

  function none() { body.appendChild(el("p", { class: "sm-sit-none" }, t("situation_none"))); }

  function pan(item) {
    var ms = mapState();
    if (!ms || !ms.map || item.lon === null || item.lat === null) { return; }
    ms.map.setView([item.lat, item.lon], Math.max(ms.map.getZoom(), 14));
  }

  function incidentList(id, items, extra) {
    var ul = el("ul", { id: id, class: "sm-sit-list" });
    items.forEach(function (i) {
      var li = el("li", { "data-id": i.id, tabindex: "0" });
      li.textContent = S.fmtDateTime(i.occurred_at) + " · " + S.vocabLabel("incident_categories", i.category) +
        " · " + S.vocabLabel("incident_severities", i.severity) + " · " + (i.commune_name || i.commune || "—") +
        (extra ? extra(i) : "");
      li.addEventListener("click", function () { pan(i); });
      li.addEventListener("keydown", function (e) { if (e.key === "Enter") { pan(i); } });
      ul.appendChild(li);
    });
    body.appendChild(ul);
  }

  // A summary per period (against a year before), then category × severity for the period chosen in the tabs.
  function renderIncidents(inc) {
    section("situation_incidents");
    var periods = Object.keys(inc);
    if (periods.indexOf(state.period) < 0) { state.period = periods[0]; }
    table("sm-sit-periods", ["", t("situation_count"), t("situation_year_before"), t("situation_change")],
          periods.map(function (p) {
            return row([t("situation_" + p),
                        { text: inc[p].total, attrs: { id: "sm-sit-total-" + p, class: "sm-sit-strong" } },
                        { text: inc[p].year_before.total, attrs: { id: "sm-sit-before-" + p } },
                        { text: signed(inc[p].change), attrs: { id: "sm-sit-change-" + p } }],
                       { "data-period": p });
          }));
    var tabs = el("div", { class: "sm-sit-tabs", role: "tablist" });
    periods.forEach(function (p) {
      var b = el("button", { type: "button", role: "tab", "data-period": p,
                             "aria-selected": String(p === state.period) }, t("situation_" + p));
      b.addEventListener("click", function () { state.period = p; render(state.doc); });
      tabs.appendChild(b);
    });
    body.appendChild(tabs);
    var sevs = Object.keys((S.config.i18n || {}).vocab ? S.config.i18n.vocab.incident_severities || {} : {});
    var cur = inc[state.period], cats = {};
    cur.by.forEach(function (b) {
      var c = cats[b.category] || (cats[b.category] = { n: {}, total: 0, before: 0 });
      c.n[b.severity] = b.count;
      c.total += b.count;
      c.before += b.year_before;
    });
    var heads = [""].concat(sevs.map(function (v) { return t("situation_sev_" + v); }),
                            [t("situation_total"), t("situation_year_before"), t("situation_change")]);
    var rows = Object.keys(cats).sort().map(function (k) {
      var c = cats[k];
      return row([S.vocabLabel("incident_categories", k)].concat(
        sevs.map(function (v) { return c.n[v] || 0; }), [{ text: c.total, attrs: { class: "sm-sit-strong" } },
                                                          c.before, signed(c.total - c.before)]),
        { "data-category": k });
    });
    var tb = table("sm-sit-incidents", heads, rows);
    // The short severity headings carry the full label for a pointer or a screen reader.
    tb.querySelectorAll("thead th").forEach(function (th, i) {
      if (i >= 1 && i <= sevs.length) { th.title = S.vocabLabel("incident_severities", sevs[i - 1]); }
    });
    if (!rows.length) { none(); }
  }

  function renderOpen(open) {
    section("situation_open");
    var rows = Object.keys(open.by_status).map(function (s) {
      return row([S.vocabLabel("incident_statuses", s), { text: open.by_status[s], attrs: { "data-status": s } }]);
    });
    rows.push(row([{ text: t("situation_total"), attrs: { class: "sm-sit-strong" } },
                   { text: open.total, attrs: { id: "sm-sit-open-total", class: "sm-sit-strong" } }]));
    table("sm-sit-open", ["", t("situation_count")], rows);
    table("sm-sit-age", [t("situation_age"), t("situation_count")], ["lt_24h", "d1_3", "d3_7", "gt_7d"].map(
      function (b) { return row([t("situation_age_" + b), { text: open.by_age[b], attrs: { "data-age": b } }]); }));
    var h = section("situation_stale", open.stale.hours);
    h.id = "sm-sit-stale-title";
    h.appendChild(el("span", { id: "sm-sit-stale-count", class: "sm-sit-flag" }, " " + open.stale.count));
    if (!open.stale.items.length) { none(); return; }
    // The longest untouched first; the panel shows a few, the count says how many there are.
    incidentList("sm-sit-stale", open.stale.items.slice(0, STALE_SHOWN), function (i) {
      return " · " + Math.round(i.idle_hours) + " " + t("situation_idle");
    });
    if (open.stale.count > STALE_SHOWN) {
      body.appendChild(el("p", { class: "sm-sit-none" }, "… +" + (open.stale.count - STALE_SHOWN)));
    }
  }

  function renderPatrols(p) {
    var h = section("situation_patrols");
    h.appendChild(el("span", { id: "sm-sit-overdue", class: "sm-sit-flag" }, " " + p.overdue + "/" + p.points));
    if (!p.by_commune.length) { none(); return; }
    table("sm-sit-patrols", [t("situation_commune"), t("situation_count"), t("situation_never_visited"),
                             t("situation_points")],
          p.by_commune.map(function (c) {
            return row([c.commune_name || c.commune || "—", c.overdue, c.never_visited, c.points],
                       { "data-commune": c.commune || "" });
          }));
  }

  function renderStations(st) {
    section("situation_stations");
    table("sm-sit-stations", ["", t("situation_count")], Object.keys(st.by_status).map(function (s) {
      return row([S.vocabLabel("hq_statuses", s), { text: st.by_status[s], attrs: { "data-status": s } }]);
    }));
    if (st.changes.length) {
      section("situation_station_changes");
      var ul = el("ul", { id: "sm-sit-station-changes", class: "sm-sit-list" });
      st.changes.forEach(function (c) {
        ul.appendChild(el("li", { "data-station": c.station_id }, S.fmtDateTime(c.changed_at) + " · " + c.name + ": " +
          (c.from_status ? S.vocabLabel("hq_statuses", c.from_status) + " → " : "") +
          S.vocabLabel("hq_statuses", c.hq_status)));
      });
      body.appendChild(ul);
    }
  }

  function render(doc) {
    build();
    body.innerHTML = "";
    var meta = el("p", { class: "sm-sit-meta" }, t("situation_as_of") + " " + S.fmtDateTime(doc.at));
    body.appendChild(meta);
    if (doc.incidents_generated) {
      body.appendChild(el("p", { class: "sm-sit-note", id: "sm-sit-generated" }, t("incidents_generated_note")));
    }
    renderIncidents(doc.incidents);
    renderOpen(doc.open);
    renderPatrols(doc.patrols);
    renderStations(doc.stations);
    section("situation_serious");
    if (doc.serious.length) { incidentList("sm-sit-serious", doc.serious); } else { none(); }
  }

  function start() {
    build();
    wireTime();
    hookLive();
    new MutationObserver(onUser).observe(document.body, { attributes: true, attributeFilter: ["data-user"] });
    onUser();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  window.SitmapSituation = { load: load, state: state };
})();
