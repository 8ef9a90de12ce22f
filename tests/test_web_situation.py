"""The situation panel on the commanders' map in a real browser (Debian chromium through Playwright): it opens
at sign-in with the figures of GET /situation (checked against SQL), an incident logged through the API changes
its count without a reload (the /live event makes it read /situation again), a click on a serious incident pans
the map to it, the time filter gives it a window, and an officer gets no panel.

Reuses the fixtures of tests/test_web_browser.py (its own server and writable demo copy for this module).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from tests import test_web_browser as base
from tests.test_web_browser import PASSWORD, Site, _open_map, _poll, _shot

site = base.site
browser = base.browser
ctx = base.ctx

pytestmark = pytest.mark.browser


def _panel(page, loads: int = 1):
    page.wait_for_function(f"() => +(document.querySelector('#sm-situation') || {{dataset: {{}}}}).dataset.loads "
                           f">= {loads}")
    return page.locator("#sm-situation")


def _count_24h(db: str, at: str) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM incident WHERE occurred_at BETWEEN %s::timestamptz - "
                            "interval '24 hours' AND %s::timestamptz", (at, at)).fetchone()[0]


def _token(site: Site, who: str) -> dict[str, str]:
    r = httpx.post(f"{site.base}/auth/token", data={"username": who, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_panel_shows_the_figures_and_follows_a_new_incident_live(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    panel = _panel(page)
    assert panel.is_visible()
    doc = page.evaluate("SitmapSituation.state.doc")
    total = int(page.locator("#sm-sit-total-24h").inner_text())
    assert total == doc["incidents"]["24h"]["total"] == _count_24h(site.db, doc["at"])
    assert int(page.locator("#sm-sit-total-7d").inner_text()) == doc["incidents"]["7d"]["total"]
    assert page.locator("#sm-sit-open-total").inner_text() == str(doc["open"]["total"])
    assert page.locator("#sm-sit-stale-count").inner_text().strip() == str(doc["open"]["stale"]["count"])
    assert page.locator("#sm-sit-generated").is_visible()  # the demo's incidents are generated, and it says so
    assert "Vụ việc nghiêm trọng mới nhất" in panel.inner_text()
    # The map's default filter (30 days) is the panel's window.
    assert "window" in doc["incidents"] and doc["since"] is not None
    page.evaluate("window.__sameDocument = true")
    loads = int(panel.get_attribute("data-loads"))
    body = {"id": str(uuid.uuid4()), "category": "drugs", "severity": "very_serious",
            "occurred_at": (datetime.now().astimezone() - timedelta(minutes=3)).isoformat(),
            "lon": site.officer_commune["lon"], "lat": site.officer_commune["lat"], "accuracy_m": 10.0}
    r = httpx.post(f"{site.base}/incidents", json=body, headers=_token(site, "web_officer"), timeout=30)
    assert r.status_code == 201, r.text
    _panel(page, loads + 1)
    page.wait_for_function(f"() => +document.querySelector('#sm-sit-total-24h').textContent >= {total + 1}")
    assert page.evaluate("window.__sameDocument") is True  # no reload
    first = page.locator("#sm-sit-serious li").first
    assert first.get_attribute("data-id") == body["id"]
    _shot(page, "situation-panel.png")
    # In English too, drawn again from the same figures.
    page.click("#sm-lang")
    assert "Latest serious incidents" in panel.inner_text() and "Last 24 h" in panel.inner_text()
    assert rec.errors == [] and rec.foreign() == []


def test_clicking_a_serious_incident_pans_the_map(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    _panel(page)
    page.evaluate("SitmapMap.state.map.setView([10, 100], 6, {animate: false})")
    item = page.evaluate("SitmapSituation.state.doc.serious[0]")
    page.locator(f"#sm-sit-serious li[data-id='{item['id']}']").click()

    def centred():
        c = page.evaluate("(() => { const c = SitmapMap.state.map.getCenter();"
                          " return [c.lng, c.lat, SitmapMap.state.map.getZoom()]; })()")
        return c if abs(c[0] - item["lon"]) < 1e-4 and abs(c[1] - item["lat"]) < 1e-4 else None

    got = _poll(centred, timeout=10)
    assert got and got[2] >= 14, got


def test_the_time_filter_is_the_panels_window(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    panel = _panel(page)
    loads = int(panel.get_attribute("data-loads"))
    page.check("input[name=sm-time][value='7d']")
    _panel(page, loads + 1)
    doc = page.evaluate("SitmapSituation.state.doc")
    span = datetime.fromisoformat(doc["at"]) - datetime.fromisoformat(doc["since"])
    assert timedelta(days=7) - timedelta(minutes=5) < span <= timedelta(days=7) + timedelta(minutes=5)
    assert int(page.locator("#sm-sit-total-window").inner_text()) == doc["incidents"]["window"]["total"]


def test_an_officer_gets_no_panel(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site, sign_in="web_officer")
    # The panel asked /situation and was refused (403): button and panel stay hidden.
    page.wait_for_selector("#sm-situation[data-refused='403']", state="attached")
    assert page.locator("#sm-situation").is_hidden() and page.locator("#sm-situation-open").is_hidden()
    assert page.evaluate("SitmapSituation.state.doc") is None


def save_screenshot(base_url: str, db: str, username: str = "demo-commander",
                    out: str = "docs/situation-panel.png") -> None:
    """docs/situation-panel.png: the panel on a running server of the demo (``python -m tests.test_web_situation
    URL DSN``). The demo's passwords are not touched: a short cookie session of ``username`` is made directly (as
    tests/opsworld.py makes its sessions) and revoked afterwards."""
    import asyncio

    from playwright.sync_api import sync_playwright

    from api.security import COOKIE_NAME
    from data.ops import signin, users
    from tests.test_web_browser import CHROMIUM_ARGS

    token = signin.new_token()

    async def session(make: bool) -> None:
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            if make:
                cur = await conn.execute("SELECT id FROM app_user WHERE username = %s", (username,))
                uid = (await cur.fetchone())[0]
                await users.create_session(conn, signin.token_hash(token), uid, "cookie", timedelta(minutes=10), None)
            else:
                await users.revoke_session(conn, signin.token_hash(token))

    asyncio.run(session(True))
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = b.new_context(viewport={"width": 1500, "height": 1150}, locale="vi-VN",
                                    timezone_id="Asia/Ho_Chi_Minh")
            context.add_cookies([{"name": COOKIE_NAME, "value": token, "url": base_url}])
            page = context.new_page()
            page.goto(base_url + "/")
            page.wait_for_selector(f"body[data-user={username}]")
            _panel(page)
            page.wait_for_selector("body[data-layers-for=" + username + "]")
            page.wait_for_selector("#sm-live.on")
            page.screenshot(path=out)
            b.close()
    finally:
        asyncio.run(session(False))


if __name__ == "__main__":
    import sys

    save_screenshot(sys.argv[1], sys.argv[2], *sys.argv[3:])
