/* The commune popup's key-area designations: why a commune is (or would be) designated, with the statistics
 * behind it (GET /units/{id}/designations; the basis read by geo/designation/basis.py). map.js puts a
 * placeholder into the popups of the communes and key-areas layers; this fills it whenever the popup's
 * content is set. Exposes window.SitmapDesignations. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;
  var LAYERS = { communes: "id", "key-areas": "unit_id" };

  function unitOf(layerId, props) {
    var key = LAYERS[layerId];
    if (!key || !props) { return null; }
    var id = props[key];
    if ((id === undefined || id === null) && key === "id") { id = props._fid; }
    return id === undefined || id === null ? null : id;
  }

  // Only for signed-in users (the route is not public): anonymous visitors see the commune as before.
  function placeholder(layerId, props) {
    var unit = unitOf(layerId, props);
    if (unit === null || !document.body.dataset.user) { return ""; }
    return placeholderOf(unit);
  }

  function esc(s) { return S.escapeHtml(s); }

  function fmtDate(d) {
    if (!d) { return ""; }
    var s = String(d);
    return /^\d{4}-\d{2}-\d{2}$/.test(s) ? s.slice(8, 10) + "/" + s.slice(5, 7) + "/" + s.slice(0, 4) : S.fmtDateTime(s);
  }

  function fmtValue(v) {
    if (v === null || v === undefined) { return "—"; }
    if (typeof v === "boolean") { return v ? "✓" : "✗"; }
    if (typeof v === "number") { return String(Math.round(v * 1000) / 1000); }
    return String(v);
  }

  function result(stat) {
    if (stat.met === true) { return "<span class=\"sm-met\">" + esc(t("met")) + "</span>"; }
    if (stat.met === false) { return "<span class=\"sm-not-met\">" + esc(t("not_met")) + "</span>"; }
    if (stat.reason) { return esc(t("not_evaluated") + ": " + stat.reason); }
    return "";
  }

  function statsTable(why) {
    var stats = why.statistics || [];
    if (!stats.length) { return ""; }
    var withThresholds = stats.some(function (s) { return s.threshold !== null && s.threshold !== undefined; });
    var withResults = stats.some(function (s) { return s.met !== null && s.met !== undefined || s.reason; });
    var head = "<tr><th>" + esc(t("statistic")) + "</th><th>" + esc(t("value")) + "</th>" +
      (withThresholds ? "<th>" + esc(t("threshold")) + "</th>" : "") +
      (withResults ? "<th>" + esc(t("result")) + "</th>" : "") + "</tr>";
    var rows = stats.map(function (s) {
      var threshold = s.threshold === null || s.threshold === undefined ? "" :
        (s.op ? s.op + " " : "") + fmtValue(s.threshold) + (s.quantile ? " (" + t("quantile") + " " + s.quantile + ")" : "");
      var def = (why.definitions || {})[s.name];
      return "<tr data-stat=\"" + esc(s.name) + "\"><td" + (def ? " title=\"" + esc(def) + "\"" : "") + "><code>" +
        esc(s.name) + "</code></td><td>" + esc(fmtValue(s.value)) + "</td>" +
        (withThresholds ? "<td>" + esc(threshold) + "</td>" : "") +
        (withResults ? "<td>" + result(s) + "</td>" : "") + "</tr>";
    }).join("");
    return "<table class=\"sm-dsg-stats\">" + head + rows + "</table>";
  }

  function who(label, name, at, reason) {
    if (!name && !at) { return ""; }
    return "<div class=\"sm-dsg-who\">" + esc(t(label)) + (at ? " " + esc(fmtDate(at)) : "") +
      (name ? " " + esc(t("by")) + " " + esc(name) : "") + (reason ? ": «" + esc(reason) + "»" : "") + "</div>";
  }

  function item(d) {
    var why = d.reason || {};
    var text = S.lang() === "vi" ? why.rule_text_vi || why.rule_text : why.rule_text || why.rule_text_vi;
    var parts = [
      "<div class=\"sm-dsg-head\"><b>" + esc(S.vocabLabel("designation_kinds", d.kind)) + "</b> — <span " +
        "class=\"sm-dsg-status\">" + esc(S.vocabLabel("designation_statuses", d.status)) + "</span>" +
        (d.in_force ? " <span class=\"sm-in-force\">(" + esc(t("in_force")) + ")</span>" : "") + "</div>",
      "<div class=\"sm-dsg-origin\">" + esc(S.vocabLabel("designation_origins", d.origin)) +
        (d.rule ? " · " + esc(t("rule")) + ": <code>" + esc(d.rule) + "</code>" : "") + "</div>"
    ];
    if (text) { parts.push("<div class=\"sm-dsg-rule\">" + esc(t("why")) + ": " + esc(text) + "</div>"); }
    parts.push(statsTable(why));
    if (why.window) {
      parts.push("<div class=\"sm-dsg-window\">" + esc(t("window")) + ": " + esc(fmtDate(why.window.from)) + " – " +
        esc(fmtDate(why.window.to)) + "</div>");
    }
    if (why.hotspot_run_stated) {
      parts.push("<div class=\"sm-dsg-run\">" + (why.hotspot_run_id !== null && why.hotspot_run_id !== undefined ?
        esc(t("hotspot_run")) + " #" + esc(why.hotspot_run_id) : esc(t("no_hotspot_run"))) + "</div>");
    }
    if (why.incidents_generated || d.is_generated) {
      parts.push("<div class=\"sm-generated\">" + esc(t("incidents_generated_note")) + "</div>");
    }
    if (d.valid_from || d.valid_to) {
      parts.push("<div class=\"sm-dsg-valid\">" + esc(t("valid")) + ": " + esc(fmtDate(d.valid_from) || "…") + " – " +
        esc(fmtDate(d.valid_to) || t("open_ended")) + "</div>");
    }
    parts.push(who("proposed_by", d.proposed_by, d.origin === "historical" ? null : d.created_at, d.note));
    parts.push(who("decided_by", d.decided_by, d.decided_at, d.decision_reason));
    parts.push(who("revoked_by", d.revoked_by, d.revoked_at, d.revoke_reason));
    return "<section class=\"sm-dsg\" data-id=\"" + esc(d.id) + "\" data-kind=\"" + esc(d.kind) + "\" data-status=\"" +
      esc(d.status) + "\">" + parts.join("") + "</section>";
  }

  function render(doc) {
    var items = doc.items || [];
    return "<h5>" + esc(t("designations")) + "</h5>" +
      (items.length ? items.map(item).join("") : "<p class=\"sm-none\">" + esc(t("no_designations")) + "</p>");
  }

  // One request per popup opening; the popup's content may be set again meanwhile (its full feature
  // arrives), so every placeholder of it is filled from the same answer.
  function fill(popup) {
    var el = popup.getElement && popup.getElement();
    var box = el && el.querySelector(".sm-designations[data-unit]:not([data-filled])");
    if (!box) { return; }
    var unit = box.dataset.unit;
    if (!popup._smDesignations || popup._smDesignations.unit !== unit) {
      popup._smDesignations = { unit: unit, answer: S.api("GET", "/units/" + encodeURIComponent(unit) + "/designations") };
    }
    popup._smDesignations.answer.then(function (doc) {
      return render(doc);
    }, function (e) {
      return e && e.status === 403 ? "<p class=\"sm-none\">" + esc(t("designations_outside")) + "</p>" : null;
    }).then(function (html) {
      if (html === null || !popup.isOpen()) { return; }
      var empty = placeholderOf(unit), content = popup.getContent();
      if (typeof content === "string" && content.indexOf(empty) >= 0) {
        // Set as content (Leaflet re-measures the popup; a later setContent of map.js is filled again).
        var filled = empty.replace("\">", "\" data-filled=\"true\">").replace("</div>", "") + html + "</div>";
        popup.setContent(content.replace(empty, function () { return filled; }));
        return;
      }
      var now = popup.getElement && popup.getElement();
      var target = now && now.querySelector(".sm-designations[data-unit=\"" + unit + "\"]:not([data-filled])");
      if (target) { target.innerHTML = html; target.dataset.filled = "true"; }
    });
  }

  function placeholderOf(unit) {
    return "<div class=\"sm-designations\" data-unit=\"" + S.escapeHtml(unit) + "\"></div>";
  }

  function wire(map) {
    map.on("popupopen", function (e) {
      var popup = e.popup;
      delete popup._smDesignations;
      if (!popup._smWired) {
        popup._smWired = true;
        popup.on("contentupdate", function () { fill(popup); });
      }
      fill(popup);
    });
  }

  window.SitmapDesignations = { placeholder: placeholder, fill: fill, wire: wire, render: render };
})();
