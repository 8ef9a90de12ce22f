/* The officers' phone form: position (GPS with accuracy, or a tap), category, severity, time, description;
 * reports and check-ins go into a queue in localStorage with their client UUIDs first, then are sent. The
 * queue is flushed when the browser comes back online, on load and periodically; the server's idempotency
 * on the UUID makes a resend after a lost answer harmless, so a report is stored exactly once. "My route today"
 * lists the officer's (and their team's) scheduled points with their due time and status; tap to check in. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;
  var QUEUE_KEY = "sitmap.queue";
  var DONE_KEY = "sitmap.sent";
  var RETRY_MS = 15000;

  var state = { map: null, user: null, pos: null, marker: null, circle: null, flushing: false, points: null,
    pointLayer: null, unitLayer: null, villageLayer: null, sent: 0, viewChosen: false, route: null };

  // ---------------------------------------------------------------- queue (localStorage survives reloads)
  function readQueue() {
    try { return JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]"); } catch (e) { return []; }
  }
  function writeQueue(q) {
    localStorage.setItem(QUEUE_KEY, JSON.stringify(q));
    document.getElementById("pf-queue").textContent = String(q.length);
  }
  function enqueue(entry) {
    var q = readQueue();
    q.push(entry);
    writeQueue(q);
  }
  function removeFromQueue(id) {
    writeQueue(readQueue().filter(function (e) { return e.body.id !== id; }));
  }
  function rememberSent(id) {
    var done = [];
    try { done = JSON.parse(localStorage.getItem(DONE_KEY) || "[]"); } catch (e) { done = []; }
    done.push(id);
    localStorage.setItem(DONE_KEY, JSON.stringify(done.slice(-200)));
  }

  function isOnline() { return navigator.onLine !== false; }

  function showNet() {
    var el = document.getElementById("pf-net");
    var on = isOnline();
    el.textContent = t(on ? "online" : "offline");
    el.classList.toggle("offline", !on);
    document.body.dataset.online = on ? "true" : "false";
  }

  function say(text, isError) {
    var el = document.getElementById("pf-msg");
    el.textContent = text;
    el.classList.toggle("sm-error", !!isError);
  }

  // Send the queue in order; stop at the first network failure (still offline) and keep the rest.
  function flush() {
    if (state.flushing || !isOnline()) { return Promise.resolve(); }
    var q = readQueue();
    if (!q.length) { return Promise.resolve(); }
    state.flushing = true;
    document.body.dataset.flushing = "true";
    var i = 0;
    function next() {
      var q2 = readQueue();
      if (i >= q2.length) { return Promise.resolve(); }
      var entry = q2[i];
      return S.api("POST", entry.url, entry.body).then(function (stored) {
        removeFromQueue(entry.body.id);
        rememberSent(entry.body.id);
        state.sent += 1;
        // The incident number is what the officer quotes on the radio.
        var what = entry.kind === "visit" ? t("checked_in") : t("new_incident") +
          (stored && stored.number ? " " + t("number_short") + " " + stored.number : "");
        say(t("sent") + " (" + what + ")");
        if (entry.kind === "visit") { state.visited = true; }
        return next();
      }, function (err) {
        if (err.status === 0 || err.status >= 500 || err.status === 401 || err.status === 403 && !state.user) {
          if (err.status === 401) { showSignin(true); say(t("sign_in_needed"), true); }
          return null;  // keep it queued; try again later
        }
        // The server refused this entry for good (invalid, or the UUID is taken by another body): drop it.
        removeFromQueue(entry.body.id);
        say(t("rejected") + ": " + err.message, true);
        return next();
      });
    }
    return next().then(function () {
      state.flushing = false;
      document.body.dataset.flushing = "false";
      writeQueue(readQueue());
      // A check-in changes the route's status: read it again.
      if (state.visited) { state.visited = false; loadRoute(); }
    });
  }

  // ---------------------------------------------------------------- position
  function setPosition(lat, lon, accuracy, how) {
    state.pos = { lat: lat, lon: lon, accuracy: accuracy, how: how };
    var ll = L.latLng(lat, lon);
    if (state.marker) { state.marker.setLatLng(ll); } else {
      state.marker = L.circleMarker(ll, { radius: 7, color: "#8b0000", fillColor: "#ff3b30", fillOpacity: 0.9 })
        .addTo(state.map);
    }
    if (state.circle) { state.map.removeLayer(state.circle); }
    if (accuracy) {
      state.circle = L.circle(ll, { radius: accuracy, color: "#8b0000", weight: 1, fillOpacity: 0.08,
        interactive: false }).addTo(state.map);
    }
    var text = lat.toFixed(5) + ", " + lon.toFixed(5) + (accuracy ? " ±" + Math.round(accuracy) + " m" : "");
    document.getElementById("pf-pos").textContent = text;
    document.getElementById("pf-pos").removeAttribute("data-i18n");
    renderPoints();
  }

  function useGps() {
    var el = document.getElementById("pf-pos");
    if (!navigator.geolocation) { el.textContent = t("gps_failed"); return; }
    el.textContent = t("gps_waiting");
    navigator.geolocation.getCurrentPosition(function (p) {
      setPosition(p.coords.latitude, p.coords.longitude, p.coords.accuracy, "gps");
      state.viewChosen = true;
      state.map.setView([p.coords.latitude, p.coords.longitude], Math.max(state.map.getZoom(), 14));
    }, function () { el.textContent = t("gps_failed"); },
    { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }

  // A tap is as precise as a fingertip (~20 px) at the current zoom.
  function tapAccuracy(latlng) {
    var mpp = 40075016.686 * Math.abs(Math.cos(latlng.lat * Math.PI / 180)) / Math.pow(2, state.map.getZoom() + 8);
    return Math.max(1, Math.round(mpp * 20));
  }

  // ---------------------------------------------------------------- the report form
  function fillSelect(id, vocab) {
    var sel = document.getElementById(id);
    var current = sel.value;
    sel.innerHTML = "";
    Object.keys(S.config.i18n.vocab[vocab]).forEach(function (code) {
      var o = document.createElement("option");
      o.value = code;
      o.textContent = S.vocabLabel(vocab, code);
      sel.appendChild(o);
    });
    if (current) { sel.value = current; }
  }

  function nowLocalInput() { return S.isoInZone(new Date()).slice(0, 16); }

  function submitReport(ev) {
    ev.preventDefault();
    if (!state.pos) { say(t("no_position") + " — " + t("tap_map"), true); return; }
    var time = document.getElementById("pf-time").value || nowLocalInput();
    var body = {
      id: S.uuid4(),
      category: document.getElementById("pf-category").value,
      severity: document.getElementById("pf-severity").value,
      occurred_at: time.length === 16 ? time + ":00+07:00" : time + "+07:00",
      lon: +state.pos.lon.toFixed(7), lat: +state.pos.lat.toFixed(7),
      accuracy_m: state.pos.accuracy === null || state.pos.accuracy === undefined ? null :
        Math.round(state.pos.accuracy * 10) / 10,
      description: document.getElementById("pf-desc").value || null
    };
    enqueue({ kind: "incident", url: "/incidents", body: body, queued_at: new Date().toISOString() });
    document.getElementById("pf-desc").value = "";
    document.getElementById("pf-time").value = nowLocalInput();
    say(isOnline() ? t("send") + "…" : t("queued"));
    document.body.dataset.lastReport = body.id;
    flush();
  }

  // ---------------------------------------------------------------- patrol points and check-in
  function distanceM(a, b) {
    var r = 6371008.8, toRad = Math.PI / 180;
    var dLat = (b.lat - a.lat) * toRad, dLon = (b.lon - a.lon) * toRad;
    var h = Math.sin(dLat / 2) * Math.sin(dLat / 2) +
      Math.cos(a.lat * toRad) * Math.cos(b.lat * toRad) * Math.sin(dLon / 2) * Math.sin(dLon / 2);
    return 2 * r * Math.asin(Math.sqrt(h));
  }

  function renderPoints() {
    var list = document.getElementById("pf-points");
    list.innerHTML = "";
    if (!state.points) { return; }
    var here = state.pos;
    var items = state.points.features.map(function (f) {
      var c = f.geometry.coordinates;
      return { f: f, d: here ? distanceM(here, { lat: c[1], lon: c[0] }) : null };
    });
    if (here) { items.sort(function (a, b) { return a.d - b.d; }); }
    items.slice(0, 8).forEach(function (it) {
      var p = it.f.properties || {};
      var li = document.createElement("li");
      var id = it.f.id !== undefined ? it.f.id : p.id;
      li.dataset.id = id;
      var text = document.createElement("span");
      text.textContent = (p.name || id) + (p.kind ? " · " + S.vocabLabel("patrol_point_kinds", p.kind) : "") +
        (it.d !== null ? " · " + (it.d < 1000 ? Math.round(it.d) + " m" : (it.d / 1000).toFixed(1) + " km") : "");
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = t("check_in");
      btn.addEventListener("click", function () { checkIn(id); });
      li.appendChild(text);
      li.appendChild(btn);
      list.appendChild(li);
    });
  }

  function checkIn(pointId) {
    if (!state.pos) { say(t("no_position"), true); useGps(); return; }
    var body = { id: S.uuid4(), lon: state.pos.lon, lat: state.pos.lat, accuracy_m: state.pos.accuracy };
    enqueue({ kind: "visit", url: "/patrol-points/" + encodeURIComponent(pointId) + "/visits", body: body,
      queued_at: new Date().toISOString() });
    say(isOnline() ? t("check_in") + "…" : t("queued"));
    flush();
  }

  // ---------------------------------------------------------------- my route today (GET /me/patrol-route)
  function routeStatus(status) {
    return t({ overdue: "route_overdue", due: "route_due_today", done: "route_done" }[status] || "route_done");
  }

  function renderRoute() {
    var card = document.getElementById("pf-route-card");
    var list = document.getElementById("pf-route");
    var r = state.route;
    card.hidden = !r;
    list.innerHTML = "";
    if (!r) { return; }
    document.getElementById("pf-route-team").textContent = r.team ? t("route_team") + ": " + r.team.name : "";
    if (!r.items.length) {
      var none = document.createElement("li");
      none.className = "pf-route-empty";
      none.textContent = t("route_empty");
      list.appendChild(none);
    }
    r.items.forEach(function (it) {
      var li = document.createElement("li");
      li.dataset.id = it.patrol_point_id;
      li.dataset.status = it.status;
      li.className = "pf-route-" + it.status;
      var text = document.createElement("span");
      var rhythm = it.shifts ? it.shifts.map(function (c) { return S.vocabLabel("patrol_shifts", c); }).join(", ")
        : t("route_every").replace("{n}", it.every_hours);
      text.textContent = it.name + " · " + rhythm + " · " + routeStatus(it.status) + " · " + t("route_due") + " " +
        (it.due_at ? S.fmtDateTime(it.due_at) : "—") + " · " + t("route_last") + " " +
        (it.last_visit_at ? S.fmtDateTime(it.last_visit_at) : t("route_never"));
      li.appendChild(text);
      if (it.windows && it.windows.length) {
        var w = document.createElement("small");
        w.className = "pf-route-windows";
        w.style.display = "block";
        w.textContent = it.windows.map(function (x) {
          // The shift's label carries its hours; the start's day tells last night's shift from tonight's.
          return S.vocabLabel("patrol_shifts", x.shift) + " " + S.fmtDateTime(x.starts_at, false).slice(0, 5) +
            ": " + t("window_" + x.status);
        }).join(" · ");
        li.appendChild(w);
      }
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = t("check_in");
      btn.addEventListener("click", function () { checkIn(it.patrol_point_id); });
      li.appendChild(btn);
      list.appendChild(li);
    });
  }

  // Roles without a route (planners) are refused: the card stays hidden.
  function loadRoute() {
    if (!state.user) { state.route = null; renderRoute(); return Promise.resolve(); }
    return S.api("GET", "/me/patrol-route").then(function (r) {
      state.route = r;
      renderRoute();
      document.body.dataset.routeLoaded = "true";
    }, function () { state.route = null; renderRoute(); });
  }

  function fitUnlessChosen(bounds) {
    if (!state.viewChosen) { state.map.fitBounds(bounds); }
  }

  // The officer's communes, their villages and patrol points: fetched through the service worker, which
  // keeps the last answer for when the phone is offline.
  function loadArea() {
    var codes = (state.user && (state.user.communes || [])) || [];
    var unitUrl = "/collections/communes/items?f=geojson&limit=500";
    return S.api("GET", unitUrl).then(function (fc) {
      var mine = fc.features.filter(function (f) {
        var p = f.properties || {};
        return !codes.length || codes.indexOf(p.code) >= 0;
      });
      var area = { type: "FeatureCollection", features: mine };
      if (state.unitLayer) { state.map.removeLayer(state.unitLayer); }
      state.unitLayer = L.geoJSON(area, { style: { color: "#444", weight: 2, fill: false }, interactive: false })
        .addTo(state.map);
      if (!mine.length) { return null; }
      var b = state.unitLayer.getBounds();
      fitUnlessChosen(b);
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (x) { return x.toFixed(4); });
      var q = "?f=geojson&limit=5000&bbox=" + bbox.join(",");
      return Promise.all([
        S.api("GET", "/collections/villages/items" + q).catch(function () { return null; }),
        S.api("GET", "/collections/patrol-points/items" + q).catch(function () { return null; })
      ]).then(function (res) {
        if (res[0]) {
          if (state.villageLayer) { state.map.removeLayer(state.villageLayer); }
          state.villageLayer = L.geoJSON(res[0], {
            pointToLayer: function (f, ll) {
              return L.circleMarker(ll, { radius: 3, color: "#2c7a2c", weight: 1, fillOpacity: 0.7 });
            },
            onEachFeature: function (f, l) { l.bindTooltip((f.properties || {}).name || ""); }
          }).addTo(state.map);
        }
        if (res[1]) {
          state.points = res[1];
          if (state.pointLayer) { state.map.removeLayer(state.pointLayer); }
          state.pointLayer = L.geoJSON(res[1], {
            pointToLayer: function (f, ll) {
              return L.circleMarker(ll, { radius: 5, color: "#1f4fb4", fillColor: "#6fa0ff", fillOpacity: 0.9 });
            },
            onEachFeature: function (f, l) { l.bindTooltip((f.properties || {}).name || ""); }
          }).addTo(state.map);
          renderPoints();
        }
        document.body.dataset.areaCached = "true";
      });
    }).catch(function () { return null; });
  }

  // ---------------------------------------------------------------- sign-in
  function showSignin(show) {
    document.getElementById("pf-signin").hidden = !show;
  }

  function showUser(user) {
    state.user = user;
    document.getElementById("pf-user").textContent = user ? user.username : "";
    document.body.dataset.user = user ? user.username : "";
    showSignin(!user);
  }

  function wireSignin() {
    var form = document.getElementById("pf-signin");
    var err = document.getElementById("pf-signin-error");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      err.hidden = true;
      S.login(form.username.value, form.password.value).then(function () { return S.me(); }).then(function (u) {
        form.reset();
        showUser(u);
        loadArea();
        loadRoute();
        flush();
      }).catch(function (e) {
        err.textContent = e.status && e.status < 500 ? t("login_failed") : e.message;
        err.hidden = false;
      });
    });
  }

  function init(map) {
    state.map = map;
    // Explicit zoom limits: without them Leaflet lets each tile layer's zoom range move the map's zoom.
    map.setMinZoom(3);
    map.setMaxZoom(19);
    if (S.config.basemap) { L.tileLayer(S.config.basemap, { maxZoom: 19 }).addTo(map); }
    S.applyI18n();
    fillSelect("pf-category", "incident_categories");
    fillSelect("pf-severity", "incident_severities");
    document.getElementById("pf-time").value = nowLocalInput();
    document.getElementById("pf-lang").addEventListener("click", function () {
      S.setLang(S.lang() === "vi" ? "en" : "vi");
    });
    S.onLang(function () {
      fillSelect("pf-category", "incident_categories");
      fillSelect("pf-severity", "incident_severities");
      showNet();
      renderPoints();
      renderRoute();
    });
    document.getElementById("pf-gps").addEventListener("click", useGps);
    // Once the officer has moved the map (or the GPS centred it), a late answer never moves it again.
    ["pointerdown", "mousedown", "touchstart", "wheel"].forEach(function (type) {
      map.getContainer().addEventListener(type, function () { state.viewChosen = true; }, { passive: true });
    });
    map.on("click", function (e) { setPosition(e.latlng.lat, e.latlng.lng, tapAccuracy(e.latlng), "tap"); });
    document.getElementById("pf-form").addEventListener("submit", submitReport);
    wireSignin();
    window.addEventListener("online", function () { showNet(); flush(); });
    window.addEventListener("offline", showNet);
    setInterval(flush, RETRY_MS);
    showNet();
    writeQueue(readQueue());
    S.api("GET", "/web/extent").then(function (e) {
      if (e && e.bbox && !state.unitLayer) { fitUnlessChosen([[e.bbox[1], e.bbox[0]], [e.bbox[3], e.bbox[2]]]); }
    }).catch(function () { return null; });
    S.me().then(function (u) {
      showUser(u);
      if (u) { loadArea(); loadRoute(); }
      flush();
    });
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/web/sw.js", { scope: "/web/m" }).catch(function () { return null; });
    }
  }

  window.SitmapPhone = { init: init, state: state, flush: flush, readQueue: readQueue, setPosition: setPosition,
    loadRoute: loadRoute };
})();
