"""One vocabulary, end to end, in a real browser: the map labels values with the vocabularies the server names
(a hot-spot popup says "Điểm nóng (99%)", not ``hot_99``), and each layer's swatch in the switcher shows that
layer's own style.

Reuses the fixtures of tests/test_web_browser.py (its own server and writable demo copy for this module).
"""

from __future__ import annotations

import httpx
import psycopg
import pytest

from data import vocab
from tests import test_web_browser as base
from tests.test_web_browser import Site, _open_map, _shot, _token

site = base.site
browser = base.browser
ctx = base.ctx

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def hotspot(site: Site) -> tuple[float, float]:
    """A stored hot-spot run with one 99 % cell around a point of the officer's commune (the demo has none)."""
    lon, lat = site.officer_commune["lon"], site.officer_commune["lat"]
    with psycopg.connect(site.db) as conn:
        run = conn.execute("INSERT INTO hotspot_run (method, analysis, cell_size_m, period_end, category) VALUES "
                           "('emerging', 'emerging', 1000, now(), 'drugs') RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO hotspot_cell (run_id, cell, count, z, p, \"class\", trend, geom) VALUES "
                     "(%s, 'E1N1', 12, 3.1, 0.002, 'hot_99', 'persistent_hot', "
                     "ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4326)))",
                     (run, lon - 0.005, lat - 0.005, lon + 0.005, lat + 0.005))
    return lon, lat


def _only(page, layer: str) -> None:
    page.evaluate(f"SitmapMap.state.layers.forEach(l => SitmapMap.setOn(l.id, l.id === '{layer}'))")
    page.wait_for_function(f"() => SitmapMap.isOn('{layer}')")


LAYER = "emerging-hotspots"


def click_at(page, layer: str, lon: float, lat: float, zoom: int) -> None:
    """Click ``layer``'s feature at lon/lat once its tiles at ``zoom`` have loaded (give another zoom than
    the page shows, so that they load anew)."""
    page.evaluate(f"SitmapMap.state.loaded['{layer}'] = false")
    page.evaluate(f"SitmapMap.state.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    page.wait_for_function(f"() => SitmapMap.state.loaded['{layer}'] === true")
    page.wait_for_function(f"() => Object.values(SitmapMap.state.leaflet['{layer}']._tiles)"
                           ".every(t => t.coords.z === SitmapMap.state.map.getZoom())")
    x, y = page.evaluate(
        f"(() => {{ const p = SitmapMap.state.map.latLngToContainerPoint([{lat}, {lon}]);"
        f" const r = SitmapMap.state.map.getContainer().getBoundingClientRect();"
        f" return [p.x + r.left, p.y + r.top]; }})()")
    page.mouse.click(x, y)


def _click_hotspot(page, lon: float, lat: float, zoom: int):
    click_at(page, LAYER, lon, lat, zoom)
    popup = page.locator(f".leaflet-popup .sm-popup[data-layer='{LAYER}'][data-full=true]")
    popup.wait_for()
    return popup


def test_hotspot_popup_labels_its_values_from_the_vocabularies_the_server_names(ctx, site, hotspot):
    context, rec = ctx
    props = {p["name"]: p for p in next(
        layer for layer in httpx.get(f"{site.base}/layers",
                                     headers={"Authorization": f"Bearer {_token(site.base, 'web_commander')}"}
                                     ).json()["layers"] if layer["id"] == LAYER)["properties"]}
    assert (props["hotspot_class"]["vocabulary"], props["trend"]["vocabulary"]) == ("hotspot_classes",
                                                                                 "emerging_patterns")
    assert props["count"]["vocabulary"] is None
    page = _open_map(context, rec, site)
    _only(page, LAYER)
    text = _click_hotspot(page, *hotspot, zoom=14).inner_text()
    assert "Điểm nóng (99%)" in text and "Điểm nóng dai dẳng" in text
    assert "hot_99" not in text and "persistent" not in text
    _shot(page, "map-hotspot-popup-vi.png")
    page.click("#sm-lang")
    text = _click_hotspot(page, *hotspot, zoom=15).inner_text()
    assert "Hot spot, 99 % confidence" in text and "Persistent hot spot" in text
    assert "hot_99" not in text
    # The legend says the same, in the same words.
    legend = page.locator(f"#sm-legend .sm-legend-layer[data-layer='{LAYER}']").inner_text()
    assert all(t.en in legend for t in vocab.EMERGING_PATTERNS)
    assert rec.errors == []


def _rgb(hex_color: str) -> str:
    h = hex_color.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def test_each_layer_swatch_shows_its_own_style(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    layers = page.evaluate("SitmapMap.state.layers")
    assert len(layers) >= 10  # a commander sees every layer
    seen = {}
    for layer in layers:
        look = page.eval_on_selector(
            f"#sm-layers input[data-layer='{layer['id']}'] ~ .sm-swatch",
            "e => { const s = getComputedStyle(e); return {bg: s.backgroundColor, image: s.backgroundImage,"
            " border: s.borderTopColor, radius: s.borderTopLeftRadius, w: e.offsetWidth, h: e.offsetHeight,"
            " shape: e.dataset.shape}; }")
        style = layer["style"]
        # A categorised layer shows its first categories' colours, any other its one colour.
        first = layer["legend"][0]["color"] if style["by"] else style["color"]
        assert _rgb(first) in f"{look['bg']} {look['image']} {look['border']}", (layer["id"], first, look)
        gtype = layer["geometry_type"].lower()
        expected_shape = "point" if "point" in gtype else "line" if "line" in gtype else "polygon"
        assert look["shape"] == expected_shape, (layer["id"], look)
        if expected_shape == "point":
            assert look["radius"] == "50%" or float(look["radius"].rstrip("px")) >= look["w"] / 2
        elif expected_shape == "line":
            assert look["h"] < look["w"] / 2
        seen[layer["id"]] = look
    # Six layers used to share one blue square: now no two layers look alike.
    looks = [tuple(sorted(v.items())) for v in seen.values()]
    assert len(set(looks)) == len(looks), seen
    _shot(page, "map-layer-swatches.png")
    assert rec.errors == []
