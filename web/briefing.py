"""Briefing export: one self-contained HTML page per commune (folium, every asset inlined, GeoJSON instead of
tiles, so it opens from a USB stick with no server), printed to PDF or PNG by headless Chromium.

The page is an A4-landscape sheet: security marking, title, date, the map with a scale bar, a north arrow and
a legend, and the summary tables of the commune.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import folium
import psycopg

from data import vocab
from data.ops import briefing as facts
from data.ops import situation as situation_ops
from data.permissions import Caller
from data.settings import get_settings
from geo.coverage.coverage import coverage, curve_points
from geo.coverage.curve import curve_svg
from geo.travel.network import TravelError
from layers import registry
from web import assets, i18n

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The map's colours, from the layer declarations: a briefing looks like the commanders' map.
CATEGORY_COLORS = registry.get("incidents").style.colors
HQ_COLORS = registry.get("stations").style.colors
# The sheet is laid out in millimetres on A4 landscape with its own 8 mm margin (inside what printers can
# reach), so the PDF is exactly one page and the PNG is the same sheet rendered at PNG_SCALE × 96 dpi.
SHEET_MM = (297, 210)
SHEET_CSS_PX = (round(SHEET_MM[0] / 25.4 * 96), round(SHEET_MM[1] / 25.4 * 96))  # 1123 × 794
PNG_SCALE = 2
SHEET_PX = (SHEET_CSS_PX[0] * PNG_SCALE, SHEET_CSS_PX[1] * PNG_SCALE)

_CSS = """
@page { size: A4 landscape; margin: 0; }
html, body { margin: 0; padding: 0; }
/* More specific than folium's own "html, body { height: 100% }": the sheet must not follow the window. */
html > body { position: relative; width: 297mm; height: 210mm; overflow: hidden; font-size: 8pt; color: #111;
  font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.br-head { position: absolute; top: 0; left: 8mm; right: 8mm; height: 20mm; padding-top: 6mm; box-sizing: border-box;
  border-bottom: 0.6mm solid #8b0000; }
.br-mark { position: absolute; top: 6mm; right: 0; border: 0.5mm solid #b00000; color: #b00000; font-weight: bold;
  padding: 0.5mm 3mm; font-size: 10pt; letter-spacing: 0.5pt; }
.br-head h1 { margin: 0; font-size: 14pt; color: #8b0000; }
.br-head p { margin: 1mm 0 0; }
.folium-map { position: absolute !important; top: 23mm !important; left: 8mm !important; width: 168mm !important;
  height: 172mm !important; border: 0.3mm solid #555; box-sizing: border-box; }
.folium-map.leaflet-container { font-size: 7.5pt; }
.br-side { position: absolute; top: 22mm; left: 181mm; right: 8mm; bottom: 14mm; overflow: hidden; font-size: 7.5pt; }
.br-side h2 { font-size: 1.27em; margin: 2.5mm 0 1mm; color: #8b0000; }
.br-side table { border-collapse: collapse; width: 100%; font-size: 1em; }
.br-side th, .br-side td { border: 0.2mm solid #999; padding: 0.3mm 1mm; text-align: right; }
.br-side th:first-child, .br-side td:first-child { text-align: left; }
.br-side thead th { background: #eee; }
.br-legend { position: absolute; z-index: 1000; bottom: 31mm; left: 11mm; background: rgba(255,255,255,.92);
  border: 0.3mm solid #777; padding: 1.5mm 2mm; font-size: 7.5pt; max-width: 80mm; }
.br-legend div { display: flex; align-items: center; gap: 1.5mm; }
.br-sw { display: inline-block; width: 3mm; height: 3mm; border: 0.3mm solid #333; border-radius: 50%; }
.br-sw.line { border-radius: 0; height: 0.8mm; border: 0; }
.br-north { position: absolute; z-index: 1000; top: 26mm; left: 161mm; width: 12mm; text-align: center;
  font-weight: bold; background: rgba(255,255,255,.85); border: 0.3mm solid #777; border-radius: 1mm; }
.br-foot { position: absolute; top: 198mm; left: 8mm; font-size: 6.5pt; color: #555; }
"""

# A commune with many stations would overflow the summary column, and overflow is cut off on paper: the page
# shrinks the column's type until everything fits (its sizes are in em of the column) rather than lose rows.
_FIT_SCRIPT = """<script>(function () {
  function fit() {
    var side = document.querySelector('.br-side'), pct = 100;
    side.style.fontSize = '';
    while (side.scrollHeight > side.clientHeight && pct > 50) {
      pct -= 4;
      side.style.fontSize = (7.5 * pct / 100) + 'pt';
    }
    // The coverage curve gives way next (a figure can be smaller; a row cannot be lost), and last of all.
    var curve = side.querySelector('.br-curve'), em = 21;
    if (curve) curve.style.height = '';
    while (curve && side.scrollHeight > side.clientHeight && em > 6) {
      em -= 1;
      curve.style.height = em + 'em';
    }
    if (curve && side.scrollHeight > side.clientHeight) curve.style.display = 'none';
  }
  fit(); window.addEventListener('load', fit);
})();</script>"""

_NORTH_SVG = ('<svg width="30" height="40" viewBox="0 0 30 40"><polygon points="15,2 26,34 15,27 4,34" '
              'fill="#111"/><polygon points="15,2 15,27 4,34" fill="#777"/></svg>')


def _label(terms: tuple[vocab.Term, ...], code: str | None, lang: str) -> str:
    return i18n.label(terms, code, lang)


def _fmt_date(d: datetime) -> str:
    return d.astimezone(TZ).strftime("%d/%m/%Y")


def _num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.1f}".replace(",", " ")
    return f"{v:,}".replace(",", " ") if isinstance(v, int) else html.escape(str(v))


def _month_label(key: str) -> str:
    return f"{key[5:7]}/{key[:4]}"


def _summary_html(b: facts.Briefing, lang: str) -> str:
    s = i18n.strings(lang)
    e = html.escape
    u = b.unit
    out = [f"<h2>{e(s['summary'])}</h2><table><tbody>",
           f"<tr><td>{e(s['population'])}</td><td>{_num(u.get('population'))}</td></tr>",
           f"<tr><td>{e(s['area'])}</td><td>{_num(u.get('area_km2'))}</td></tr>",
           f"<tr><td>{e(s['villages'])}</td><td>{_num(b.villages)}</td></tr></tbody></table>"]
    # Incidents by category and month
    out.append(f"<h2>{e(s['incidents_by_category_month'])}</h2><table><thead><tr><th></th>")
    out += [f"<th>{_month_label(m)}</th>" for m in b.months]
    out.append(f"<th>{e(s['total'])}</th></tr></thead><tbody>")
    col_totals = dict.fromkeys(b.months, 0)
    for term in vocab.INCIDENT_CATEGORIES:
        row = b.incidents_by_month.get(term.code, {})
        if not row:
            continue
        cells = [row.get(m, 0) for m in b.months]
        for m, n in zip(b.months, cells, strict=True):
            col_totals[m] += n
        out.append(f"<tr><td>{e(term.vi if lang == 'vi' else term.en)}</td>" +
                   "".join(f"<td>{n}</td>" for n in cells) + f"<td><b>{sum(cells)}</b></td></tr>")
    out.append(f"<tr><td><b>{e(s['total'])}</b></td>" + "".join(f"<td><b>{col_totals[m]}</b></td>" for m in b.months)
               + f"<td><b>{sum(col_totals.values())}</b></td></tr></tbody></table>")
    # Patrol visits
    v = b.visits
    out.append(f"<h2>{e(s['patrol_visits'])} ({v['days']} {'ngày' if lang == 'vi' else 'days'})</h2><table><tbody>"
               f"<tr><td>{e(s['patrol_visits'])}</td><td>{_num(v['total'])}</td></tr>"
               f"<tr><td>{e(s['patrol_point'])}</td><td>{_num(v['points_visited'])} / {_num(v['points'])}</td></tr>"
               "</tbody></table>")
    # Headquarters
    out.append(f"<h2>{e(s['hq_status'])}</h2><table><thead><tr><th>{e(s['stations'])}</th>"
               f"<th>{e(s['status'])}</th><th>{e(s['officers'])}</th></tr></thead><tbody>")
    for st in b.stations or []:
        out.append(f"<tr><td>{e(st['name'])}</td><td>{e(_label(vocab.HQ_STATUSES, st['hq_status'], lang))}</td>"
                   f"<td>{_num(st['officers'])}</td></tr>")
    if not b.stations:
        out.append(f"<tr><td colspan=3>{e(s['none'])}</td></tr>")
    out.append("</tbody></table>")
    # Administrative procedures, as reported
    out.append(f"<h2>{e(s['service_figures'])}</h2><table><thead><tr><th></th><th>{e(s['period'])}</th>"
               f"<th>{e(s['received'])}</th><th>{e(s['online_dossiers'])}</th><th>{e(s['on_time'])}</th>"
               f"<th>{e(s['overdue'])}</th></tr></thead><tbody>")
    for sv in b.services or []:
        period = sv["period_start"].strftime("%d/%m/%Y") + (
            "–" + sv["period_end"].strftime("%d/%m/%Y") if sv["period_end"] else "")
        on_time = sv["on_time_or_early"] if sv["on_time_or_early"] is not None else sv["on_time"]
        out.append(f"<tr><td>{e(_label(vocab.SERVICE_AGENCIES, sv['agency'], lang))}</td><td>{period}</td>"
                   f"<td>{_num(sv['received'])}</td><td>{_num(sv['online'])}</td><td>{_num(on_time)}</td>"
                   f"<td>{_num(sv['overdue'])}</td></tr>")
    if not b.services:
        out.append(f"<tr><td colspan=6>{e(s['none'])}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _legend_html(b: facts.Briefing, lang: str, cat_colors: dict[str, str]) -> str:
    s = i18n.strings(lang)
    e = html.escape
    rows = [f"<b>{e(s['legend'])}</b>",
            f'<div><span class="br-sw line" style="background:#1f4e9c"></span>{e(b.unit["name"])}</div>',
            f'<div><span class="br-sw" style="background:#2c7a2c;width:7px;height:7px"></span>{e(s["villages"])}'
            "</div>",
            f'<div><span class="br-sw" style="background:#6fa0ff;border-color:#1f4fb4"></span>{e(s["patrol_point"])}'
            "</div>"]
    rows += [f'<div><span class="br-sw" style="background:{HQ_COLORS[t.code]};border-radius:0"></span>'
             f"{e(s['stations'])}: {e(t.vi if lang == 'vi' else t.en)}</div>"
             for t in vocab.HQ_STATUSES if any(st["hq_status"] == t.code for st in b.stations)]
    present = {f["properties"]["category"] for f in b.layers["incidents"]["features"]}
    rows += [f'<div><span class="br-sw" style="background:{cat_colors[t.code]}"></span>'
             f"{e(t.vi if lang == 'vi' else t.en)}</div>" for t in vocab.INCIDENT_CATEGORIES if t.code in present]
    return '<div class="br-legend">' + "".join(rows) + "</div>"


def coverage_figure(conn: psycopg.Connection, b: facts.Briefing, lang: str) -> str:
    """The coverage curve of the briefing's commune next to the province's (geo/coverage), as inline SVG under
    its heading; without a road graph, a line saying so instead of a figure."""
    s = i18n.strings(lang)
    settings = get_settings()
    try:
        run = coverage(conn, on=b.until.astimezone(TZ).date(), minutes=tuple(settings.coverage_minutes),
                       max_snap_m=settings.travel_snap_max_m, walk_kmh=settings.travel_walk_kmh)
    except TravelError as exc:
        return f"<h2>{html.escape(s['coverage_briefing'])}</h2><p>{html.escape(str(exc))}</p>"
    mine = run.villages[run.villages["unit_id"] == b.unit["id"]]
    curves = [(b.unit["name"], curve_points(mine, int(run.curve["minutes"].max())))] if len(mine) else []
    curves.append((i18n.label(vocab.UNIT_KINDS, "province", lang), run.curve))
    svg = curve_svg(curves, lang=lang, marks=run.minutes, roads_generated=bool(run.attrs["roads_generated"]),
                    note=str(run.attrs["note"]))
    # Sized in em of the summary column, so the column's fitting script shrinks the figure with the type.
    svg = svg.replace("<svg ", '<svg class="br-curve" style="display:block;height:21em;width:auto;max-width:100%" ',
                      1)
    return f"<h2>{html.escape(s['coverage_briefing'])}</h2>{svg}"


def situation_block(conn: psycopg.Connection, b: facts.Briefing, lang: str) -> str:
    """The situation panel's figures (data/ops/situation.py, the same function as GET /situation) as of the
    briefing's date, for a 2025 commune or the province, as a compact table; other units get none."""
    unit = b.unit
    if unit["kind"] == "province":
        communes = None
    elif unit["kind"] in vocab.COMMUNE_LEVEL_KINDS and unit["era"] == "2025":
        communes = [unit["code"]]
    else:
        return ""
    # The export is a local tool reading the whole database (like the CLI): a province-wide caller.
    at = b.until if b.until.tzinfo else b.until.replace(tzinfo=TZ)
    doc = situation_ops.situation(conn, Caller(None, "briefing", "admin"), at=at, communes=communes, latest=3)
    return situation_html(doc, lang)


def situation_html(doc: dict[str, Any], lang: str) -> str:
    s = i18n.strings(lang)
    e = html.escape
    at = datetime.fromisoformat(doc["at"])
    rows = []
    for key in ("24h", "7d"):
        p = doc["incidents"][key]
        rows.append(f"<tr><td>{e(s['situation_' + key])}</td><td>{_num(p['total'])}</td>"
                    f"<td>{_num(p['year_before']['total'])}</td><td>{p['change']:+d}</td></tr>")
    op, pat, st = doc["open"], doc["patrols"], doc["stations"]
    rows.append(f"<tr><td>{e(s['situation_open'])}</td><td>{_num(op['total'])}</td><td colspan=2>"
                f"{e(s['situation_stale'].replace('{h}', str(op['stale']['hours'])))}: {_num(op['stale']['count'])}"
                "</td></tr>")
    rows.append(f"<tr><td>{e(s['situation_patrols'])}</td><td>{_num(pat['overdue'])}</td>"
                f"<td colspan=2>{e(s['situation_points'])}: {_num(pat['points'])}</td></tr>")
    hq = ", ".join(f"{e(_label(vocab.HQ_STATUSES, code, lang))} {n}" for code, n in st["by_status"].items())
    rows.append(f"<tr><td>{e(s['situation_stations'])}</td><td colspan=3>{hq or e(s['none'])}</td></tr>")
    serious = "; ".join(f"{_fmt_date(datetime.fromisoformat(i['occurred_at']))} "
                        f"{e(_label(vocab.INCIDENT_CATEGORIES, i['category'], lang))}" for i in doc["serious"])
    rows.append(f"<tr><td>{e(s['situation_serious'])}</td><td colspan=3>{serious or e(s['none'])}</td></tr>")
    note = f"<p>{e(s['incidents_generated_note'])}</p>" if doc["incidents_generated"] else ""
    return (f'<div class="br-situation"><h2>{e(s["situation"])} ({e(s["situation_as_of"]).lower()} '
            f"{at.astimezone(TZ).strftime('%d/%m/%Y %H:%M')})</h2><table><thead><tr><th></th>"
            f"<th>{e(s['situation_count'])}</th><th>{e(s['situation_year_before'])}</th>"
            f"<th>{e(s['situation_change'])}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{note}</div>")


def render_html(b: facts.Briefing, lang: str = "vi", printed: datetime | None = None,
                coverage_svg: str = "", situation: str = "") -> str:
    """The briefing as one HTML document with every script, style and datum inlined (``coverage_svg``: the
    coverage figure of ``coverage_figure``, at the end of the summary column; ``situation``: the block of
    ``situation_block``, before it)."""
    s = i18n.strings(lang)
    e = html.escape
    printed = printed or datetime.now(TZ)
    cat_colors = CATEGORY_COLORS
    m = assets.offline_map(js=[assets.LEAFLET_JS], css=[assets.LEAFLET_CSS], inline=True, map_id="briefing",
                           location=[0, 0], zoom_start=10, control_scale=True, zoom_control=False, zoom_snap=0.25,
                           prefer_canvas=False)
    folium.GeoJson(b.layers["unit"], name="unit", style_function=lambda _f: {
        "color": "#1f4e9c", "weight": 3, "fillColor": "#1f4e9c", "fillOpacity": 0.04}).add_to(m)

    def points(fc: dict[str, Any], style: Any, tooltip_field: str | None = None) -> None:
        if not fc["features"]:
            return
        folium.GeoJson(fc, marker=folium.CircleMarker(radius=4), style_function=style,
                       tooltip=folium.GeoJsonTooltip([tooltip_field]) if tooltip_field else None).add_to(m)

    points(b.layers["villages"], lambda _f: {"radius": 3, "color": "#2c7a2c", "weight": 1, "fillColor": "#2c7a2c",
                                             "fill": True, "fillOpacity": 0.7}, "name")
    points(b.layers["patrol_points"], lambda _f: {"radius": 5, "color": "#1f4fb4", "weight": 1,
                                                  "fillColor": "#6fa0ff", "fill": True, "fillOpacity": 0.9}, "name")
    points(b.layers["incidents"], lambda f: {"radius": 5, "color": "#222", "weight": 1, "fill": True,
                                             "fillOpacity": 0.9,
                                             "fillColor": cat_colors.get(f["properties"]["category"], "#777")})
    points(b.layers["stations"], lambda f: {"radius": 8, "color": "#000", "weight": 2, "fill": True,
                                            "fillOpacity": 1,
                                            "fillColor": HQ_COLORS.get(f["properties"]["hq_status"], "#888")}, "name")
    bounds = folium.GeoJson(b.layers["unit"]).get_bounds()
    if bounds and bounds[0][0] is not None:
        m.fit_bounds(bounds, padding=(12, 12))
    unit_kind = _label(vocab.UNIT_KINDS, b.unit["kind"], lang)
    head = (f'<div class="br-head"><div class="br-mark">{e(s["security_marking"])}</div>'
            f"<h1>{e(s['briefing_title'])}: {e(b.unit['name'])}</h1>"
            f"<p>{e(unit_kind)} · {e(b.unit['code'])} · {e(s['period'])}: {_month_label(b.months[0])} – "
            f"{_fmt_date(b.until)} · {e(s['printed_at'])}: {printed.astimezone(TZ).strftime('%d/%m/%Y %H:%M')}"
            "</p></div>")
    north = f'<div class="br-north">{_NORTH_SVG}<br>{e(s["north"])}</div>'
    side = f'<div class="br-side">{_summary_html(b, lang)}{situation}{coverage_svg}</div>'
    foot = ('<div class="br-foot">sitmap · WGS84 (EPSG:4326) · '
            + e("© OpenStreetMap contributors (ODbL); GeoNames (CC BY 4.0)") + "</div>")
    root = m.get_root()
    root.header.add_child(folium.Element(f"<title>{e(s['briefing_title'])} — {e(b.unit['name'])}</title>"
                                         f"<style>{_CSS}</style>"), name="br_head")
    root.html.add_child(folium.Element(head + north + _legend_html(b, lang, cat_colors) + side + foot
                                       + _FIT_SCRIPT), name="br_body")
    return root.render()


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("headless Chromium is needed for PDF/PNG: apt-get install chromium")


def print_html(html_text: str, output: Path, fmt: str, timeout_s: float = 120) -> Path:
    """Render the page with headless Chromium to ``output`` as PDF (one A4 landscape page) or PNG (SHEET_PX)."""
    # Chromium's helper processes may still write into the profile as the browser exits ("directory not
    # empty" on cleanup, seen in a test run): a leftover temp folder must not fail a briefing already printed.
    with tempfile.TemporaryDirectory(prefix="sitmap-briefing-", ignore_cleanup_errors=True) as tmp:
        page = Path(tmp) / "briefing.html"
        page.write_text(html_text, encoding="utf-8")
        target = output.resolve()
        args = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                f"--user-data-dir={tmp}/profile", "--run-all-compositor-stages-before-draw",
                "--virtual-time-budget=3000"]
        if fmt == "pdf":
            args += [f"--print-to-pdf={target}", "--no-pdf-header-footer"]
        else:
            args += [f"--screenshot={target}", f"--force-device-scale-factor={PNG_SCALE}",
                     f"--window-size={SHEET_CSS_PX[0]},{SHEET_CSS_PX[1]}"]
        proc = subprocess.run([*args, page.as_uri()], capture_output=True, text=True, timeout=timeout_s,
                              check=False)
        if proc.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            raise RuntimeError(f"chromium could not print the briefing (exit {proc.returncode}): "
                               f"{proc.stderr.strip()[-500:]}")
    return target


def export(url: str, commune: str, fmt: str = "html", output: Path | None = None, lang: str = "vi",
           until: datetime | None = None) -> Path:
    """Write the briefing of ``commune`` (code or name) to ``output`` (default ``briefing-<code>.<fmt>``)."""
    if fmt not in ("html", "pdf", "png"):
        raise ValueError(f"unknown format {fmt!r}: use html, pdf or png")
    until = until or datetime.now(TZ)
    with psycopg.connect(url) as conn:
        b = facts.collect(conn, commune, until)
        figure = coverage_figure(conn, b, lang)
        block = situation_block(conn, b, lang)
    page = render_html(b, lang, coverage_svg=figure, situation=block)
    output = output or Path(f"briefing-{b.unit['code']}.{fmt}")
    if fmt == "html":
        output.write_text(page, encoding="utf-8")
        return output
    return print_html(page, output, fmt)
