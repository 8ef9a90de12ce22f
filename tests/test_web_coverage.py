"""The map's station-coverage panel in a real browser: a commander opens it and the coverage curve that
GET /analyses/coverage/curve.svg draws is shown (in the page's language, with the generated-roads note), the
table and the underserved villages download as CSV with the province's figures, and an officer gets no
button. Reuses the fixtures of tests/test_web_browser.py (its own server and demo copy for this module)."""

from __future__ import annotations

import csv
import io

import pytest

from tests import test_web_browser as base
from tests.test_web_browser import _open_map, _shot

site = base.site
browser = base.browser
ctx = base.ctx

pytestmark = pytest.mark.browser


def _fetch_text(page, href: str) -> str:
    return page.evaluate("href => fetch(href, {credentials: 'same-origin'}).then(r => r.text())", href)


def _csv_rows(text: str) -> list[dict[str, str]]:
    """The rows of a sitmap CSV: its ``#`` provenance lines first (they say the roads are generated)."""
    lines = text.lstrip("\ufeff").splitlines()
    notes = [line for line in lines if line.startswith("#")]
    assert any("generated" in line.lower() or "true" in line.lower() for line in notes), notes
    return list(csv.DictReader(io.StringIO("\n".join(line for line in lines if not line.startswith("#")))))


def test_the_coverage_panel_shows_the_curve_and_its_csvs(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    button = page.locator("#sm-coverage-open")
    button.wait_for()
    assert button.inner_text() == "Độ phủ của trụ sở công an"
    button.click()
    img = page.locator("#sm-coverage-img")
    img.wait_for(state="visible", timeout=60_000)
    assert page.evaluate("document.getElementById('sm-coverage-img').naturalWidth") > 0
    src = img.get_attribute("src")
    assert src.startswith("/analyses/coverage/curve.svg?lang=vi")
    svg = _fetch_text(page, src)
    assert svg.lstrip().startswith("<svg") or "<svg" in svg[:300]
    _shot(page, "map-coverage-panel.png")
    table = _csv_rows(_fetch_text(page, page.locator("#sm-coverage-csv").get_attribute("href")))
    assert table[0]["scope"] == "province" and {r["scope"] for r in table[1:]} == {"commune"}
    assert sum(int(r["population"]) for r in table[1:]) == int(table[0]["population"])
    under = _csv_rows(_fetch_text(page, page.locator("#sm-coverage-underserved").get_attribute("href")))
    assert under and int(float(under[0]["population"])) >= int(float(under[-1]["population"]))
    # In English the picture is asked again in English.
    page.click("#sm-lang")
    page.wait_for_function("document.getElementById('sm-coverage-img').src.includes('lang=en')")
    assert page.locator("#sm-coverage-open").inner_text() == "Station coverage"
    page.click("#sm-coverage-close")
    assert page.locator("#sm-coverage").is_hidden()
    assert rec.errors == [] and rec.foreign() == []


def test_officers_get_no_coverage_button(ctx, site):
    context, rec = ctx
    other = context.browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = _open_map(other, rec, site, sign_in="web_officer")
        page.wait_for_selector("#sm-coverage-open", state="attached")
        assert page.locator("#sm-coverage-open").is_hidden()
    finally:
        other.close()
