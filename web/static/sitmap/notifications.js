/* The notification inbox on the map: a bell with the unread count in the header and a list (newest first,
 * read/unread) from GET /notifications; a click marks one read (POST /notifications/{id}/read) and pans to its
 * place; "mark all read" (POST /notifications/read-all). New notifications arrive on the map's own /live
 * stream (api/live_stream.py sends the events "notification" and "notification_read" to their recipient
 * only), so the count moves without a reload. Exposes window.SitmapInbox. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;
  var LIMIT = 50;

  var state = { items: [], byId: {}, unread: 0, user: "", es: null, open: false, loadSeq: 0 };
  var ui = {};

  var BELL_SVG = "<svg viewBox=\"0 0 24 24\" width=\"18\" height=\"18\" aria-hidden=\"true\"><path fill=\"currentColor\" " +
    "d=\"M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66" +
    "A7 7 0 0 0 5 11v5l-2 2v1h18v-1z\"/></svg>";
  var CSS = "#sm-bell{position:relative;display:inline-flex;align-items:center;gap:2px;padding:2px 6px}" +
    "#sm-bell-count{min-width:16px;padding:0 4px;border-radius:8px;background:#c00;color:#fff;font-size:11px;" +
    "text-align:center}#sm-bell-count[data-zero=true]{background:#999}" +
    "#sm-inbox{top:48px;right:8px;width:360px;max-height:60vh;overflow:auto;padding:6px 8px}" +
    "#sm-inbox header{display:flex;justify-content:space-between;align-items:center;gap:8px}" +
    "#sm-inbox ul{list-style:none;margin:4px 0;padding:0}" +
    "#sm-inbox li{padding:5px 4px;border-bottom:1px solid #ddd;cursor:pointer}" +
    "#sm-inbox li.unread{font-weight:bold;background:#fff4e5}#sm-inbox li:hover{background:#eef}" +
    "#sm-inbox li small{display:block;font-weight:normal;color:#555}";

  function esc(s) { return S.escapeHtml(s); }

  // ---------------------------------------------------------------- what one notification says
  function subjectText(n) {
    var s = n.subject || {};
    var where = s.unit_name ? " — " + s.unit_name : "";
    if (n.trigger === "patrol_overdue") {
      var late = typeof s.overdue_hours === "number" ? Math.round(s.overdue_hours) + " h" : t("inbox_never_visited");
      return t("inbox_overdue_point") + ": " + (s.name || "") + " (" + late + ")" + where;
    }
    var what = [s.severity ? S.vocabLabel("incident_severities", s.severity) : "",
      s.category ? S.vocabLabel("incident_categories", s.category) : ""].filter(Boolean).join(" · ");
    return what + (s.number ? " #" + s.number : "") + where;
  }

  function place(n) {
    var s = n.subject || {};
    return typeof s.lat === "number" && typeof s.lon === "number" ? [s.lat, s.lon] : null;
  }

  // ---------------------------------------------------------------- the bell and the list
  function build() {
    var top = document.getElementById("sm-top");
    if (!top || ui.bell) { return; }
    var style = document.createElement("style");
    style.textContent = CSS;
    document.head.appendChild(style);
    ui.bell = document.createElement("button");
    ui.bell.id = "sm-bell";
    ui.bell.type = "button";
    ui.bell.hidden = true;
    ui.bell.innerHTML = BELL_SVG + "<span id=\"sm-bell-count\" data-zero=\"true\">0</span>";
    ui.count = ui.bell.querySelector("#sm-bell-count");
    top.insertBefore(ui.bell, document.getElementById("sm-user"));
    ui.panel = document.createElement("div");
    ui.panel.id = "sm-inbox";
    ui.panel.className = "sm-panel";
    ui.panel.hidden = true;
    ui.panel.innerHTML = "<header><strong data-i18n=\"inbox_title\"></strong>" +
      "<button type=\"button\" id=\"sm-inbox-all\" data-i18n=\"inbox_mark_all\"></button></header>" +
      "<ul id=\"sm-inbox-list\"></ul>";
    document.body.appendChild(ui.panel);
    ui.list = ui.panel.querySelector("#sm-inbox-list");
    ui.bell.addEventListener("click", function () { setOpen(!state.open); });
    ui.panel.querySelector("#sm-inbox-all").addEventListener("click", markAll);
    if (window.L && L.DomEvent) {
      L.DomEvent.disableClickPropagation(ui.panel);
      L.DomEvent.disableScrollPropagation(ui.panel);
    }
    S.applyI18n(ui.panel);
    S.onLang(render);
  }

  function setOpen(open) {
    state.open = open;
    // Below the header, however many lines it wraps to.
    var top = document.getElementById("sm-top");
    if (open && top) { ui.panel.style.top = Math.round(top.getBoundingClientRect().bottom + 4) + "px"; }
    ui.panel.hidden = !open;
    ui.bell.setAttribute("aria-expanded", open ? "true" : "false");
  }

  function render() {
    if (!ui.bell) { return; }
    ui.count.textContent = String(state.unread);
    ui.count.dataset.zero = state.unread ? "false" : "true";
    ui.bell.dataset.unread = String(state.unread);
    ui.bell.title = t("inbox_title") + ": " + state.unread + " " + t("inbox_unread");
    ui.list.innerHTML = "";
    if (!state.items.length) {
      var none = document.createElement("li");
      none.className = "sm-none";
      none.textContent = t("inbox_empty");
      ui.list.appendChild(none);
    }
    state.items.forEach(function (n) {
      var li = document.createElement("li");
      li.dataset.id = String(n.id);
      li.className = n.read_at ? "read" : "unread";
      li.innerHTML = esc(subjectText(n)) + "<small>" + esc(S.fmtDateTime(n.created_at)) + " · " +
        esc(n.read_at ? t("inbox_read") : t("inbox_unread")) + "</small>";
      li.addEventListener("click", function () { openOne(n); });
      ui.list.appendChild(li);
    });
  }

  // ---------------------------------------------------------------- state
  function put(n) {
    var had = state.byId[n.id];
    if (had) { return false; }
    state.byId[n.id] = n;
    state.items.push(n);
    state.items.sort(function (a, b) { return b.id - a.id; });
    while (state.items.length > LIMIT) { delete state.byId[state.items.pop().id]; }
    return true;
  }

  function reset() {
    state.items = [];
    state.byId = {};
    state.unread = 0;
  }

  function load() {
    var seq = ++state.loadSeq;
    return S.api("GET", "/notifications?limit=" + LIMIT).then(function (data) {
      if (seq !== state.loadSeq) { return; }
      var served = {};
      var newest = 0;
      (data.items || []).forEach(function (n) { served[n.id] = true; newest = Math.max(newest, n.id); });
      // Live arrivals newer than this answer are not in its count yet.
      var extra = state.items.filter(function (n) { return !served[n.id] && n.id > newest && !n.read_at; }).length;
      var live = state.items.filter(function (n) { return n.id > newest; });
      reset();
      (data.items || []).concat(live).forEach(put);
      state.unread = (data.unread || 0) + extra;
      document.body.dataset.inboxReady = "true";
      render();
    }).catch(function (e) { S.toast(t("inbox_failed") + ": " + e.message, true); });
  }

  function markLocal(ids) {
    ids.forEach(function (id) {
      var n = state.byId[id];
      if (n && !n.read_at) {
        n.read_at = new Date().toISOString();
        state.unread = Math.max(0, state.unread - 1);
      }
    });
  }

  function openOne(n) {
    var at = place(n);
    if (at && window.SitmapMap && SitmapMap.state.map) {
      var map = SitmapMap.state.map;
      map.setView(at, Math.max(map.getZoom(), 14));
    }
    setOpen(false);
    if (n.read_at) { return; }
    markLocal([n.id]);
    render();
    S.api("POST", "/notifications/" + n.id + "/read").then(function (r) {
      state.unread = r.unread;
      render();
    }).catch(function (e) { S.toast(e.message, true); load(); });
  }

  function markAll() {
    S.api("POST", "/notifications/read-all").then(function (r) {
      markLocal(state.items.map(function (n) { return n.id; }));
      state.unread = r.unread;
      render();
    }).catch(function (e) { S.toast(e.message, true); });
  }

  // ---------------------------------------------------------------- the live stream
  function onNotification(ev) {
    var data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    var n = data.notification;
    if (!n) { return; }
    var s = n.subject || {};
    n.incident_id = s.incident_id || null;
    n.patrol_point_id = s.patrol_point_id || null;
    // A reconnect replays its backlog: the same notification counts once.
    if (put(n) && !n.read_at) {
      state.unread += 1;
      S.toast(t("inbox_new") + ": " + subjectText(n));
    }
    render();
  }

  function onRead(ev) {
    var data;
    try { data = JSON.parse(ev.data); } catch (e) { return; }
    markLocal(data.ids || []);
    render();
  }

  // map.js owns the page's one EventSource (SitmapMap.state.es) and makes a new one at each sign-in; the
  // live indicator turns "on" when a stream opens, so that is when a new stream is taken up.
  function attach() {
    var es = window.SitmapMap && SitmapMap.state.es;
    if (!es || es === state.es) { return; }
    state.es = es;
    es.addEventListener("notification", onNotification);
    es.addEventListener("notification_read", onRead);
    load();
  }

  function userChanged() {
    var user = document.body.dataset.user || "";
    if (user === state.user) { return; }
    state.user = user;
    state.es = null;
    reset();
    delete document.body.dataset.inboxReady;
    if (ui.bell) {
      ui.bell.hidden = !user;
      if (!user) { setOpen(false); }
    }
    render();
    if (user) {
      load();
      attach();
    }
  }

  function start() {
    build();
    var live = document.getElementById("sm-live");
    if (!ui.bell || !live || !window.MutationObserver) { return; }
    new MutationObserver(function () { if (live.classList.contains("on")) { attach(); } })
      .observe(live, { attributes: true, attributeFilter: ["class"] });
    new MutationObserver(userChanged).observe(document.body, { attributes: true, attributeFilter: ["data-user"] });
    userChanged();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  window.SitmapInbox = { state: state, reload: load, subjectText: subjectText };
})();
