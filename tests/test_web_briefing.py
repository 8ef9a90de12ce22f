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

import pytest

from data.briefing import UnitNotFound
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


def test_pdf_and_png_are_printed(demo_db, tmp_path):
    pdf = briefing.export(demo_db, "Mường Chà", "pdf", tmp_path / "b.pdf", until=UNTIL)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    png = briefing.export(demo_db, "muong cha", "png", tmp_path / "b.png", until=UNTIL)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == briefing.SHEET_PX
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "briefing-muong-cha.png").write_bytes(data)


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
