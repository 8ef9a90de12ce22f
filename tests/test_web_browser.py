"""The commanders' map and the officers' phone form in a real browser (Debian chromium through Playwright).

One writable demo database, one server and one browser for the whole module; each test opens its own
browser context (cookies, storage, service workers are per context). Every request the pages make is
recorded and must stay on the server's own address.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest

from data.ops import signin, users
from tests.conftest import clone_database, drop_database, free_port

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("SITMAP_TEST_ARTIFACTS", "test-artifacts"))
PASSWORD = "browser-test-pw-1"


@dataclass
class Site:
    base: str
    db: str
    officer_commune: dict = field(default_factory=dict)


def _poll(condition, timeout: float = 10.0, interval: float = 0.05):
    """Wait for ``condition()`` to be truthy (a poll, not a fixed sleep); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        select.select([], [], [], interval)


async def _add_users(url: str, commune_id: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await users.add_user(conn, "web_commander", "commander", signin.hash_password(PASSWORD), [])
        await users.add_user(conn, "web_officer", "officer", signin.hash_password(PASSWORD), [commune_id])


@pytest.fixture(scope="module")
def site(cluster, demo_template) -> Iterator[Site]:
    url = clone_database(cluster, demo_template)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT id, code, name, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM admin_unit "
            "WHERE era = '2025' AND EXISTS (SELECT 1 FROM patrol_point p WHERE p.unit_id = admin_unit.id) "
            "ORDER BY code LIMIT 1").fetchone()
    commune = {"id": row[0], "code": row[1], "name": row[2], "lon": row[3], "lat": row[4]}
    # Playwright's sync API may already own this thread's event loop: run the async ops in another thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _add_users(url, commune["id"])).result()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1", "--log-level", "warning"], env={**os.environ, "DATABASE_URL": url})
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    assert _poll(ready, timeout=60), "server did not become ready"
    yield Site(base, url, commune)
    proc.terminate()
    proc.wait(timeout=30)
    drop_database(cluster, url.split("/")[-1].split("?")[0])


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


class Recorder:
    """Every request, console error and page error of a browser context."""

    def __init__(self, context, base: str) -> None:
        self.base = base
        self.requests: list[str] = []
        self.errors: list[str] = []
        context.on("request", lambda r: self.requests.append(r.url))
        context.on("weberror", lambda e: self.errors.append(f"pageerror: {e.error}"))

    def watch(self, page) -> None:
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)

    def foreign(self) -> list[str]:
        return [u for u in self.requests if not u.startswith((self.base + "/", "data:", "blob:"))]


@pytest.fixture
def ctx(browser, site):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US",
                                  timezone_id="Europe/Berlin")
    rec = Recorder(context, site.base)
    yield context, rec
    context.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def _open_map(context, rec, site: Site, sign_in: str | None = "web_commander"):
    page = context.new_page()
    rec.watch(page)
    page.goto(site.base + "/")
    page.wait_for_selector("body[data-layers-ready=true]")
    if sign_in:
        page.click("#sm-signin-open")
        page.fill("#sm-signin input[name=username]", sign_in)
        page.fill("#sm-signin input[name=password]", PASSWORD)
        page.click("#sm-signin button[type=submit]")
        page.wait_for_selector(f"body[data-user={sign_in}]")
        # The switcher already lists the public layers: wait for the list reloaded for this user.
        page.wait_for_selector(f"body[data-layers-for={sign_in}]")
    return page


def test_map_loads_offline_clean_in_vietnamese_and_switches_to_english(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site, sign_in=None)
    # The browser asked for HTML at /, so the OGC landing page answered with the map.
    assert page.locator("#sm-top .sm-title").inner_text() == "Bản đồ tình hình an ninh trật tự"
    assert page.evaluate("document.documentElement.lang") == "vi"
    assert page.locator("h3[data-i18n=layers]").inner_text().lower() == "lớp bản đồ"
    first_layer = page.locator("#sm-layers label").first.inner_text()
    page.wait_for_function("() => document.querySelector('#sm-layers label[data-loaded=true]') !== null")
    _shot(page, "map-anonymous-vi.png")
    page.click("#sm-lang")
    assert page.locator("#sm-top .sm-title").inner_text() == "Security situation map"
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("h3[data-i18n=layers]").inner_text().lower() == "layers"
    assert page.locator("#sm-layers label").first.inner_text() != first_layer
    assert page.locator("#sm-search").get_attribute("placeholder") == "Find an administrative unit…"
    # The choice persists across a reload.
    page.reload()
    page.wait_for_selector("body[data-layers-ready=true]")
    assert page.locator("#sm-top .sm-title").inner_text() == "Security situation map"
    assert rec.errors == []
    assert rec.foreign() == []
    assert any("/static/vendor/leaflet/leaflet.js" in u for u in rec.requests)


def test_each_layer_toggles_and_legend_follows(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    ids = page.eval_on_selector_all("#sm-layers input", "els => els.map(e => e.dataset.layer)")
    # A commander sees the restricted operational layers too.
    assert {"communes", "incidents", "patrol-points", "stations"} <= set(ids)
    for layer in ids:
        box = page.locator(f"#sm-layers input[data-layer='{layer}']")
        was_on = box.is_checked()
        box.click()
        page.wait_for_function(f"() => SitmapMap.isOn('{layer}') === {str(not was_on).lower()}")
        legend = page.locator(f"#sm-legend .sm-legend-layer[data-layer='{layer}']")
        assert legend.count() == (0 if was_on else 1)
        box.click()
        page.wait_for_function(f"() => SitmapMap.isOn('{layer}') === {str(was_on).lower()}")
    _shot(page, "map-commander-layers.png")
    assert rec.errors == []
    assert rec.foreign() == []


def test_click_on_vector_tile_feature_opens_popup(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    c = site.officer_commune
    assert page.evaluate("SitmapMap.state.byId['communes'].render") == "tiles"
    # The tiles of the new view: wait for the layer's next 'load' (it was loaded at the first view).
    page.evaluate("SitmapMap.state.loaded['communes'] = false")
    page.evaluate(f"SitmapMap.state.map.setView([{c['lat']}, {c['lon']}], 11, {{animate: false}})")
    page.wait_for_function("() => SitmapMap.state.loaded['communes'] === true")
    # Leaflet keeps the previous zoom's tiles on top for a moment after 'load'; a click there would hit them.
    page.wait_for_function("() => Object.values(SitmapMap.state.leaflet['communes']._tiles)"
                           ".every(t => t.coords.z === SitmapMap.state.map.getZoom())")
    point = page.evaluate(
        f"(() => {{ const p = SitmapMap.state.map.latLngToContainerPoint([{c['lat']}, {c['lon']}]);"
        f" const r = SitmapMap.state.map.getContainer().getBoundingClientRect();"
        f" return [p.x + r.left, p.y + r.top]; }})()")
    page.mouse.click(point[0], point[1])
    popup = page.locator(".leaflet-popup .sm-popup[data-layer='communes']")
    popup.wait_for()
    assert c["name"] in popup.inner_text()
    _shot(page, "map-tile-popup.png")
    assert rec.errors == []  # the fakeStop shim: vectorgrid's click handler did not throw


def _token(base: str, username: str) -> str:
    r = httpx.post(f"{base}/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_incident_posted_through_api_appears_live_within_1s(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site)
    page.wait_for_selector("#sm-live.on")
    c = site.officer_commune
    token = _token(site.base, "web_officer")
    iid = str(uuid.uuid4())
    body = {"id": iid, "category": "drugs", "severity": "serious",
            "occurred_at": datetime.now(UTC).isoformat(), "lon": c["lon"], "lat": c["lat"], "accuracy_m": 8,
            "description": "browser live test"}
    t0 = time.monotonic()
    r = httpx.post(f"{site.base}/incidents", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    page.wait_for_selector(f"#sm-feed li[data-id='{iid}']", timeout=1000)
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0
    assert page.evaluate(f"!!SitmapMap.state.liveMarkers['{iid}']")
    assert "Ma túy" in page.locator(f"#sm-feed li[data-id='{iid}']").inner_text()
    _shot(page, "map-live-incident.png")
    assert rec.errors == []


def test_search_without_diacritics_finds_both_eras(ctx, site):
    context, rec = ctx
    page = _open_map(context, rec, site, sign_in=None)
    page.fill("#sm-search", "muong cha")
    page.wait_for_selector("#sm-search-results li.sm-result")
    current = page.locator("#sm-search-results li.sm-result:not(.former)").all_inner_texts()
    former = page.locator("#sm-search-results li.former").all_inner_texts()
    assert any(t.startswith("Xã Mường Chà") for t in current)
    township = next(t for t in former if t.startswith("Thị trấn Mường Chà"))
    district = next(t for t in former if t.startswith("Huyện Mường Chà"))
    assert "Đơn vị cũ" in township and "Nay thuộc" in township
    assert "Nay thuộc" in district
    _shot(page, "map-search.png")
    page.locator("#sm-search-results li.sm-result").first.click()
    assert page.evaluate("SitmapMap.state.map.getZoom()") >= 9
    assert rec.errors == []
    assert rec.foreign() == []


# ------------------------------------------------------------------------------------------- the phone form

def _count(db: str, description: str) -> int:
    with psycopg.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM incident WHERE description = %s", (description,)).fetchone()[0]


@pytest.fixture
def phone(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    rec = Recorder(context, site.base)
    page = context.new_page()
    rec.watch(page)
    open_phone_signed_in(page, site)
    page.wait_for_selector("body[data-area-cached=true]")
    yield context, page, rec
    context.close()


def open_phone_signed_in(page, site: Site, username: str = "web_officer") -> None:
    page.goto(site.base + "/web/m")
    page.wait_for_selector("#pf-signin:not([hidden])")
    page.fill("#pf-signin input[name=username]", username)
    page.fill("#pf-signin input[name=password]", PASSWORD)
    page.click("#pf-signin button[type=submit]")
    page.wait_for_selector(f"body[data-user={username}]")


def _tap_commune(page, site: Site) -> None:
    c = site.officer_commune
    point = page.evaluate(
        f"(() => {{ const m = SitmapPhone.state.map; const p = m.latLngToContainerPoint([{c['lat']}, {c['lon']}]);"
        f" const r = m.getContainer().getBoundingClientRect(); return [p.x + r.left, p.y + r.top]; }})()")
    page.mouse.click(point[0], point[1])
    page.wait_for_function("() => SitmapPhone.state.pos !== null")


def test_phone_form_posts_an_incident(phone, site):
    context, page, rec = phone
    assert page.locator("#pf-category option").count() == 10
    assert page.locator("#pf-category option[value=drugs]").inner_text() == "Ma túy"
    _tap_commune(page, site)
    description = f"phone test {uuid.uuid4()}"
    page.select_option("#pf-category", "theft")
    page.select_option("#pf-severity", "less_serious")
    page.fill("#pf-desc", description)
    page.click("#pf-send")
    assert _poll(lambda: _count(site.db, description) == 1, timeout=10)
    page.wait_for_function("() => document.getElementById('pf-queue').textContent === '0'")
    with psycopg.connect(site.db) as conn:
        cat, sev, acc, unit = conn.execute(
            "SELECT category, severity, accuracy_m, unit_id FROM incident WHERE description = %s",
            (description,)).fetchone()
    assert (cat, sev, unit) == ("theft", "less_serious", site.officer_commune["id"])
    assert acc is not None and acc > 0  # a tap carries its own precision
    _shot(page, "phone-sent.png")
    assert rec.errors == []
    assert rec.foreign() == []


def test_report_queued_offline_is_delivered_exactly_once(phone, site):
    context, page, rec = phone
    _tap_commune(page, site)
    description = f"offline test {uuid.uuid4()}"
    context.set_offline(True)
    page.wait_for_selector("body[data-online=false]")
    page.fill("#pf-desc", description)
    page.click("#pf-send")
    page.wait_for_function("() => document.getElementById('pf-queue').textContent === '1'")
    queued_id = page.evaluate("SitmapPhone.readQueue()[0].body.id")
    _shot(page, "phone-offline-queued.png")
    # Still offline: a retry round must not get through either.
    page.evaluate("SitmapPhone.flush()")
    assert _count(site.db, description) == 0
    context.set_offline(False)
    assert _poll(lambda: _count(site.db, description) == 1, timeout=10)
    page.wait_for_function("() => document.getElementById('pf-queue').textContent === '0'")
    # Further flushes and a reload send nothing again.
    page.evaluate("SitmapPhone.flush()")
    page.reload()
    page.wait_for_selector("body[data-user=web_officer]")
    page.evaluate("SitmapPhone.flush()")
    assert _count(site.db, description) == 1
    with psycopg.connect(site.db) as conn:
        assert str(conn.execute("SELECT id FROM incident WHERE description = %s",
                                (description,)).fetchone()[0]) == queued_id
    assert rec.foreign() == []
