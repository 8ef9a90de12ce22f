/* The commanders' map: layers and legend from /layers, live events from /live, time filter, unit search,
 * popups, coordinates in WGS84 and VN-2000. Exposes window.SitmapMap for the page and the browser tests. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;

  // No vocabulary tables here: /layers names each property's vocabulary and the page's config holds the
  // labels of every vocabulary (web/i18n.py), so popups, legends and feeds say what the server says.
  // The event kinds of /live (api/routers/live.py).
  var LIVE_KINDS = ["incident_created", "incident_updated", "alert", "patrol_visit", "station_status", "designation",
    "closure", "message"];
  var PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f"];

  var state = {
    map: null, layers: [], byId: {}, on: {}, leaflet: {}, loaded: {}, user: null, es: null,
    range: "30d", custom: null, liveGroup: null, liveMarkers: {}, events: [], lastEventId: null,
    errors: []
  };

  // ---------------------------------------------------------------- registry fields (tolerant reading)
  function layerTitle(l) { return S.pick(l.title || l.titles || { vi: l.title_vi, en: l.title_en }) || l.id; }
  function renderMode(l) { return (l.render || l.render_as || "geojson").toLowerCase(); }
  function timeField(l) { return l.time_field || l.timeField || (l.time && l.time.field) || null; }
  function urls(l) { return l.urls || l.links || {}; }
  function linkHref(v) { return v && typeof v === "object" ? v.href : v; }
  function itemsUrl(l) { return linkHref(urls(l).items) || "/collections/" + l.id + "/items"; }
  function tilesUrl(l) {
    var u = linkHref(urls(l).tiles) || "/collections/" + l.id + "/tiles/WebMercatorQuad/{z}/{y}/{x}";
    return u.replace("{tileMatrix}", "{z}").replace("{tileRow}", "{y}").replace("{tileCol}", "{x}");
  }
  function zoomRange(l) {
    var z = l.zoom || {};
    return {
      min: firstNum(l.minzoom, l.min_zoom, z.min, z.minzoom, 0),
      max: firstNum(l.maxzoom, l.max_zoom, z.max, z.maxzoom, 22)
    };
  }
  function firstNum() {
    for (var i = 0; i < arguments.length; i++) {
      if (typeof arguments[i] === "number") { return arguments[i]; }
    }
    return undefined;
  }
  function styleSpec(l) { return l.style || {}; }
  function styleProperty(l) {
    var s = styleSpec(l);
    return s.property || s.by || s.field || null;
  }
  function styleColors(l) {
    var s = styleSpec(l);
    var c = s.colors || s.categories || s.values || s.match || null;
    if (Array.isArray(c)) {
      var o = {};
      c.forEach(function (e) { o[e.value || e.code] = e.color; });
      return o;
    }
    return c;
  }
  function baseColor(l) {
    var s = styleSpec(l);
    if (s.color) { return s.color; }
    return PALETTE[state.layers.indexOf(l) % PALETTE.length];
  }
  function geomType(l) { return (l.geometry_type || l.geometryType || l.geometry || "").toLowerCase(); }
  function isDefaultOn(l) {
    if (typeof l.visible === "boolean") { return l.visible; }
    if (typeof l.default_visible === "boolean") { return l.default_visible; }
    return ["communes", "stations", "incidents"].indexOf(l.id) >= 0;
  }

  function colorFor(l, props) {
    var prop = styleProperty(l), colors = styleColors(l);
    if (prop && colors && props && colors[props[prop]] !== undefined) { return colors[props[prop]]; }
    return baseColor(l);
  }

  function pathStyle(l, props) {
    var s = styleSpec(l), color = colorFor(l, props), g = geomType(l);
    var polygon = g.indexOf("polygon") >= 0;
    var point = g.indexOf("point") >= 0;
    return {
      color: polygon ? (s.stroke || s.line_color || color) : color,
      weight: firstNum(s.weight, s.width, s.line_width, polygon ? 1.5 : 2),
      opacity: firstNum(s.opacity, 0.9),
      fill: polygon || point,
      fillColor: s.fill || s.fill_color || color,
      fillOpacity: firstNum(s.fill_opacity, s.fillOpacity, polygon ? 0.08 : 0.8),
      radius: firstNum(s.radius, 5)
    };
  }

  // ---------------------------------------------------------------- popups
  function declaredProp(l, key) {
    return ((l && l.properties) || []).filter(function (p) { return p.name === key; })[0];
  }

  function valueLabel(layerId, key, value) {
    if (value === null || value === undefined || value === "") { return ""; }
    var declared = declaredProp(state.byId[layerId], key);
    if (declared && declared.vocabulary) { return S.vocabLabel(declared.vocabulary, value); }
    if (typeof value === "number" && declared && declared.type === "datetime") {  // tiles: seconds since 1970
      return S.fmtDateTime(new Date(value * 1000));
    }
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) { return S.fmtDateTime(value); }
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
      return value.slice(8, 10) + "/" + value.slice(5, 7) + "/" + value.slice(0, 4);
    }
    if (Array.isArray(value)) { return value.join(", "); }
    if (typeof value === "object") { return JSON.stringify(value); }
    return String(value);
  }

  function keyLabel(l, key) {
    var declared = declaredProp(l, key);
    if (declared && declared.title) { return S.pick(declared.title); }
    var label = t(key);
    return label === key ? key.replace(/_/g, " ") : label;
  }

  // `full`: the properties come from the feature itself (as the user's role may see it), not from a tile.
  function popupHtml(l, props, full) {
    props = props || {};
    var title = props.name || (props.category ? valueLabel(l ? l.id : "", "category", props.category) : "");
    var rows = Object.keys(props).filter(function (k) {
      if (k === "unit_id" && props.unit_name) { return false; }  // the commune's name says it to a person
      return k !== "name" && props[k] !== null && props[k] !== "" && k.charAt(0) !== "_";
    }).map(function (k) {
      return "<tr><th>" + S.escapeHtml(keyLabel(l, k)) + "</th><td>" +
        S.escapeHtml(valueLabel(l ? l.id : "", k, props[k])) + "</td></tr>";
    }).join("");
    // A commune's key-area designations and why (designations.js fills it once the popup is open).
    var extra = window.SitmapDesignations && l ? SitmapDesignations.placeholder(l.id, props) : "";
    return "<div class=\"sm-popup\" data-layer=\"" + S.escapeHtml(l ? l.id : "") + "\" data-full=\"" +
      (full ? "true" : "false") + "\"><h4>" +
      S.escapeHtml(l ? layerTitle(l) : "") + (title ? " — " + S.escapeHtml(title) : "") + "</h4><table>" + rows +
      "</table>" + extra + "</div>";
  }

  // Where the whole feature is: by its id (live events, layers with integer ids, whose tile feature id is
  // kept as `_fid`), or by the property a layer's tiles use as feature id (an incident's number).
  function featureUrl(l, props) {
    var byId = props.id !== undefined && props.id !== null ? props.id : props._fid;
    if (byId !== undefined && byId !== null) {
      return withParams(itemsUrl(l) + "/" + encodeURIComponent(byId), { f: "geojson" });
    }
    var key = l && l.tile_feature_id;
    if (key && props[key] !== undefined && props[key] !== null) {
      var params = { f: "geojson", limit: 1 };
      params[key] = props[key];
      return withParams(itemsUrl(l), params);
    }
    return null;
  }

  // Tiles and live events carry a short public form of a feature (no long text, no personal details). An
  // open popup then asks for the feature itself, which holds what this user's role may see: a commander gets
  // an incident's description, a planner does not (the server leaves it out).
  function completePopup(popup, l, props) {
    var declared = (l && l.properties) || [];
    var missing = declared.some(function (p) { return !(p.name in props); });
    var url = featureUrl(l, props || {});
    if (!url || !missing) {
      popup.setContent(popupHtml(l, props, true));
      return;
    }
    S.api("GET", url).then(function (f) {
      if (f && f.features) { f = f.features[0]; }  // found by a property: a collection of one
      if (!popup.isOpen()) { return; }
      popup.setContent(popupHtml(l, Object.assign({}, props, (f && f.properties) || {}), true));
    }).catch(function () { return null; });  // keep the short form (e.g. offline)
  }

  // ---------------------------------------------------------------- time filter
  function interval() {
    var now = new Date(), start = null, end = null;
    var hours = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 }[state.range];
    if (hours) {
      start = new Date(now.getTime() - hours * 3600 * 1000);
    } else if (state.range === "custom" && state.custom) {
      start = state.custom.from ? new Date(state.custom.from + "T00:00:00+07:00") : null;
      end = state.custom.to ? new Date(state.custom.to + "T23:59:59+07:00") : null;
    }
    if (!start && !end) { return null; }
    return (start ? start.toISOString() : "..") + "/" + (end ? end.toISOString() : "..");
  }

  function withParams(url, params) {
    var u = new URL(url, location.origin);
    Object.keys(params).forEach(function (k) { if (params[k] !== null) { u.searchParams.set(k, params[k]); } });
    return u.pathname + u.search;
  }

  // ---------------------------------------------------------------- building layers
  function buildTiles(l) {
    var z = zoomRange(l), params = {};
    var dt = timeField(l) ? interval() : null;
    if (dt) { params.datetime = dt; }
    var url = withParams(tilesUrl(l).replace("{z}", "__Z__").replace("{x}", "__X__").replace("{y}", "__Y__"),
      params).replace("__Z__", "{z}").replace("__X__", "{x}").replace("__Y__", "{y}");
    var styles = {};
    styles[l.tile_layer || l.id] = function (props) { return pathStyle(l, props); };
    var vg = L.vectorGrid.protobuf(url, {
      rendererFactory: L.canvas.tile, vectorTileLayerStyles: styles, interactive: true,
      maxNativeZoom: Math.min(z.max, 22), minZoom: z.min, maxZoom: 22, pane: paneFor(l),
      fetchOptions: { credentials: "same-origin" },
      // The MVT feature id is the layer's integer id, or the property it names (an incident's number).
      getFeatureId: function (f) {
        var props = f.properties || (f.properties = {});
        if (f.id !== undefined && f.id !== null) { props[l.tile_feature_id || "_fid"] = f.id; }
        return f.id !== undefined && f.id !== null ? f.id : props.id;
      }
    });
    vg.on("click", function (e) {
      var props = (e.layer && e.layer.properties) || {};
      var popup = L.popup().setLatLng(e.latlng).setContent(popupHtml(l, props)).openOn(state.map);
      completePopup(popup, l, props);
    });
    vg.on("tileerror", function () { noteError(l); });
    vg.on("load", function () { state.loaded[l.id] = true; markLoaded(l.id); });
    return vg;
  }

  function paneFor(l) {
    var g = geomType(l);
    return g.indexOf("point") >= 0 ? "markerPane" : g.indexOf("line") >= 0 ? "sm-lines" : "sm-polygons";
  }

  function buildGeojson(l) {
    var group = L.geoJSON(null, {
      pane: paneFor(l),
      style: function (f) { return pathStyle(l, f.properties); },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, Object.assign(pathStyle(l, f.properties), { pane: "markerPane" }));
      },
      onEachFeature: function (f, lyr) {
        lyr.bindPopup(function () { return popupHtml(l, f.properties, true); });
      }
    });
    group.sitmapReload = function () { return loadGeojson(l, group); };
    return group;
  }

  function loadGeojson(l, group) {
    var params = { f: "geojson", limit: 10000 };
    var dt = timeField(l) ? interval() : null;
    if (dt) { params.datetime = dt; }
    var url = withParams(itemsUrl(l), params);
    var pages = 0;
    group.clearLayers();
    function page(u) {
      return S.api("GET", u).then(function (fc) {
        group.addData(fc);
        pages += 1;
        var next = (fc.links || []).filter(function (k) { return k.rel === "next"; })[0];
        if (next && pages < 20) { return page(next.href); }
        state.loaded[l.id] = true;
        markLoaded(l.id);
        return fc;
      });
    }
    return page(url).catch(function () { noteError(l); });
  }

  function noteError(l) {
    state.errors.push(l.id);
    S.toast(t("load_error") + ": " + layerTitle(l), true);
  }

  function markLoaded(id) {
    var box = document.querySelector("#sm-layers input[data-layer=\"" + id + "\"]");
    if (box) { box.parentNode.dataset.loaded = "true"; }
  }

  function create(l) {
    var lyr = renderMode(l) === "tiles" ? buildTiles(l) : buildGeojson(l);
    state.leaflet[l.id] = lyr;
    return lyr;
  }

  function setOn(id, on) {
    var l = state.byId[id];
    if (!l) { return; }
    state.on[id] = on;
    var lyr = state.leaflet[id];
    if (on) {
      if (!lyr) { lyr = create(l); }
      lyr.addTo(state.map);
      if (lyr.sitmapReload && !state.loaded[id]) { lyr.sitmapReload(); }
    } else if (lyr) {
      state.map.removeLayer(lyr);
    }
    var box = document.querySelector("#sm-layers input[data-layer=\"" + id + "\"]");
    if (box) { box.checked = on; }
    renderLegend();
  }

  // Rebuild the layers that depend on time (after the filter changed).
  function refreshTimed() {
    state.layers.forEach(function (l) {
      if (!timeField(l)) { return; }
      var wasOn = state.on[l.id], old = state.leaflet[l.id];
      if (old) { state.map.removeLayer(old); }
      delete state.leaflet[l.id];
      state.loaded[l.id] = false;
      if (wasOn) { setOn(l.id, true); }
    });
  }

  // ---------------------------------------------------------------- switcher and legend
  function shapeOf(l) {
    var g = geomType(l);
    return g.indexOf("point") >= 0 ? "point" : g.indexOf("line") >= 0 ? "line" : "polygon";
  }

  // A categorised layer shows its first categories' colours (legend order, i.e. the vocabulary's), any
  // other layer its one colour.
  function swatchColors(l) {
    var entries = legendEntries(l);
    if (styleProperty(l) && entries.length > 1) {
      return entries.slice(0, 3).map(function (e) { return e.color; });
    }
    return [baseColor(l)];
  }

  function withAlpha(color, alpha) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color || "");
    if (!m) { return color; }
    return "rgba(" + [m[1], m[2], m[3]].map(function (h) { return parseInt(h, 16); }).join(", ") + ", " +
      alpha + ")";
  }

  // Drawn as the map draws the layer: a dot for points, a stroke for lines, an outlined area for polygons.
  function paintSwatch(el, l, colors) {
    var shape = shapeOf(l), s = styleSpec(l);
    el.className = "sm-swatch sm-swatch-" + shape;
    el.dataset.shape = shape;
    var bands = colors.length > 1 ? "linear-gradient(90deg, " + colors.map(function (c, i) {
      return c + " " + Math.round(100 * i / colors.length) + "% " + Math.round(100 * (i + 1) / colors.length) + "%";
    }).join(", ") + ")" : null;
    if (shape === "polygon") {
      var opacity = firstNum(s.fill_opacity, 0.25);
      el.style.borderColor = colors[0];
      el.style.borderWidth = Math.max(1, Math.min(3, firstNum(s.width, 2))) + "px";
      el.style.background = bands || withAlpha(colors[0], opacity > 0 ? Math.max(opacity, 0.25) : 0);
    } else {
      el.style.background = bands || colors[0];
    }
  }

  function renderSwitcher() {
    var box = document.getElementById("sm-layers");
    box.innerHTML = "";
    state.layers.forEach(function (l) {
      var label = document.createElement("label");
      label.className = "sm-layer";
      var input = document.createElement("input");
      input.type = "checkbox";
      input.dataset.layer = l.id;
      input.checked = !!state.on[l.id];
      input.addEventListener("change", function () { setOn(l.id, input.checked); });
      var swatch = document.createElement("span");
      paintSwatch(swatch, l, swatchColors(l));
      var text = document.createElement("span");
      text.textContent = layerTitle(l);
      text.title = S.pick(l.description) || "";
      label.appendChild(input);
      label.appendChild(swatch);
      label.appendChild(text);
      box.appendChild(label);
    });
  }

  function legendEntries(l) {
    var entries = l.legend || styleSpec(l).legend;
    if (Array.isArray(entries) && entries.length) {
      return entries.map(function (e) {
        var label = e.label || e.title || { vi: e.label_vi || e.vi, en: e.label_en || e.en };
        if (!S.pick(label) && e.value !== undefined) {
          label = valueLabel(l.id, styleProperty(l) || "", e.value);
        }
        return { label: S.pick(label), color: e.color || e.fill || baseColor(l) };
      });
    }
    var colors = styleColors(l), prop = styleProperty(l);
    if (colors && prop) {
      return Object.keys(colors).map(function (code) {
        return { label: valueLabel(l.id, prop, code), color: colors[code] };
      });
    }
    return [{ label: layerTitle(l), color: baseColor(l) }];
  }

  function renderLegend() {
    var box = document.getElementById("sm-legend");
    box.innerHTML = "";
    state.layers.filter(function (l) { return state.on[l.id]; }).forEach(function (l) {
      var sec = document.createElement("div");
      sec.className = "sm-legend-layer";
      sec.dataset.layer = l.id;
      var h = document.createElement("strong");
      h.textContent = layerTitle(l);
      sec.appendChild(h);
      legendEntries(l).forEach(function (e) {
        var row = document.createElement("div");
        row.className = "sm-legend-row";
        row.innerHTML = "<span class=\"sm-swatch\"></span><span></span>";
        paintSwatch(row.firstChild, l, [e.color]);
        row.lastChild.textContent = e.label;
        sec.appendChild(row);
      });
      box.appendChild(sec);
    });
  }

  function loadRegistry() {
    return S.api("GET", "/layers").then(function (data) {
      var list = Array.isArray(data) ? data : (data && (data.layers || data.items)) || [];
      // Keep the user's current choices when the registry is reloaded (after sign-in or sign-out).
      Object.keys(state.leaflet).forEach(function (id) { state.map.removeLayer(state.leaflet[id]); });
      state.leaflet = {};
      state.loaded = {};
      var previous = state.on;
      state.on = {};
      state.layers = list;
      state.byId = {};
      list.forEach(function (l) { state.byId[l.id] = l; });
      renderSwitcher();
      list.forEach(function (l) {
        var on = previous[l.id] !== undefined ? previous[l.id] : isDefaultOn(l);
        if (on) { setOn(l.id, true); }
      });
      renderLegend();
      document.body.dataset.layersReady = "true";
      // Whose layer list is shown (the list after a sign-in differs from the anonymous one).
      document.body.dataset.layersFor = state.user ? state.user.username : "";
    }).catch(function (e) {
      S.toast(t("load_error") + " (/layers): " + e.message, true);
    });
  }

  // ---------------------------------------------------------------- live stream
  function startLive() {
    if (state.es) { state.es.close(); state.es = null; }
    // The stream is for signed-in users; anonymous visitors see the public layers as loaded.
    if (!window.EventSource || !state.user) { return; }
    // EventSource itself resends Last-Event-ID when it reconnects after a drop.
    // No layer filter: the server sends every live event this user may see (within their communes).
    var es = new EventSource("/live", { withCredentials: true });
    state.es = es;
    var indicator = document.getElementById("sm-live");
    es.onopen = function () {
      indicator.className = "sm-live on";
      indicator.dataset.i18n = "live_on";
      indicator.textContent = t("live_on");
    };
    es.onerror = function () {
      indicator.className = "sm-live off";
      indicator.dataset.i18n = "live_off";
      indicator.textContent = t("live_off");
    };
    var seen = {};
    LIVE_KINDS.forEach(function (kind) {
      es.addEventListener(kind, function (ev) {
        if (ev.lastEventId && seen[ev.lastEventId]) { return; }
        if (ev.lastEventId) { seen[ev.lastEventId] = true; state.lastEventId = ev.lastEventId; }
        var data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        onLiveEvent(kind, data);
      });
    });
  }

  function onLiveEvent(kind, data) {
    var f = data.feature || (data.geometry ? data : null);
    var layerId = data.layer || (f && f.properties && f.properties.layer) || "";
    var l = state.byId[layerId];
    state.events.push(data);
    if (f && f.geometry) {
      var id = (f.id !== undefined ? f.id : f.properties && f.properties.id) || S.uuid4();
      var group = state.leaflet[layerId];
      if (group && group.addData && state.on[layerId]) {
        // A GeoJSON layer: replace the feature if it is already shown.
        group.eachLayer(function (lyr) {
          var fid = lyr.feature && (lyr.feature.id !== undefined ? lyr.feature.id : lyr.feature.properties.id);
          if (fid === id) { group.removeLayer(lyr); }
        });
        group.addData(f);
      }
      // Always flag the change on top of whatever layer shows it (tiles redraw only on the next load).
      if (state.liveMarkers[id]) { state.liveGroup.removeLayer(state.liveMarkers[id]); }
      var ll = L.geoJSON(f).getBounds().getCenter();
      var color = l ? colorFor(l, f.properties) : "#d62728";
      var marker = L.circleMarker(ll, { radius: 9, color: "#000", weight: 2, fillColor: color, fillOpacity: 0.9,
        className: "sm-live-marker" });
      marker.bindPopup(function () { return popupHtml(l, f.properties); });
      if (l) {
        marker.on("popupopen", function (ev) {
          completePopup(ev.popup, l, Object.assign({ id: id }, f.properties));
        });
      }
      marker.addTo(state.liveGroup);
      state.liveMarkers[id] = marker;
      addFeed(kind, data, f, id, ll);
    }
  }

  function addFeed(kind, data, f, id, ll) {
    var list = document.getElementById("sm-feed");
    if (!list) { return; }
    var p = f.properties || {};
    // An alert repeats an incident already listed: mark that line instead of adding another.
    var li = list.querySelector("li[data-id=\"" + String(id).replace(/"/g, "") + "\"]") ||
      document.createElement("li");
    if (kind === "alert") { li.classList.add("sm-alert"); }
    li.dataset.id = id;
    li.dataset.layer = data.layer || "";
    var what = data.layer === "incidents" ? t("new_incident") : data.layer === "key-areas" ? t("designation_change") :
      data.layer === "patrol-points" || /visit|check/.test(kind) ? t("checkin") : t("status_change");
    var label = p.category ? valueLabel(data.layer || "", "category", p.category) : p.name || "";
    li.textContent = S.fmtDateTime(data.at || new Date()) + " · " + what + (label ? ": " + label : "");
    li.onclick = function () { state.map.setView(ll, Math.max(state.map.getZoom(), 13)); };
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 30) { list.removeChild(list.lastChild); }
  }

  // ---------------------------------------------------------------- sign-in
  function showUser(user) {
    state.user = user;
    var who = document.getElementById("sm-user");
    who.textContent = user ? user.username + " (" + S.vocabLabel("roles", user.role) + ")" : t("not_signed_in");
    document.getElementById("sm-signout").hidden = !user;
    document.getElementById("sm-signin-open").hidden = !!user;
    document.body.dataset.user = user ? user.username : "";
    if (window.SitmapCoverage) { SitmapCoverage.show(user); }
  }

  function wireSignin() {
    var form = document.getElementById("sm-signin");
    var err = document.getElementById("sm-signin-error");
    document.getElementById("sm-signin-open").addEventListener("click", function () { form.hidden = !form.hidden; });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      err.hidden = true;
      S.login(form.username.value, form.password.value).then(function () {
        form.hidden = true;
        form.reset();
        return S.me();
      }).then(function (user) {
        showUser(user);
        return loadRegistry();
      }).then(startLive).catch(function (e) {
        err.textContent = e.status === 401 || e.status === 400 || e.status === 422 ? t("login_failed") : e.message;
        err.hidden = false;
      });
    });
    document.getElementById("sm-signout").addEventListener("click", function () {
      S.logout().catch(function () { return null; }).then(function () {
        showUser(null);
        return loadRegistry();
      }).then(startLive);
    });
  }

  // ---------------------------------------------------------------- time filter
  function wireTime() {
    var custom = document.getElementById("sm-time-custom");
    document.querySelectorAll("input[name=sm-time]").forEach(function (r) {
      r.addEventListener("change", function () {
        state.range = r.value;
        custom.hidden = r.value !== "custom";
        if (r.value !== "custom") { refreshTimed(); }
      });
    });
    document.getElementById("sm-time-apply").addEventListener("click", function () {
      state.custom = { from: document.getElementById("sm-time-from").value,
                       to: document.getElementById("sm-time-to").value };
      refreshTimed();
    });
  }

  // ---------------------------------------------------------------- unit search
  var searchOutline = null;
  function wireSearch() {
    var input = document.getElementById("sm-search");
    var list = document.getElementById("sm-search-results");
    var timer = null, seq = 0;
    function run() {
      var q = input.value.trim();
      if (q.length < 2) { list.hidden = true; list.innerHTML = ""; return; }
      var mine = ++seq;
      S.api("GET", "/search/units?q=" + encodeURIComponent(q)).then(function (data) {
        if (mine !== seq) { return; }
        renderResults(data.items || []);
      }).catch(function (e) { S.toast(e.message, true); });
    }
    function renderResults(items) {
      list.innerHTML = "";
      if (!items.length) {
        var none = document.createElement("li");
        none.className = "sm-none";
        none.textContent = t("no_results");
        list.appendChild(none);
      }
      items.forEach(function (u) {
        var li = document.createElement("li");
        li.className = u.former ? "sm-result former" : "sm-result";
        li.dataset.code = u.code;
        li.dataset.era = u.era;
        var html = "<b>" + S.escapeHtml(u.name) + "</b> <small>" + S.escapeHtml(S.pick(u.kind_label)) +
          (u.parent ? ", " + S.escapeHtml(u.parent) : "") + "</small>";
        if (u.variant && u.variant !== u.name) {
          html += "<br><small>" + S.escapeHtml(t("variant")) + ": " + S.escapeHtml(u.variant) + "</small>";
        }
        if (u.former) {
          html += "<br><small class=\"sm-former\">" + S.escapeHtml(t("former_unit")) + " — " +
            S.escapeHtml(t("became")) + ": " +
            S.escapeHtml(u.became.map(function (b) { return b.name; }).join(", ") || "—") + "</small>";
        }
        li.innerHTML = html;
        li.addEventListener("click", function () {
          var b = u.bbox;
          state.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 13 });
          if (searchOutline) { state.map.removeLayer(searchOutline); }
          searchOutline = L.rectangle([[b[1], b[0]], [b[3], b[2]]], { color: "#ff00ff", weight: 2, fill: false,
            dashArray: "6 4", interactive: false }).addTo(state.map);
          list.hidden = true;
        });
        list.appendChild(li);
      });
      list.hidden = false;
    }
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 200); });
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") { clearTimeout(timer); run(); } });
    S.onLang(function () { if (!list.hidden) { run(); } });
  }

  // ---------------------------------------------------------------- coordinates
  function vn2000(lat, lon) {
    var defs = S.config.vn2000 || {};
    var zone = lon >= 108 ? "49" : "48";
    if (!window.proj4 || !defs[zone]) { return null; }
    var xy = proj4("EPSG:4326", defs[zone], [lon, lat]);
    return { zone: zone, e: xy[0], n: xy[1] };
  }

  function coordsText(ll) {
    var text = "WGS84 " + ll.lat.toFixed(5) + ", " + ll.lng.toFixed(5);
    var v = vn2000(ll.lat, ll.lng);
    if (v) { text += " · VN-2000 UTM " + v.zone + "N: X " + v.n.toFixed(0) + " Y " + v.e.toFixed(0); }
    return text;
  }

  function wireCoords() {
    var el = document.getElementById("sm-coords-text");
    state.map.on("mousemove", function (e) { el.textContent = coordsText(e.latlng); });
    state.map.on("click", function (e) { el.textContent = coordsText(e.latlng); });
  }

  // ---------------------------------------------------------------- start
  function init(map) {
    state.map = map;
    // Explicit zoom limits: without them Leaflet lets each tile layer's zoom range move the map's zoom.
    map.setMinZoom(3);
    map.setMaxZoom(19);
    map.createPane("sm-polygons").style.zIndex = 350;
    map.createPane("sm-lines").style.zIndex = 380;
    if (S.config.basemap) {
      L.tileLayer(S.config.basemap, { maxZoom: 19, pane: "tilePane" }).addTo(map);
    }
    state.liveGroup = L.layerGroup().addTo(map);
    if (window.SitmapDesignations) { SitmapDesignations.wire(map); }
    var side = document.getElementById("sm-side");
    var feedTitle = document.createElement("h3");
    feedTitle.dataset.i18n = "live_on";
    var feed = document.createElement("ul");
    feed.id = "sm-feed";
    side.appendChild(feedTitle);
    side.appendChild(feed);
    L.DomEvent.disableClickPropagation(side);
    L.DomEvent.disableScrollPropagation(side);
    S.applyI18n();
    document.getElementById("sm-lang").addEventListener("click", function () {
      S.setLang(S.lang() === "vi" ? "en" : "vi");
    });
    S.onLang(function () {
      renderSwitcher();
      renderLegend();
      showUser(state.user);
      map.closePopup();
    });
    wireSignin();
    wireTime();
    wireSearch();
    wireCoords();
    S.api("GET", "/web/extent").then(function (e) {
      if (e && e.bbox) { map.fitBounds([[e.bbox[1], e.bbox[0]], [e.bbox[3], e.bbox[2]]]); }
    }).catch(function () { return null; });
    S.me().then(function (user) {
      showUser(user);
      return loadRegistry();
    }).then(startLive);
  }

  window.SitmapMap = {
    init: init, state: state, setOn: setOn, coordsText: coordsText, popupHtml: popupHtml,
    isOn: function (id) { return !!(state.leaflet[id] && state.map.hasLayer(state.leaflet[id])); }
  };
})();
