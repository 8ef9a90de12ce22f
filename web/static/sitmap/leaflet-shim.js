/* leaflet.vectorgrid 1.3.0 calls L.DomEvent.fakeStop on a click on a tile feature; Leaflet 1.8 removed it,
 * so the click threw and no popup opened. Leaflet >= 1.8 skips map handlers for a DOM event whose
 * `_stopped` flag is set, which is exactly what the old fakeStop did. Load after leaflet.js. */
(function () {
  if (window.L && L.DomEvent && typeof L.DomEvent.fakeStop !== "function") {
    L.DomEvent.fakeStop = function (e) {
      if (e) { e._stopped = true; }
      return this;
    };
  }
})();
