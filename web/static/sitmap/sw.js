/* Service worker of the phone form (scope /web/m): keeps the page, its assets and the last answers for the
 * officer's communes (boundaries, villages, patrol points) so the form opens and shows the area offline.
 * Served by the app at /web/sw.js with __SHELL__ and __VERSION__ filled in. Writes (POST) are never touched:
 * the page's own queue owns them. */
"use strict";
var VERSION = "__VERSION__";
var SHELL = __SHELL__;
var SHELL_CACHE = "sitmap-shell-" + VERSION;
var DATA_CACHE = "sitmap-data";

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (c) { return c.addAll(SHELL); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf("sitmap-shell-") === 0 && k !== SHELL_CACHE; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

// Network first, the cached copy when the network fails; successful answers refresh the cache.
function networkFirst(request, cacheName) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(cacheName).then(function (c) { c.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(request).then(function (hit) {
      return hit || new Response(JSON.stringify({ title: "Offline", status: 503, detail: "no network, no copy" }),
        { status: 503, headers: { "Content-Type": "application/problem+json" } });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") { return; }
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.match(req).then(function (hit) { return hit || networkFirst(req, SHELL_CACHE); }));
  } else if (url.pathname === "/web/m" || url.pathname === "/web/manifest.json") {
    event.respondWith(networkFirst(req, SHELL_CACHE));
  } else if (url.pathname.indexOf("/collections/") === 0 || url.pathname === "/web/session" ||
             url.pathname === "/web/extent") {
    event.respondWith(networkFirst(req, DATA_CACHE));
  }
});
