"""The map's Report button in a real browser: a commander downloads the 2026-Q3 workbook, which openpyxl opens
with the expected sheets and the incident count of SQL; a bad period shows the server's refusal; an officer
gets no button. Reuses the fixtures of tests/test_web_browser.py (its own server and demo copy for this module).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import openpyxl
import psycopg
import pytest

from tests import test_web_browser as base
from tests.test_web_browser import _open_map, _shot

site = base.site
browser = base.browser
ctx = base.ctx

pytestmark = pytest.mark.browser

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def _incidents(url: str, start: datetime, end: datetime) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM incident WHERE unit_id IS NOT NULL AND occurred_at >= %s AND "
                            "occurred_at < %s", (start, end)).fetchone()[0]


def test_report_button_downloads_a_workbook_openpyxl_opens(ctx, site, tmp_path):
    context, rec = ctx
    page = _open_map(context, rec, site)
    button = page.locator("#sm-report-open[data-ready=true]")
    button.wait_for()
    assert button.inner_text() == "Báo cáo"
    button.click()
    page.fill("#sm-report-period", "2026-Q3")
    page.select_option("#sm-report-format", "xlsx")
    assert page.locator("#sm-report-commune option").first.get_attribute("value") == "all"
    with page.expect_download(timeout=120_000) as info:
        page.click("#sm-report-download")
    download = info.value
    assert download.suggested_filename == "sitmap-report-2026-Q3-all.xlsx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    page.wait_for_selector("#sm-report-status[data-state=report_done]")
    assert download.suggested_filename in page.locator("#sm-report-status").inner_text()
    _shot(page, "map-report-dialog.png")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Thông tin", "Vụ việc", "So sánh cùng kỳ", "Giải quyết", "Thời gian phản ứng",
                               "Tuần tra", "Thủ tục hành chính", "Tình hình cuối kỳ", "Biểu đồ"]
    sheet = book["Vụ việc"]
    assert sheet.freeze_panes == "A3"
    total = sum(r[4] for r in sheet.iter_rows(min_row=3, values_only=True))
    assert total == _incidents(site.db, datetime(2026, 7, 1, tzinfo=HCM), datetime(2026, 10, 1, tzinfo=HCM)) > 0
    info_text = " ".join(str(c.value) for row in book["Thông tin"].iter_rows() for c in row if c.value)
    assert "generated" in info_text
    # In English the button and the dialog follow.
    page.click("#sm-lang")
    assert page.locator("#sm-report-open").inner_text() == "Report"
    assert page.locator("#sm-report-download").inner_text() == "Download"
    assert rec.errors == [] and rec.foreign() == []


def test_bad_period_shows_the_refusal_and_officers_get_no_button(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    page.locator("#sm-report-open[data-ready=true]").click()
    page.fill("#sm-report-period", "2026-Q9")
    # The browser's own pattern check would stop the form: send it as the server sees it.
    page.evaluate("document.getElementById('sm-report-period').removeAttribute('pattern')")
    page.click("#sm-report-download")
    page.wait_for_selector("#sm-report-status[data-state=report_failed]")
    assert "2026-Q9" in page.locator("#sm-report-status").inner_text()
    other = context.browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        officer = _open_map(other, rec, site, sign_in="web_officer")
        officer.wait_for_selector("#sm-report-open[data-for=web_officer]", state="attached")
        assert officer.locator("#sm-report-open").get_attribute("data-ready") == "false"
        assert officer.locator("#sm-report-open").is_hidden()
    finally:
        other.close()
