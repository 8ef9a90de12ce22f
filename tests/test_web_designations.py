"""The commune popup says why a commune is (or would be) designated, in a real browser: a rule's proposal with
the statistics it saw (values against thresholds, met or not, the window, the hot-spot run, that its incidents
are generated) and who decided the demo's approved designations, in Vietnamese and in English, from the
communes layer and from the key-areas layer.

Reuses the fixtures of tests/test_web_browser.py (its own server and writable demo copy for this module).
"""

from __future__ import annotations

import json

import psycopg
import pytest

from tests import test_web_browser as base
from tests.test_web_browser import Site, _open_map, _shot
from tests.test_web_vocab import _only, click_at

site = base.site
browser = base.browser
ctx = base.ctx

pytestmark = pytest.mark.browser

RULE = "popup_test_drug_rate"
BASIS = {
    "rule": RULE, "kind": "drug_key",
    "rule_text": "Drug incidents per 1,000 residents in the top third of the communes",
    "rule_text_vi": "Số vụ ma túy trên 1.000 dân thuộc nhóm một phần ba cao nhất",
    "criteria": [{"statistic": "drug_incidents_per_1000", "op": ">=", "value": 6.5, "threshold": 3.125,
                  "quantile": "2/3", "passed": True, "evaluated": True, "reason": None},
                 {"statistic": "drug_hotspot_share", "op": ">=", "value": 0.4, "threshold": 0.2, "quantile": None,
                  "passed": True, "evaluated": True, "reason": None}],
    "window": {"start": "2025-11-01", "end": "2026-11-01", "months": 12},
    "hotspot_run_id": 4242, "incidents_generated": True}


@pytest.fixture(scope="module")
def proposal(site: Site) -> tuple[int, int]:
    """A rule's open proposal for the officer's commune and a commander's approval of another kind there
    (beside whatever the demo holds for it)."""
    with psycopg.connect(site.db) as conn:
        open_one = conn.execute(
            "INSERT INTO designation (kind, unit_id, status, origin, rule, basis, is_generated, geom) "
            "SELECT 'drug_key', id, 'proposed', 'rule', %s, %s::jsonb, true, ST_Multi(geom) FROM admin_unit "
            "WHERE id = %s RETURNING id", (RULE, json.dumps(BASIS), site.officer_commune["id"])).fetchone()[0]
        decided = conn.execute(
            "INSERT INTO designation (kind, unit_id, status, origin, basis, valid_from, proposed_by, decided_by, "
            "decided_at, decision_reason, geom) SELECT 'transformed', u.id, 'approved', 'planner', "
            "'{\"values\": {\"incidents\": 3}}'::jsonb, '2026-03-02', c.id, c.id, "
            "'2026-03-02 09:00+07', 'đủ căn cứ', ST_Multi(u.geom) FROM admin_unit u, app_user c "
            "WHERE u.id = %s AND c.username = 'web_commander' RETURNING id",
            (site.officer_commune["id"],)).fetchone()[0]
    return open_one, decided


def _click(page, layer: str, lon: float, lat: float, zoom: int):
    """Click the commune at ``zoom`` (another zoom than before, so that the layer's tiles load anew) and wait
    for its designations to be filled in."""
    click_at(page, layer, lon, lat, zoom)
    box = page.locator(f".leaflet-popup .sm-popup[data-layer='{layer}'] .sm-designations[data-filled=true]")
    box.wait_for()
    return box


def test_commune_popup_says_why_with_the_statistics_in_both_languages(ctx, site, proposal):
    context, rec = ctx
    c = site.officer_commune
    proposal, decided = proposal
    page = _open_map(context, rec, site)
    _only(page, "communes")
    box = _click(page, "communes", c["lon"], c["lat"], 11)
    mine = box.locator(f".sm-dsg[data-id='{proposal}']")
    text = mine.inner_text()
    assert "Địa bàn trọng điểm về ma túy" in text and "Đề xuất" in text and "Đề xuất theo tiêu chí" in text
    assert f"Căn cứ: {BASIS['rule_text_vi']}" in text and RULE in text
    row = mine.locator("tr[data-stat='drug_incidents_per_1000']").inner_text()
    assert "6.5" in row and ">= 3.125 (phân vị 2/3)" in row and "Đạt" in row
    assert "Thời kỳ số liệu: 01/11/2025 – 01/11/2026" in text
    assert "Lần phân tích điểm nóng #4242" in text
    assert "vụ việc giả lập" in text
    # An approved one says who decided, when and why (a commander sees who: a personal detail).
    approved = box.locator(f".sm-dsg[data-id='{decided}']").inner_text()
    assert "Đã chuyển hóa — Đã phê duyệt (đang có hiệu lực)" in approved
    assert "Quyết định 02/03/2026 09:00 bởi web_commander: «đủ căn cứ»" in approved
    assert "Hiệu lực: 02/03/2026 – chưa xác định" in approved
    # Decided first: the approved ones come before the proposal.
    order = box.locator(".sm-dsg").evaluate_all("els => els.map(e => e.dataset.status)")
    assert order.index("proposed") > max(i for i, s in enumerate(order) if s == "approved")
    _shot(page, "map-designations-popup-vi.png")

    page.click("#sm-lang")  # closes the popup; the key-areas layer shows the proposal too
    _only(page, "key-areas")
    box = _click(page, "key-areas", c["lon"], c["lat"], 12)
    text = box.locator(f".sm-dsg[data-id='{proposal}']").inner_text()
    assert "Drug key area" in text and "Proposed by a rule" in text
    assert f"Why: {BASIS['rule_text']}" in text
    row = box.locator(f".sm-dsg[data-id='{proposal}'] tr[data-stat='drug_hotspot_share']").inner_text()
    assert "0.4" in row and ">= 0.2" in row and "Met" in row
    assert "Data window: 01/11/2025 – 01/11/2026" in text and "Hot-spot run #4242" in text
    assert "Computed on generated incidents" in text
    assert "Đề xuất" not in text
    approved = box.locator(f".sm-dsg[data-id='{decided}']").inner_text()
    assert "Transformed area — Approved (in force)" in approved
    assert "Decided 02/03/2026 09:00 by web_commander: «đủ căn cứ»" in approved
    _shot(page, "map-designations-popup-en.png")
    assert rec.errors == []
    assert rec.foreign() == []
