"""The browser assets: vendored libraries (from npm, see web/package.json) and sitmap's own scripts.

Every asset is served by the app under ``/static``; nothing is fetched from a CDN. For the briefing export
the same files are inlined into one HTML document instead (``inline=True``).
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import re
from functools import cache
from pathlib import Path

import folium

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static"

# (name, path under static/): the only JS and CSS the pages load; folium's CDN defaults are replaced by these.
LEAFLET_JS = ("leaflet", "vendor/leaflet/leaflet.js")
LEAFLET_CSS = ("leaflet_css", "vendor/leaflet/leaflet.css")
VECTORGRID_JS = ("vectorgrid", "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js")
PROJ4_JS = ("proj4", "vendor/proj4/proj4.js")
SHIM_JS = ("sitmap_shim", "sitmap/leaflet-shim.js")
COMMON_JS = ("sitmap_common", "sitmap/common.js")
SITMAP_CSS = ("sitmap_css", "sitmap/sitmap.css")


@cache
def url(path: str) -> str:
    """A static file's URL with a hash of its content: after an update a browser (or the phone's service
    worker) asks for the new file instead of running a stale copy against a changed server."""
    file = STATIC_DIR / path
    if not file.is_file():
        return f"{STATIC_URL}/{path}"
    return f"{STATIC_URL}/{path}?v={hashlib.sha256(file.read_bytes()).hexdigest()[:10]}"


@cache
def read_text(path: str) -> str:
    return (STATIC_DIR / path).read_text(encoding="utf-8")


def _data_uri(file: Path) -> str:
    mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(file.read_bytes()).decode()}"


def inline_css(path: str) -> str:
    """CSS with its relative url(...) references (Leaflet's images) replaced by data URIs."""
    base = (STATIC_DIR / path).parent
    css = read_text(path)

    def repl(m: re.Match[str]) -> str:
        ref = m.group(1).strip("'\"")
        target = base / ref
        if ref.startswith(("data:", "http", "/")) or not target.is_file():
            return m.group(0)
        return f"url({_data_uri(target)})"

    return re.sub(r"url\(([^)]+)\)", repl, css)


def offline_map(*, js: list[tuple[str, str]], css: list[tuple[str, str]], inline: bool = False,
                map_id: str = "sitmap", **kwargs) -> folium.Map:
    """A folium map with no basemap and no CDN: its default JS/CSS are exactly ``js`` and ``css``.

    ``inline=True`` embeds the files' text in the page (self-contained export) instead of linking them.
    """
    m = folium.Map(tiles=None, **kwargs)
    m._id = map_id  # a stable variable name (map_sitmap) for the page's own scripts
    if inline:
        m.default_js = []
        m.default_css = []
        header = m.get_root().header
        for name, path in css:
            header.add_child(folium.Element(f"<style>{inline_css(path)}</style>"), name=f"inline_{name}")
        for name, path in js:
            code = read_text(path).replace("</script", "<\\/script")
            header.add_child(folium.Element(f"<script>{code}</script>"), name=f"inline_{name}")
    else:
        m.default_js = [(name, url(path)) for name, path in js]
        m.default_css = [(name, url(path)) for name, path in css]
    return m
