"""Briefing export: a self-contained HTML page, and PDF/PNG printed by headless Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from data.ops.briefing import UnitNotFound
from web import briefing

ARTIFACTS = Path(os.environ.get("SITMAP_TEST_ARTIFACTS", "test-artifacts"))
UNTIL = datetime(2026, 11, 1, 12, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.refs.append(a["src"] or "")
        if tag == "link" and a.get("href"):
            self.refs.append(a["href"] or "")


def _fetched(page: str) -> list[str]:
    parser = _Refs()
    parser.feed(page)
    return [r for r in parser.refs if not r.startswith("data:")]


def test_html_is_self_contained_and_complete(demo_db, tmp_path):
    out = briefing.export(demo_db, "muong cha", "html", tmp_path / "b.html", until=UNTIL)
    page = out.read_text(encoding="utf-8")
    # Nothing to fetch: no script, style sheet or image from elsewhere, no url() to a file.
    assert _fetched(page) == []
    assert re.findall(r"url\((?!data:)[^)]*\.(?:png|svg|woff2?)\)", page) == []
    assert "L.map(" in page and "Xã Mường Chà" in page
    assert "MẬT" in page and "Lưu hành nội bộ" in page
    assert "Vụ việc theo loại và tháng" in page and "Trụ sở công an" in page
    assert "01/11/2026" in page  # dates as dd/mm/yyyy
    assert '"type": "FeatureCollection"' in page or '"type":"FeatureCollection"' in page


def test_png_is_the_sheet(demo_db, tmp_path):
    png = briefing.export(demo_db, "muong cha", "png", tmp_path / "b.png", until=UNTIL)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == briefing.SHEET_PX
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "briefing-muong-cha.png").write_bytes(data)


# -- the printed page, as a reader sees it ---------------------------------------------------------------

A4_LANDSCAPE_PT = (841.89, 595.28)
# What must be on the page, by the element that draws it.
REGIONS = {"map": ".folium-map", "legend": ".br-legend", "scale bar": ".leaflet-control-scale",
           "summary": ".br-side"}


def _pdf_pages(pdf: Path) -> tuple[int, tuple[float, float]]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    w, h = re.search(r"^Page size:\s+([\d.]+) x ([\d.]+) pts", info, re.M).groups()
    return pages, (float(w), float(h))


def _raster(pdf: Path, dpi: int = 96) -> np.ndarray:
    """Page 1 as an RGB array (pdftoppm's binary PPM)."""
    ppm = subprocess.run(["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", str(pdf)], capture_output=True,
                         check=True).stdout
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", ppm)
    w, h = int(m.group(1)), int(m.group(2))
    return np.frombuffer(ppm[m.end():m.end() + w * h * 3], dtype=np.uint8).reshape(h, w, 3)


def _layout(page_html: Path) -> dict:
    """The boxes of the page's regions in CSS px, as Chromium lays the page out for print."""
    from playwright.sync_api import sync_playwright

    w, h = briefing.SHEET_CSS_PX
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": w, "height": h})
            page.emulate_media(media="print")
            page.goto(page_html.resolve().as_uri())
            page.wait_for_selector(".leaflet-control-scale-line")
            page.wait_for_selector(".leaflet-overlay-pane path")
            return page.evaluate("""regions => {
                const box = el => { const r = el.getBoundingClientRect();
                                    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
                const out = {};
                for (const [name, sel] of Object.entries(regions)) out[name] = box(document.querySelector(sel));
                const side = document.querySelector('.br-side');
                out.summary_overflow = side.scrollHeight - side.clientHeight;
                out.summary_last = box(side.lastElementChild);
                return out;
            }""", REGIONS)
        finally:
            browser.close()


def _crop(img: np.ndarray, box: dict, scale: float) -> np.ndarray:
    return img[int(box["top"] * scale):int(box["bottom"] * scale), int(box["left"] * scale):int(box["right"] * scale)]


def _ink_share(region: np.ndarray) -> float:
    # Ink: darker than the map's grey background (#ddd), so a legend or scale bar that is not drawn counts 0.
    return float((region.mean(axis=2) < 200).mean())


def _assert_one_readable_page(page_html: Path, pdf: Path, must_read: list[str]) -> np.ndarray:
    pages, (w_pt, h_pt) = _pdf_pages(pdf)
    assert pages == 1, f"the briefing prints on {pages} pages"
    assert abs(w_pt - A4_LANDSCAPE_PT[0]) < 1.5 and abs(h_pt - A4_LANDSCAPE_PT[1]) < 1.5, (w_pt, h_pt)

    layout = _layout(page_html)
    sheet_w, sheet_h = briefing.SHEET_CSS_PX
    for name in REGIONS:
        b = layout[name]
        assert 0 <= b["left"] < b["right"] <= sheet_w and 0 <= b["top"] < b["bottom"] <= sheet_h, (name, b)
    # Nothing of the summary is cut off by its column (or the page).
    assert layout["summary_overflow"] <= 0, layout
    assert layout["summary_last"]["bottom"] <= layout["summary"]["bottom"], layout

    img = _raster(pdf)
    scale = img.shape[1] / (briefing.SHEET_MM[0] / 25.4 * 96)
    map_px = _crop(img, layout["map"], scale).astype(int)
    boundary_blue = (np.abs(map_px - np.array([0x1F, 0x4E, 0x9C])).sum(axis=2) < 60).sum()
    assert boundary_blue > 300, f"the commune boundary is not drawn on the map ({boundary_blue} px)"
    for name, least in (("legend", 0.05), ("scale bar", 0.05), ("summary", 0.02)):
        share = _ink_share(_crop(img, layout[name], scale))
        assert share > least, f"the {name} is blank on the page ({share:.3f} inked)"

    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for words in must_read:
        assert words in text, f"{words!r} is not on the page"
    return img


@pytest.mark.browser
def test_pdf_is_one_a4_landscape_page_with_map_legend_scale_and_summary(demo_db, tmp_path):
    page_html = briefing.export(demo_db, "Mường Chà", "html", tmp_path / "b.html", until=UNTIL)
    pdf = briefing.print_html(page_html.read_text(encoding="utf-8"), tmp_path / "b.pdf", "pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    _assert_one_readable_page(page_html, pdf, ["Xã Mường Chà", "Chú giải", "km", "Tổng hợp",
                                               "Vụ việc theo loại và tháng", "Trụ sở công an", "Thủ tục hành chính"])
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "96", "-png", "-singlefile", str(pdf), str(ARTIFACTS / "briefing-muong-cha-pdf")],
                   check=True)


@pytest.mark.browser
def test_a_long_summary_still_fits_the_page(demo_db_rw, tmp_path):
    # Many stations and service reports make the summary longer than its column at the normal type size.
    with psycopg.connect(demo_db_rw) as conn:
        uid = conn.execute("SELECT id FROM admin_unit WHERE era = '2025' AND code = '03166'").fetchone()[0]
        for i in range(1, 15):
            conn.execute("INSERT INTO station (code, name, kind, unit_id, hq_status, officers, geom) "
                         "SELECT %s, %s, 'border_post', id, 'planned', 12, ST_PointOnSurface(geom) "
                         "FROM admin_unit WHERE id = %s", (f"T-BP-{i:02d}", f"Đồn biên phòng thử {i:02d}", uid))
        for month in range(1, 6):
            conn.execute("INSERT INTO service_stat (unit_id, agency, period_start, received, online, overdue) "
                         "VALUES (%s, 'police', %s, 100, 90, 1)", (uid, f"2026-0{month}-01"))
    page_html = briefing.export(demo_db_rw, "03166", "html", tmp_path / "long.html", until=UNTIL)
    pdf = briefing.print_html(page_html.read_text(encoding="utf-8"), tmp_path / "long.pdf", "pdf")
    _assert_one_readable_page(page_html, pdf, ["Đồn biên phòng thử 14", "Thủ tục hành chính", "01/05/2026"])


def test_unknown_commune_names_candidates(demo_db, tmp_path):
    with pytest.raises(UnitNotFound) as exc:
        briefing.export(demo_db, "muong ch", "html", tmp_path / "x.html", until=UNTIL)
    assert "Mường Chà" in str(exc.value)


def test_cli_export(demo_db, tmp_path):
    out = tmp_path / "cli.html"
    env = {**os.environ, "DATABASE_URL": demo_db}
    ok = subprocess.run([sys.executable, "-m", "api.cli", "export", "briefing", "--commune", "muong cha",
                         "--output", str(out), "--until", "2026-11-01"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "Xã Mường Chà" in out.read_text(encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "api.cli", "export", "briefing", "--commune", "muong cha",
                          "--format", "svg"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "html, pdf or png" in bad.stderr
