/* Three fixes for leaflet.vectorgrid 1.3.0 on Leaflet 1.9. Load after leaflet.js and the vectorgrid bundle.
 *
 * 1. VectorGrid's canvas tiles call L.DomEvent.fakeStop on a click on a feature; Leaflet 1.8 removed it, so
 *    the click threw and no popup opened. Leaflet >= 1.8 skips map handlers for a DOM event whose `_stopped`
 *    flag is set, which is exactly what the old fakeStop did.
 * 2. An interactive canvas tile takes every click over its whole square, even where it drew nothing, so an
 *    upper layer (incident points) hid the features of the layers below it (commune polygons). A click that
 *    hits nothing on a tile is handed on to whatever lies under that tile.
 * 3. A point feature of a tile is a CircleMarker without a position of its own (only tile pixels); Leaflet 1.9
 *    takes a small circle marker's event position from getLatLng(), so a click on an incident point threw
 *    ("reading 'lat'") and no popup opened. The point's position is set from its tile pixels before firing. */
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
    var fire = L.Canvas.Tile.prototype._fireEvent;
    L.Canvas.Tile.prototype._fireEvent = function (layers, e, type) {
      var map = this._map;
      if (map && layers) {
        var origin = this._tileCoord.scaleBy(this._size);
        layers.forEach(function (lyr) {
          if (lyr && lyr._point && typeof lyr.getLatLng === "function" && !lyr._latlng) {
            lyr._latlng = map.unproject(origin.add(lyr._point), map.getZoom());
          }
        });
      }
      return fire.call(this, layers, e, type);
    };
  }
})();
