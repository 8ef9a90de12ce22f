/* Shared by the commanders' map and the phone form: language, formatting, API calls, sign-in. */
(function () {
  "use strict";
  var CFG = window.SITMAP_CONFIG || {};
  var I18N = CFG.i18n || { strings: { vi: {}, en: {} }, vocab: {}, default: "vi" };
  var LANG_KEY = "sitmap.lang";
  var TZ = CFG.timezone || "Asia/Ho_Chi_Minh";
  var listeners = [];

  function lang() {
    var l = null;
    try { l = localStorage.getItem(LANG_KEY); } catch (e) { /* storage blocked: default language */ }
    return l === "en" || l === "vi" ? l : I18N.default || "vi";
  }

  function t(key) {
    var s = I18N.strings[lang()] || {};
    return s[key] !== undefined ? s[key] : key;
  }

  // A vocabulary label: vocabLabel("incident_categories", "drugs") -> "Ma túy" / "Drugs".
  function vocabLabel(vocab, code) {
    var v = (I18N.vocab[vocab] || {})[code];
    return v ? v[lang()] : code;
  }

  // A {vi, en} object (layer titles, legend labels from the registry) or a plain string.
  function pick(obj) {
    if (obj === null || obj === undefined) { return ""; }
    if (typeof obj === "string") { return obj; }
    return obj[lang()] || obj.vi || obj.en || "";
  }

  function applyI18n(root) {
    root = root || document;
    document.documentElement.lang = lang();
    root.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    var title = document.querySelector("title");
    if (title && window.SITMAP_TITLE_KEY) { title.textContent = t(window.SITMAP_TITLE_KEY); }
  }

  function setLang(l) {
    try { localStorage.setItem(LANG_KEY, l); } catch (e) { /* not persisted; still switch */ }
    applyI18n();
    listeners.forEach(function (fn) { fn(l); });
  }

  function onLang(fn) { listeners.push(fn); }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // dd/mm/yyyy HH:MM in Asia/Ho_Chi_Minh, whatever the browser's own zone and language.
  function fmtDateTime(value, withTime) {
    if (!value) { return ""; }
    var d = value instanceof Date ? value : new Date(value);
    if (isNaN(d.getTime())) { return String(value); }
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23"
    }).formatToParts(d).forEach(function (p) { parts[p.type] = p.value; });
    var date = parts.day + "/" + parts.month + "/" + parts.year;
    return withTime === false ? date : date + " " + parts.hour + ":" + parts.minute;
  }

  // The wall-clock time in Asia/Ho_Chi_Minh as an ISO string with its +07:00 offset.
  function isoInZone(d) {
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23"
    }).formatToParts(d).forEach(function (p) { parts[p.type] = p.value; });
    var local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    var off = Math.round((local - Math.floor(d.getTime() / 1000) * 1000) / 60000);
    var sign = off >= 0 ? "+" : "-";
    off = Math.abs(off);
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute + ":" +
      parts.second + sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // Cookie-authenticated writes carry this header (the server's CSRF rule for cookie sessions).
  var WRITE_HEADERS = { "Content-Type": "application/json", "X-Requested-With": "sitmap" };

  function problemText(body, status) {
    if (body && (body.detail || body.title)) { return (body.title ? body.title + ": " : "") + (body.detail || ""); }
    return "HTTP " + status;
  }

  // fetch JSON; rejects with {status, body, message} on an HTTP error, with {status: 0} when offline.
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      opts.headers = Object.assign({}, WRITE_HEADERS, opts.headers);
      opts.body = JSON.stringify(body);
    } else if (method !== "GET") {
      opts.headers = Object.assign({}, WRITE_HEADERS, opts.headers);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
        if (!r.ok) { throw { status: r.status, body: data, message: problemText(data, r.status) }; }
        return data;
      });
    }, function (err) { throw { status: 0, body: null, message: String(err) }; });
  }

  // Who is signed in (null when nobody): /web/session answers 200 either way, so no 401 in the console.
  function me() {
    return api("GET", "/web/session").then(function (s) { return s && s.user; }, function () { return null; });
  }

  function login(username, password) { return api("POST", "/auth/login", { username: username, password: password }); }

  function logout() { return api("POST", "/auth/logout"); }

  var toastTimer = null;
  function toast(text, isError) {
    var el = document.getElementById("sm-toast") || document.getElementById("pf-msg");
    if (!el) { return; }
    el.textContent = text;
    el.hidden = false;
    el.classList.toggle("sm-error", !!isError);
    clearTimeout(toastTimer);
    if (el.id === "sm-toast") { toastTimer = setTimeout(function () { el.hidden = true; }, 5000); }
  }

  function escapeHtml(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }

  // An element with attributes and, unless null or undefined, its text.
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  // A top-bar button (hidden until its script shows it) and the dialog panel it opens under the bar, with a
  // title and a close button that hides the panel: the map's analysis and report panels share this shape.
  // The button says buttonKey (default: the title).
  function topPanel(id, titleKey, closeKey, width, buttonKey) {
    var label = buttonKey || titleKey;
    var button = el("button", { id: id + "-open", type: "button", "data-i18n": label }, t(label));
    button.hidden = true;
    document.getElementById("sm-top").insertBefore(button, document.getElementById("sm-lang"));
    var panel = el("div", { id: id, class: "sm-panel", role: "dialog" });
    panel.hidden = true;
    panel.style.top = "var(--sm-below-top, 56px)";
    panel.style.right = "8px";
    panel.style.width = "min(" + width + ", 92vw)";
    var head = el("div");
    head.style.display = "flex";
    head.style.justifyContent = "space-between";
    head.style.alignItems = "center";
    head.appendChild(el("strong", { "data-i18n": titleKey }, t(titleKey)));
    var close = el("button", { type: "button", id: id + "-close", "data-i18n": closeKey }, t(closeKey));
    head.appendChild(close);
    panel.appendChild(head);
    close.addEventListener("click", function () { panel.hidden = true; });
    return { button: button, panel: panel };
  }

  // Keeps --sm-below-top at the top bar's bottom edge (+8 px): with the buttons of every role the bar wraps
  // onto a second line on narrower screens, and the panels under it must not cover that line.
  function trackTopBar() {
    var top = document.getElementById("sm-top");
    if (!top) { return; }
    var set = function () {
      document.documentElement.style.setProperty("--sm-below-top", Math.ceil(top.getBoundingClientRect().bottom + 8) + "px");
    };
    set();
    if (window.ResizeObserver) { new ResizeObserver(set).observe(top); }
    window.addEventListener("resize", set);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", trackTopBar);
  } else {
    trackTopBar();
  }

  window.Sitmap = {
    config: CFG, lang: lang, t: t, vocabLabel: vocabLabel, pick: pick, applyI18n: applyI18n, setLang: setLang,
    onLang: onLang, fmtDateTime: fmtDateTime, isoInZone: isoInZone, uuid4: uuid4, api: api, me: me,
    login: login, logout: logout, toast: toast, escapeHtml: escapeHtml, el: el, topPanel: topPanel
  };
})();
