"""The two pages people use: the commanders' map (``/``) and the officers' phone form (``/m``).

Both are folium-built Leaflet pages with no basemap and no CDN; the browser-side logic is in
``web/static/sitmap/*.js``, configured by a JSON object the page embeds (strings, vocabularies, settings).
"""

from __future__ import annotations

import html
import json
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

from data.permissions import roles_for
from geo.crs import VN2000_UTM_ZONES, vn2000_utm_proj4
from web import assets, i18n

# Only a starting view: the page fits itself to the current units' extent from /web/extent once loaded.
_START = {"location": [0.0, 0.0], "zoom_start": 3}

def _config(extra: dict[str, Any] | None = None, basemap_url: str | None = None) -> dict[str, Any]:
    return {
        "i18n": i18n.bundle(),
        "basemap": basemap_url,
        "vn2000": {str(zone): vn2000_utm_proj4(zone) for zone in VN2000_UTM_ZONES},
        "timezone": "Asia/Ho_Chi_Minh",
        **(extra or {}),
    }


def _json_script(var: str, value: Any) -> folium.Element:
    text = json.dumps(value, ensure_ascii=False).replace("</", "<\\/")
    return folium.Element(f"<script>window.{var} = {text};</script>")


class _Init(MacroElement):
    """Calls ``<module>.init(<map>)`` after folium has created the map (a child renders after its parent)."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.module }}.init({{ this._parent.get_name() }});"
                         "{% endmacro %}")

    def __init__(self, module: str) -> None:
        super().__init__()
        self.module = module


def _head(title_key: str) -> folium.Element:
    # The icon link stops the browser asking for /favicon.ico (a 404 and a console error otherwise).
    title = html.escape(i18n.strings(i18n.DEFAULT_LANG)[title_key])
    return folium.Element(f'<title>{title}</title><script>window.SITMAP_TITLE_KEY = "{title_key}";</script>'
                          f'<link rel="icon" href="{assets.url("sitmap/favicon.svg")}" type="image/svg+xml">')


def _signin_form(prefix: str, css_class: str) -> str:
    """A page's sign-in form; its script finds it and its error line by the ``prefix`` of their ids."""
    return f"""<form id="{prefix}-signin" class="{css_class}" hidden>
  <label><span data-i18n="username"></span><input name="username" autocomplete="username" required></label>
  <label><span data-i18n="password"></span>
    <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit" data-i18n="sign_in"></button>
  <p id="{prefix}-signin-error" class="sm-error" role="alert" hidden></p>
</form>
"""


_MAP_PANEL = """
<div id="sm-top" class="sm-panel">
  <strong class="sm-title" data-i18n="app_title"></strong>
  <div class="sm-search">
    <input id="sm-search" type="search" autocomplete="off" data-i18n-placeholder="search_units">
    <ul id="sm-search-results" hidden></ul>
  </div>
  <span id="sm-live" class="sm-live off" data-i18n="live_off"></span>
  <span id="sm-user"></span>
  <button id="sm-signout" type="button" data-i18n="sign_out" hidden></button>
  <button id="sm-signin-open" type="button" data-i18n="sign_in"></button>
  <button id="sm-lang" type="button" data-i18n="lang_switch"></button>
  <a href="/web/m" data-i18n="open_phone"></a>
</div>
""" + _signin_form("sm", "sm-panel sm-dialog") + """<div id="sm-side" class="sm-panel">
  <h3 data-i18n="time_filter"></h3>
  <div id="sm-time">
    <label><input type="radio" name="sm-time" value="24h"><span data-i18n="last_24h"></span></label>
    <label><input type="radio" name="sm-time" value="7d"><span data-i18n="last_7d"></span></label>
    <label><input type="radio" name="sm-time" value="30d" checked><span data-i18n="last_30d"></span></label>
    <label><input type="radio" name="sm-time" value="all"><span data-i18n="all_time"></span></label>
    <label><input type="radio" name="sm-time" value="custom"><span data-i18n="custom"></span></label>
    <div id="sm-time-custom" hidden>
      <label><span data-i18n="from"></span><input type="date" id="sm-time-from"></label>
      <label><span data-i18n="to"></span><input type="date" id="sm-time-to"></label>
      <button type="button" id="sm-time-apply" data-i18n="apply"></button>
    </div>
  </div>
  <h3 data-i18n="layers"></h3>
  <div id="sm-layers"></div>
  <h3 data-i18n="legend"></h3>
  <div id="sm-legend"></div>
</div>
<div id="sm-coords" class="sm-panel"><span data-i18n="coords"></span>: <span id="sm-coords-text">—</span></div>
<div id="sm-toast" class="sm-panel" role="status" hidden></div>
"""


def commanders_map(basemap_url: str | None = None) -> str:
    """The commanders' map page (HTML)."""
    js = [assets.LEAFLET_JS, assets.VECTORGRID_JS, assets.SHIM_JS, assets.PROJ4_JS, assets.COMMON_JS,
          ("sitmap_designations", "sitmap/designations.js"), ("sitmap_coverage", "sitmap/coverage.js"),
          ("sitmap_situation", "sitmap/situation.js"), ("sitmap_reports", "sitmap/reports.js"),
          ("sitmap_inbox", "sitmap/notifications.js"),
          ("sitmap_account", "sitmap/account.js"), ("sitmap_map", "sitmap/map.js")]
    m = assets.offline_map(js=js, css=[assets.LEAFLET_CSS, assets.SITMAP_CSS], control_scale=True,
                           prefer_canvas=False, **_START)
    root = m.get_root()
    root.header.add_child(_head("app_title"), name="title")
    # The roles that see the coverage curve's button (the route checks the permission itself).
    extra = {"coverage_roles": sorted(roles_for("analysis.run"))}
    root.header.add_child(_json_script("SITMAP_CONFIG", _config(extra, basemap_url=basemap_url)), name="config")
    root.html.add_child(folium.Element(_MAP_PANEL), name="panel")
    m.add_child(_Init("SitmapMap"), name="init")
    return root.render()


_PHONE_PANEL = """
<div id="pf-bar" class="pf-bar">
  <strong data-i18n="phone_title"></strong>
  <span id="pf-net" class="pf-net"></span>
  <span id="pf-user"></span>
  <button id="pf-lang" type="button" data-i18n="lang_switch"></button>
</div>
""" + _signin_form("pf", "pf-card") + """<form id="pf-form" class="pf-card" novalidate>
  <div class="pf-row">
    <button type="button" id="pf-gps" data-i18n="use_gps"></button>
    <span id="pf-pos" data-i18n="no_position"></span>
  </div>
  <small data-i18n="tap_map"></small>
  <label><span data-i18n="category"></span><select name="category" id="pf-category" required></select></label>
  <label><span data-i18n="severity"></span><select name="severity" id="pf-severity" required></select></label>
  <label><span data-i18n="occurred_at"></span><input type="datetime-local" name="occurred_at" id="pf-time"
    required></label>
  <label><span data-i18n="description"></span><textarea name="description" id="pf-desc" rows="3"></textarea></label>
  <button type="submit" id="pf-send" data-i18n="send"></button>
  <p id="pf-msg" role="status"></p>
  <p><span data-i18n="queue_count"></span>: <span id="pf-queue">0</span></p>
</form>
<div class="pf-card" id="pf-route-card" hidden>
  <h3 data-i18n="route_today"></h3>
  <p id="pf-route-team"></p>
  <ul id="pf-route"></ul>
</div>
<div class="pf-card">
  <h3 data-i18n="nearest_points"></h3>
  <ul id="pf-points"></ul>
</div>
<p class="pf-foot"><a href="/" data-i18n="open_map"></a></p>
"""


def phone_page(basemap_url: str | None = None) -> str:
    """The officers' phone form (HTML): a small map on top, the report form below."""
    js = [assets.LEAFLET_JS, assets.COMMON_JS, ("sitmap_phone", "sitmap/phone.js")]
    m = assets.offline_map(js=js, css=[assets.LEAFLET_CSS, assets.SITMAP_CSS], map_id="phone",
                           height="40%", control_scale=True, **_START)
    root = m.get_root()
    root.header.add_child(_head("phone_title"), name="title")
    root.header.add_child(folium.Element('<link rel="manifest" href="/web/manifest.json">'), name="manifest")
    root.header.add_child(folium.Element('<script>document.documentElement.classList.add("pf-html");</script>'),
                          name="pf_class")
    root.header.add_child(_json_script("SITMAP_CONFIG", _config(basemap_url=basemap_url)), name="config")
    # The panel follows the map div, which folium renders as the body's first child.
    root.html.add_child(folium.Element(_PHONE_PANEL), name="panel")
    m.add_child(_Init("SitmapPhone"), name="init")
    return root.render()
