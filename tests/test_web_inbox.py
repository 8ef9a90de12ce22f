"""The notification inbox on the map, in a real browser: a commune chief's map is open; a serious incident in
their commune is logged through the API; the bell's count goes up without a reload (the map's /live stream
carries the chief's own notification event), the list shows it unread, a click marks it read (the count drops,
the database row has read_at) and pans the map to it; "mark all read"; Vietnamese and English.

Reuses the fixtures of tests/test_web_browser.py (its own server and writable demo copy for this module).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from data.ops import signin, users
from tests import test_web_browser as base
from tests.test_web_browser import PASSWORD, Site, _open_map, _poll, _shot, _token

site = base.site
browser = base.browser
ctx = base.ctx

pytestmark = pytest.mark.browser
CHIEF = "inbox_chief"


@pytest.fixture(scope="module")
def chief(site: Site) -> int:
    """A commander scoped to the officer's commune: its commune chief under the demo's example rules."""
    async def add() -> int:
        async with await psycopg.AsyncConnection.connect(site.db, autocommit=True) as conn:
            return await users.add_user(conn, CHIEF, "commander", signin.hash_password(PASSWORD),
                                        [site.officer_commune["id"]])

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, add()).result()


def _report(site: Site, severity: str, category: str = "drugs") -> str:
    c = site.officer_commune
    iid = str(uuid.uuid4())
    body = {"id": iid, "category": category, "severity": severity, "occurred_at": datetime.now(UTC).isoformat(),
            "lon": c["lon"], "lat": c["lat"], "accuracy_m": 8, "description": "inbox browser test"}
    r = httpx.post(f"{site.base}/incidents", json=body,
                   headers={"Authorization": f"Bearer {_token(site.base, 'web_officer')}"})
    assert r.status_code == 201, r.text
    return iid


def _rows(site: Site, uid: int) -> list[tuple]:
    with psycopg.connect(site.db) as conn:
        return conn.execute("SELECT id, incident_id::text, read_at FROM notification WHERE user_id = %s ORDER BY id",
                            (uid,)).fetchall()


def _unread(page) -> int:
    return int(page.locator("#sm-bell").get_attribute("data-unread"))


def test_a_serious_incident_rings_the_chiefs_bell_live_and_a_click_reads_it(ctx, site, chief):
    context, rec = ctx
    page = _open_map(context, rec, site, sign_in=CHIEF)
    page.wait_for_selector("#sm-live.on")
    page.wait_for_selector("body[data-inbox-ready=true]")
    assert _rows(site, chief) == []
    assert _unread(page) == 0 and page.locator("#sm-bell-count").inner_text() == "0"

    # A less serious incident matches no example rule: the bell stays as it is.
    quiet = _report(site, "less_serious", "theft")
    iid = _report(site, "serious")
    page.wait_for_selector("#sm-bell[data-unread='1']", timeout=5000)
    [(nid, notified_incident, read_at)] = _rows(site, chief)
    assert notified_incident == iid and notified_incident != quiet and read_at is None
    assert page.locator("#sm-bell-count").inner_text() == "1"
    page.click("#sm-bell")
    item = page.locator(f"#sm-inbox-list li[data-id='{nid}']")
    item.wait_for()
    assert "unread" in item.get_attribute("class").split()
    text = item.inner_text()
    assert "Tội phạm nghiêm trọng" in text and "Ma túy" in text and site.officer_commune["name"] in text
    assert "chưa đọc" in text
    _shot(page, "map-inbox-unread.png")

    item.click()
    page.wait_for_selector("#sm-bell[data-unread='0']")
    assert _poll(lambda: _rows(site, chief)[0][2] is not None), "the click did not mark the row read"
    center = page.evaluate("(() => { var c = SitmapMap.state.map.getCenter(); return [c.lng, c.lat]; })()")
    assert center == pytest.approx([site.officer_commune["lon"], site.officer_commune["lat"]], abs=1e-4)
    page.click("#sm-bell")
    assert "read" in page.locator(f"#sm-inbox-list li[data-id='{nid}']").get_attribute("class").split()

    # In English, two more arrive live, newest first; "mark all read" reads them in the database too.
    page.click("#sm-lang")
    assert page.locator("#sm-inbox-all").inner_text() == "Mark all read"
    second, third = _report(site, "very_serious"), _report(site, "particularly_serious")
    page.wait_for_selector("#sm-bell[data-unread='2']", timeout=5000)
    ids = [r[0] for r in _rows(site, chief)]
    shown = page.locator("#sm-inbox-list li").evaluate_all("els => els.map(e => Number(e.dataset.id))")
    assert shown == ids[::-1]
    assert "Particularly serious crime" in page.locator("#sm-inbox-list li").first.inner_text()
    assert [r[1] for r in _rows(site, chief)] == [iid, second, third]
    _shot(page, "map-inbox-en.png")
    page.click("#sm-inbox-all")
    page.wait_for_selector("#sm-bell[data-unread='0']")
    assert _poll(lambda: all(r[2] is not None for r in _rows(site, chief)))
    # What the page shows is what the server says after a reload.
    page.reload()
    page.wait_for_selector("body[data-inbox-ready=true]")
    assert _unread(page) == 0
    assert rec.errors == []
    assert rec.foreign() == []


def test_the_bell_is_hidden_when_signed_out_and_for_nobody_elses_notifications(ctx, site, chief):
    context, rec = ctx
    page = _open_map(context, rec, site, sign_in=None)
    assert page.locator("#sm-bell").is_hidden()
    page.close()
    # The province commander hears of it too, on their own inbox; the chief's count is theirs alone.
    page = _open_map(context, rec, site, sign_in="web_commander")
    page.wait_for_selector("#sm-live.on")
    page.wait_for_selector("body[data-inbox-ready=true]")
    with psycopg.connect(site.db) as conn:
        unread = conn.execute("SELECT count(*) FROM notification n JOIN app_user u ON u.id = n.user_id "
                              "WHERE u.username = 'web_commander' AND n.read_at IS NULL").fetchone()[0]
    assert page.locator("#sm-bell").is_visible() and _unread(page) == unread
    _report(site, "serious")
    page.wait_for_selector(f"#sm-bell[data-unread='{unread + 1}']", timeout=5000)
    page.click("#sm-signout")
    page.wait_for_selector("body[data-user='']")
    assert page.locator("#sm-bell").is_hidden()
    assert rec.errors == []
