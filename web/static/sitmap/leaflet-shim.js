/* Two fixes for leaflet.vectorgrid 1.3.0 on Leaflet 1.9. Load after leaflet.js and the vectorgrid bundle.
 *
 * 1. VectorGrid's canvas tiles call L.DomEvent.fakeStop on a click on a feature; Leaflet 1.8 removed it, so
 *    the click threw and no popup opened. Leaflet >= 1.8 skips map handlers for a DOM event whose `_stopped`
 *    flag is set, which is exactly what the old fakeStop did.
 * 2. An interactive canvas tile takes every click over its whole square, even where it drew nothing, so an
 *    upper layer (incident points) hid the features of the layers below it (commune polygons). A click that
 *    hits nothing on a tile is handed on to whatever lies under that tile. */
(function () {
  if (!window.L) { return; }
  if (L.DomEvent && typeof L.DomEvent.fakeStop !== "function") {
    L.DomEvent.fakeStop = function (e) {
      if (e) { e._stopped = true; }
      return this;
    };
  }
  if (L.Canvas && L.Canvas.Tile && !L.Canvas.Tile.prototype._sitmapPassThrough) {
    var onClick = L.Canvas.Tile.prototype._onClick;
    L.Canvas.Tile.prototype._sitmapPassThrough = true;
    L.Canvas.Tile.prototype._onClick = function (e) {
      onClick.call(this, e);
      if (e._stopped || e.type !== "click" || !this._container) { return; }
      var el = this._container;
      var previous = el.style.pointerEvents;
      el.style.pointerEvents = "none";
      var below = document.elementFromPoint(e.clientX, e.clientY);
      el.style.pointerEvents = previous;
      if (below && below !== el) { below.dispatchEvent(new MouseEvent(e.type, e)); }
    };
  }
})();
