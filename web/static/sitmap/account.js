/* One's own account on the map: change password (forced at first sign-in). Exposes window.SitmapAccount.
 *
 * The header gets a "change password" button while someone is signed in (map.js marks body[data-user]). The
 * form opens by itself, and cannot be dismissed, when GET /account says the password must be changed (checked
 * on load and after each sign-in) or when any request is answered 403 password-change-required; once the change
 * is accepted the page reloads, so every layer and the live stream start again with the full sign-in. */
(function () {
  "use strict";
  var S = window.Sitmap;
  var t = S.t;
  var FORCED_TYPE = /\/password-change-required$/;
  var state = { el: null, forced: false, min: 10 };

  var CSS = "#sm-account{position:fixed;inset:0;z-index:5000;background:rgba(0,0,0,.55);display:flex;" +
    "align-items:center;justify-content:center}#sm-account[hidden]{display:none}" +
    "#sm-account form{background:#fff;border-radius:6px;padding:16px;width:300px;display:flex;" +
    "flex-direction:column;gap:8px;box-shadow:0 4px 16px rgba(0,0,0,.4)}" +
    "#sm-account label{display:flex;flex-direction:column}#sm-account .sm-row{display:flex;gap:8px}" +
    "#sm-account .sm-hint{font-size:12px;color:#555;margin:0}";

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "i18n") { e.dataset.i18n = attrs[k]; } else { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { e.appendChild(c); });
    return e;
  }

  function field(name, key, autocomplete) {
    return el("label", {}, [el("span", { i18n: key }),
      el("input", { name: name, type: "password", autocomplete: autocomplete, required: "" })]);
  }

  function build() {
    if (state.el) { return state.el; }
    var style = document.createElement("style");
    style.textContent = CSS;
    document.head.appendChild(style);
    var form = el("form", { id: "sm-account-form", novalidate: "" }, [
      el("strong", { i18n: "change_password" }),
      el("p", { id: "sm-account-forced", i18n: "password_change_required", hidden: "" }),
      field("current_password", "current_password", "current-password"),
      field("new_password", "new_password", "new-password"),
      field("confirm_password", "confirm_password", "new-password"),
      el("p", { id: "sm-account-rule", "class": "sm-hint" }),
      el("p", { id: "sm-account-error", "class": "sm-error", role: "alert", hidden: "" }),
      el("div", { "class": "sm-row" }, [
        el("button", { type: "submit", id: "sm-account-save", i18n: "save" }),
        el("button", { type: "button", id: "sm-account-cancel", i18n: "cancel" }),
        el("button", { type: "button", id: "sm-account-signout", i18n: "sign_out", hidden: "" })
      ])
    ]);
    var overlay = el("div", { id: "sm-account", role: "dialog", "aria-modal": "true", hidden: "" }, [form]);
    document.body.appendChild(overlay);
    form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(form); });
    form.querySelector("#sm-account-cancel").addEventListener("click", function () { if (!state.forced) { close(); } });
    form.querySelector("#sm-account-signout").addEventListener("click", function () {
      S.logout().catch(function () { return null; }).then(function () { location.reload(); });
    });
    overlay.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && !state.forced) { close(); }
    });
    S.onLang(function () { if (state.el) { render(); } });
    state.el = overlay;
    return overlay;
  }

  function render() {
    var o = state.el;
    S.applyI18n(o);
    o.querySelector("#sm-account-rule").textContent = t("password_rule").replace("{n}", state.min);
    o.querySelector("#sm-account-forced").hidden = !state.forced;
    o.querySelector("#sm-account-cancel").hidden = state.forced;
    o.querySelector("#sm-account-signout").hidden = !state.forced;
  }

  function open(forced) {
    var o = build();
    state.forced = state.forced || !!forced;
    var wasOpen = !o.hidden;
    o.hidden = false;
    document.body.dataset.passwordChange = state.forced ? "required" : "open";
    render();
    if (!wasOpen) { o.querySelector("input[name=current_password]").focus(); }
  }

  function close() {
    if (!state.el) { return; }
    state.el.hidden = true;
    state.el.querySelector("form").reset();
    state.el.querySelector("#sm-account-error").hidden = true;
    delete document.body.dataset.passwordChange;
  }

  function showError(text) {
    var err = state.el.querySelector("#sm-account-error");
    err.textContent = text;
    err.hidden = false;
  }

  function submit(form) {
    var current = form.current_password.value, next = form.new_password.value;
    state.el.querySelector("#sm-account-error").hidden = true;
    if (next !== form.confirm_password.value) { return showError(t("password_mismatch")); }
    if (next.length < state.min) { return showError(t("password_too_short").replace("{n}", state.min)); }
    if (next === current) { return showError(t("password_same")); }
    var button = form.querySelector("#sm-account-save");
    button.disabled = true;
    S.api("POST", "/account/password", { current_password: current, new_password: next }).then(function () {
      if (state.forced) {
        location.reload();  // the map starts again with the full sign-in: layers, live stream, panels
        return;
      }
      close();
      S.toast(t("password_changed"));
    }, function (e) {
      var type = (e.body && e.body.type) || "";
      if (e.status === 403 && /\/wrong-password$/.test(type)) { showError(t("wrong_current_password")); return; }
      if (e.status === 429) {
        var secs = ((e.body && e.body.detail) || "").match(/(\d+) s\b/);
        showError(t("too_many_attempts").replace("{n}", secs ? secs[1] : "?"));
        return;
      }
      showError(e.message);
    }).then(function () { button.disabled = false; });
  }

  // Whether the signed-in user must change the password first. Nobody signed in: nothing to ask (and no 401
  // in the console, as /web/session always answers 200).
  function check() {
    return S.me().then(function (user) {
      if (!user) { return null; }
      return S.api("GET", "/account").then(function (a) {
        if (a && a.min_password_chars) { state.min = a.min_password_chars; }
        if (a && a.must_change_password) { open(true); }
        return a;
      });
    }).catch(function () { return null; });
  }

  // Any answer 403 password-change-required (a layer, the inbox, the panel) opens the form too.
  var nativeFetch = window.fetch;
  window.fetch = function () {
    return nativeFetch.apply(this, arguments).then(function (r) {
      if (r.status === 403 && (r.headers.get("content-type") || "").indexOf("problem+json") >= 0) {
        r.clone().json().then(function (b) {
          if (b && FORCED_TYPE.test(b.type || "")) { open(true); }
        }, function () { return null; });
      }
      return r;
    });
  };

  // After a sign-in on the map (map.js calls Sitmap.login), ask at once.
  var nativeLogin = S.login;
  S.login = function (username, password) {
    return nativeLogin(username, password).then(function (r) { check(); return r; });
  };

  // The header's entry: shown while someone is signed in.
  function wireHeader() {
    var who = document.getElementById("sm-user");
    if (!who) { return; }
    var button = el("button", { id: "sm-account-open", type: "button", i18n: "change_password", hidden: "" });
    who.parentNode.insertBefore(button, who.nextSibling);
    S.applyI18n(button.parentNode);
    button.addEventListener("click", function () { open(false); });
    function sync() { button.hidden = !document.body.dataset.user; }
    new MutationObserver(sync).observe(document.body, { attributes: true, attributeFilter: ["data-user"] });
    sync();
  }

  function start() {
    wireHeader();
    check();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }

  window.SitmapAccount = { open: open, close: close, check: check };
})();
