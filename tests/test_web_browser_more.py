"""More of the web map in a real browser: the time filter, the phone's patrol check-in, the live stream
resuming after a dropped connection, and popups that depend on the user's role.

Reuses the fixtures of tests/test_web_browser.py (its own server and writable demo copy for this module).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import re
import select
import socket
import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import mapbox_vector_tile
import psycopg
import pytest

from data.ops import signin, users
from tests import test_web_browser as base
from tests.conftest import free_port
from tests.test_web_browser import PASSWORD, Recorder, Site, _open_map, _poll, _shot, _token

# The fixtures of the first module, found by name here (module-scoped: this module gets its own server).
site = base.site
browser = base.browser
ctx = base.ctx
phone = base.phone

pytestmark = pytest.mark.browser


def _post_incident(site: Site, *, occurred_at: datetime, description: str, category: str = "theft",
                   lon: float | None = None, lat: float | None = None, severity: str = "serious") -> str:
    c = site.officer_commune
    iid = str(uuid.uuid4())
    body = {"id": iid, "category": category, "severity": severity, "occurred_at": occurred_at.isoformat(),
            "lon": c["lon"] if lon is None else lon, "lat": c["lat"] if lat is None else lat, "accuracy_m": 5,
            "description": description}
    r = httpx.post(f"{site.base}/incidents", json=body,
                   headers={"Authorization": f"Bearer {_token(site.base, 'web_officer')}"})
    assert r.status_code == 201, r.text
    return iid


# A theft below every alert rule (the demo's rules notify serious-or-worse incidents): its write is exactly one
# event on the stream, with no notification event behind it, so the last id the page saw is the last there is.
ONE_EVENT = {"severity": "less_serious"}


# ------------------------------------------------------------------------------------------- time filter

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
INCIDENT_TILES = "/collections/incidents/tiles/WebMercatorQuad/"


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _number(site: Site, incident_id: str) -> str:
    with psycopg.connect(site.db) as conn:
        return str(conn.execute("SELECT number FROM incident WHERE id = %s", (incident_id,)).fetchone()[0])


def _shown_incidents(page) -> set[str]:
    """The incident numbers (tile feature ids) drawn in the incidents tiles of the current zoom."""
    return set(page.evaluate(
        "(() => { const l = SitmapMap.state.leaflet['incidents'], z = SitmapMap.state.map.getZoom();"
        " const ids = []; Object.values(l._vectorTiles).forEach(t => { if (t.getCoord().z === z)"
        " ids.push(...Object.keys(t._features)); }); return ids; })()"))


def _interval(url: str) -> tuple[str, str]:
    values = parse_qs(urlsplit(url).query).get("datetime")
    assert values and len(values) == 1, url
    start, _, end = values[0].partition("/")
    return start, end


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _decode(base: str, url: str, token: str, *, drop_datetime: bool = False) -> list[dict]:
    parts = urlsplit(url)
    query = "" if drop_datetime else parts.query
    r = httpx.get(f"{base}{parts.path}" + (f"?{query}" if query else ""),
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 204), r.text
    if r.status_code == 204:
        return []
    return mapbox_vector_tile.decode(r.content).get("incidents", {}).get("features", [])


def _apply_range(page, rec, label: str, dates: tuple[date, date] | None = None) -> list[str]:
    """Choose a range by its (Vietnamese) label; return the incident tile URLs the page then loaded."""
    rec.requests.clear()
    page.evaluate("SitmapMap.state.loaded['incidents'] = false")
    page.locator("#sm-time > label", has_text=label).click()
    if dates:
        page.fill("#sm-time-from", dates[0].isoformat())
        page.fill("#sm-time-to", dates[1].isoformat())
        page.click("#sm-time-apply")
    page.wait_for_function("() => SitmapMap.state.loaded['incidents'] === true")
    return [u for u in rec.requests if INCIDENT_TILES in u]


def test_time_filter_changes_the_incidents_shown_and_the_server_honours_it(ctx, site):
    context, rec = ctx
    c = site.officer_commune
    now = datetime.now(UTC)
    # Tiles identify an incident by its number (the MVT feature id).
    posted = {name: _number(site, _post_incident(site, occurred_at=now - age, description=f"time filter {name}"))
              for name, age in (("h2", timedelta(hours=2)), ("d3", timedelta(days=3)), ("d20", timedelta(days=20)))}
    page = _open_map(context, rec, site)
    z = 12
    page.evaluate("SitmapMap.state.loaded['incidents'] = false")
    page.evaluate(f"SitmapMap.state.map.setView([{c['lat']}, {c['lon']}], {z}, {{animate: false}})")
    page.wait_for_function("() => SitmapMap.state.loaded['incidents'] === true")
    # The default range is the last 30 days.
    assert page.is_checked("input[name=sm-time][value='30d']")
    assert page.locator("#sm-time > label", has_text="30 ngày qua").locator("input").is_checked()
    assert _shown_incidents(page) & set(posted.values()) == set(posted.values())
    token = _token(site.base, "web_commander")
    here = "/{}/{}/{}".format(z, *reversed(_tile_of(c["lon"], c["lat"], z)))  # /z/row/col

    d20_local = (now - timedelta(days=20)).astimezone(HCM).date()
    custom = (d20_local - timedelta(days=10), d20_local)
    cases = [
        ("24h", "24 giờ qua", None, {"h2"}),
        ("7d", "7 ngày qua", None, {"h2", "d3"}),
        ("custom", "Tùy chọn", custom, {"d20"}),
    ]
    for value, label, dates, expected in cases:
        urls = _apply_range(page, rec, label, dates)
        assert page.is_checked(f"input[name=sm-time][value='{value}']")
        assert urls, f"no incident tiles were loaded after choosing {value}"
        intervals = {_interval(u) for u in urls}
        assert len(intervals) == 1, intervals
        start, end = intervals.pop()
        if dates is None:
            hours = {"24h": 24, "7d": 24 * 7}[value]
            assert abs(_instant(start) - (datetime.now(UTC) - timedelta(hours=hours))) < timedelta(minutes=2)
            assert end == ".."
        else:
            assert _instant(start) == datetime.combine(dates[0], datetime.min.time(), HCM)
            assert _instant(end) == datetime.combine(dates[1], datetime.max.time(), HCM).replace(microsecond=0)
        shown = _shown_incidents(page) & set(posted.values())
        assert shown == {posted[n] for n in expected}, (value, shown)
        _shot(page, f"map-time-filter-{value}.png")
        # The server honours the interval: the same tile without it holds these features and more.
        url = next(u for u in urls if f"{INCIDENT_TILES.rstrip('/')}{here}" in u)
        filtered = _decode(site.base, url, token)
        unfiltered = _decode(site.base, url, token, drop_datetime=True)
        lo, hi = _instant(start), (None if end == ".." else _instant(end))
        ids = {str(f["id"]) for f in filtered}
        assert ids <= {str(f["id"]) for f in unfiltered}
        assert len(filtered) < len(unfiltered)
        assert {posted[n] for n in expected} <= ids
        for f in filtered:
            at = datetime.fromtimestamp(f["properties"]["occurred_at"], UTC)  # whole seconds
            assert at > lo - timedelta(seconds=1) and (hi is None or at <= hi), (value, f["properties"])
        # ... and exactly the incidents of the database in that interval and tile.
        with psycopg.connect(site.db) as conn:
            in_db = {str(r[0]) for r in conn.execute(
                "SELECT number FROM incident WHERE geom_3857 && ST_TileEnvelope(%s, %s, %s, margin => 64.0 / 4096)"
                " AND occurred_at >= %s AND (%s::timestamptz IS NULL OR occurred_at <= %s)",
                (z, *_tile_of(c["lon"], c["lat"], z), lo, hi, hi))}
        assert ids == in_db, value
    assert rec.errors == []
    assert rec.foreign() == []


# ------------------------------------------------------------------------------------------- patrol check-in

def _point_feature(site: Site, pid: int, token: str) -> dict:
    r = httpx.get(f"{site.base}/collections/patrol-points/items/{pid}", params={"f": "geojson"},
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()["properties"]


def test_phone_patrol_check_in_is_recorded_once_and_updates_the_point(phone, site):
    context, page, rec = phone
    with psycopg.connect(site.db) as conn:
        # A point of the officer's commune, overdue if any is (the check-in should clear that).
        pid, lon, lat = conn.execute(
            "SELECT p.id, ST_X(p.geom), ST_Y(p.geom) FROM patrol_point p LEFT JOIN LATERAL ("
            " SELECT max(visited_at) AS last FROM patrol_visit WHERE patrol_point_id = p.id AND accepted) v ON true"
            " WHERE p.unit_id = %s ORDER BY (v.last IS NULL OR v.last < now() - make_interval("
            "hours => p.visit_interval_hours)) DESC, p.id LIMIT 1", (site.officer_commune["id"],)).fetchone()
        officer_id = conn.execute("SELECT id FROM app_user WHERE username = 'web_officer'").fetchone()[0]
        visits_before = conn.execute("SELECT count(*) FROM patrol_visit WHERE patrol_point_id = %s",
                                     (pid,)).fetchone()[0]
    token = _token(site.base, "web_officer")
    before = _point_feature(site, pid, token)
    assert before["overdue"] is True  # the demo's last visits lie weeks back
    # The officer's area (with this point) is on the phone; stand 10 px east of the point and tap there.
    assert page.evaluate(f"SitmapPhone.state.points.features.some(f => f.id === {pid})")
    def tap_next_to_point() -> bool:
        # The page may still re-fit its map to the officer's area (a late load): centre on the point, tap 10 px
        # east, and report whether the tap really landed next to it (else tap again).
        page.evaluate(f"SitmapPhone.state.map.setView([{lat}, {lon}], 17, {{animate: false}})")
        x, y = page.evaluate(
            f"(() => {{ const m = SitmapPhone.state.map; const p = m.latLngToContainerPoint([{lat}, {lon}]);"
            f" const r = m.getContainer().getBoundingClientRect(); return [p.x + r.left + 10, p.y + r.top]; }})()")
        page.mouse.click(x, y)
        page.wait_for_function("() => SitmapPhone.state.pos !== null && SitmapPhone.state.pos.how === 'tap'")
        return page.evaluate(f"SitmapPhone.state.map.distance([{lat}, {lon}],"
                             " [SitmapPhone.state.pos.lat, SitmapPhone.state.pos.lon]) < 50")

    assert _poll(tap_next_to_point, timeout=10), "the tap never landed next to the patrol point"
    pos = page.evaluate("SitmapPhone.state.pos")
    # The nearest point comes first in the list, with its distance; its button checks in.
    first = page.locator("#pf-points li").first
    assert first.get_attribute("data-id") == str(pid)
    shown_distance = re.search(r" · (\d+) m$", first.locator("span").inner_text())
    assert shown_distance, first.inner_text()
    started = datetime.now(UTC)
    first.get_by_role("button", name="Điểm danh").click()

    def recorded():
        with psycopg.connect(site.db) as conn:
            return conn.execute(
                "SELECT client_id, user_id, accepted, distance_m, accuracy_m, visited_at,"
                " ST_Distance(geom::geography, (SELECT geom FROM patrol_point WHERE id = %s)::geography)"
                " FROM patrol_visit WHERE patrol_point_id = %s AND visited_at >= %s - interval '5 seconds'",
                (pid, pid, started)).fetchall()

    rows = _poll(recorded, timeout=10)
    assert len(rows) == 1, rows
    page.wait_for_function("() => document.getElementById('pf-queue').textContent === '0'")
    assert page.locator("#pf-msg").inner_text() == "Đã gửi (Đã điểm danh)"
    # Another flush round and a reload send nothing again.
    page.evaluate("SitmapPhone.flush()")
    page.reload()
    page.wait_for_selector("body[data-user=web_officer]")
    page.evaluate("SitmapPhone.flush()")
    rows = recorded()
    assert len(rows) == 1, rows
    client_id, user_id, accepted, distance, accuracy, visited_at, true_distance = rows[0]
    assert user_id == officer_id
    assert accepted is True, f"not accepted: stored distance {distance} m, true {true_distance} m, tap {pos}"
    assert 0 < distance < 200 and abs(distance - true_distance) < 1
    assert abs(int(shown_distance.group(1)) - distance) <= 1  # what the officer saw is what was stored
    assert accuracy == pytest.approx(pos["accuracy"])
    with psycopg.connect(site.db) as conn:
        assert conn.execute("SELECT count(*) FROM patrol_visit WHERE patrol_point_id = %s",
                            (pid,)).fetchone()[0] == visits_before + 1
    # The patrol-points layer now shows this visit as the last one, and the point is no longer overdue.
    after = _point_feature(site, pid, token)
    assert after["last_visit_at"] != before["last_visit_at"]
    assert _instant(after["last_visit_at"]) == visited_at
    assert after["overdue"] is False
    _shot(page, "phone-checked-in.png")
    assert rec.errors == []
    assert rec.foreign() == []



def test_phone_map_stays_where_the_officer_moved_it_when_the_area_arrives_late(browser, site):
    # No service worker here: the page's own requests must reach the route that holds the area back.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", service_workers="block")
    held: list = []
    try:
        rec = Recorder(context, site.base)
        page = context.new_page()
        rec.watch(page)
        page.route("**/collections/communes/items*", lambda route: held.append(route))
        base.open_phone_signed_in(page, site)
        # (Each evaluate lets Playwright dispatch the route event.)
        assert _poll(lambda: page.evaluate("true") and len(held) > 0, timeout=10), "the area was never asked for"
        # The officer drags the map while the area is still on its way.
        box = page.locator(".leaflet-container").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x - 120, y - 80, steps=8)
        page.evaluate("window.smMoved = new Promise(r => SitmapPhone.state.map.once('moveend', r)); 0")
        page.mouse.up()
        page.evaluate("window.smMoved.then(() => 0)")  # the drag's inertia has come to rest
        assert page.evaluate("SitmapPhone.state.viewChosen")
        chosen = page.evaluate("(() => { const c = SitmapPhone.state.map.getCenter(); return [c.lat, c.lng,"
                               " SitmapPhone.state.map.getZoom()]; })()")
        held.pop().continue_()
        page.wait_for_selector("body[data-area-cached=true]")
        assert page.evaluate("SitmapPhone.state.unitLayer !== null")  # the area is drawn ...
        after = page.evaluate("(() => { const c = SitmapPhone.state.map.getCenter(); return [c.lat, c.lng,"
                              " SitmapPhone.state.map.getZoom()]; })()")
        assert after == chosen  # ... and the map did not jump back to fit it
        assert rec.errors == []
    finally:
        for route in held:
            route.continue_()
        context.close()

# ------------------------------------------------------------------------------------------- role popups

async def _add_planner(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await users.add_user(conn, "web_planner", "planner", signin.hash_password(PASSWORD), [])


@pytest.fixture(scope="module")
def planner(site) -> str:
    # Playwright's sync API may own this thread's event loop: run the async op in another thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _add_planner(site.db)).result()
    return "web_planner"


def _quiet_spot(site: Site) -> tuple[float, float]:
    """A point of the officer's commune at least 300 m from every incident (so a click hits only ours)."""
    with psycopg.connect(site.db) as conn:
        row = conn.execute(
            "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 200, 7))).geom AS g"
            " FROM admin_unit WHERE id = %s) AS p WHERE NOT EXISTS (SELECT 1 FROM incident i"
            " WHERE ST_DWithin(i.geom::geography, p.g::geography, 300)) LIMIT 1",
            (site.officer_commune["id"],)).fetchone()
    assert row, "no spot of the commune is 300 m from every incident"
    return row[0], row[1]


def _click_incident(page, lon: float, lat: float):
    page.evaluate("SitmapMap.state.loaded['incidents'] = false")
    page.evaluate(f"SitmapMap.state.map.setView([{lat}, {lon}], 16, {{animate: false}})")
    page.wait_for_function("() => SitmapMap.state.loaded['incidents'] === true")
    page.wait_for_function("() => Object.values(SitmapMap.state.leaflet['incidents']._tiles)"
                           ".every(t => t.coords.z === SitmapMap.state.map.getZoom())")
    x, y = page.evaluate(
        f"(() => {{ const p = SitmapMap.state.map.latLngToContainerPoint([{lat}, {lon}]);"
        f" const r = SitmapMap.state.map.getContainer().getBoundingClientRect();"
        f" return [p.x + r.left, p.y + r.top]; }})()")
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup .sm-popup[data-layer='incidents'][data-full=true]")
    popup.wait_for()
    # Opened where the incident is (not merely where the mouse was), and faded in for the screenshot.
    assert page.evaluate("SitmapMap.state.map._popup.getLatLng().distanceTo"
                         f"(L.latLng({lat}, {lon}))") < 5
    page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
    return popup


def test_incident_popup_shows_the_description_to_a_commander_not_to_a_planner(browser, site, planner):
    lon, lat = _quiet_spot(site)
    secret = f"Nguyễn Văn A báo mất xe máy {uuid.uuid4().hex[:8]}"
    iid = _post_incident(site, occurred_at=datetime.now(UTC) - timedelta(hours=1), description=secret,
                         category="theft", lon=lon, lat=lat)
    number = _number(site, iid)
    for user, sees in (("web_commander", True), (planner, False)):
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        try:
            rec = Recorder(context, site.base)
            page = _open_map(context, rec, site, sign_in=user)
            popup = _click_incident(page, lon, lat)
            text = popup.inner_text()
            assert "Trộm cắp tài sản" in text  # the category, which every role sees
            # The tile's feature id is the incident number: the popup found the incident by it.
            assert f"Số vụ việc\t{number}" in text, (user, text)
            # The commune by its name, not its database id.
            assert f"Tên xã, phường\t{site.officer_commune['name']}" in text and "\nXã, phường\t" not in text
            assert (secret in text) is sees, (user, text)
            assert ("Nội dung" in text) is sees, (user, text)
            _shot(page, f"map-popup-{user}.png")
            assert rec.errors == []
            assert rec.foreign() == []
        finally:
            context.close()


# ------------------------------------------------------------------------------------------- live resume

class CuttableProxy:
    """A TCP relay in front of the server whose connections the test can cut (a dropped mobile link).

    Chromium's offline emulation leaves an open stream alone, so the drop is made here: ``cut()`` closes
    every relayed connection, and while ``refusing`` new connections are closed at once (the link is down).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.refusing = threading.Event()
        self.accepted = 0
        self.heads: list[str] = []  # the request heads the browser sent (what a server log would show)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self.accepted += 1
                self._open |= {client, upstream}
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is a and data[:4] in (b"GET ", b"POST"):
                        self.heads.append(data.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._open.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def cut(self) -> None:
        with self._lock:
            victims = list(self._open)
        for s in victims:
            self._close(s)

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        self.cut()


def test_live_stream_resumes_after_a_dropped_connection_without_loss_or_repeat(browser, site):
    proxy = CuttableProxy(int(site.base.rsplit(":", 1)[1]))
    via = Site(f"http://127.0.0.1:{proxy.port}", site.db, site.officer_commune)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    try:
        rec = Recorder(context, via.base)
        page = _open_map(context, rec, via)
        page.wait_for_selector("#sm-live.on")
        before = _post_incident(site, occurred_at=datetime.now(UTC), description="live before the drop", **ONE_EVENT)
        page.wait_for_selector(f"#sm-feed li[data-id='{before}']")
        # Nothing else in flight when the link goes down: only the stream is cut.
        page.wait_for_function("() => SitmapMap.state.loaded['communes'] && SitmapMap.state.loaded['incidents']")
        first_es = page.evaluate_handle("SitmapMap.state.es")
        last_seen = page.evaluate("SitmapMap.state.lastEventId")
        assert last_seen
        # The link goes down: the open stream breaks and reconnect attempts fail until it is back.
        assert rec.errors == []
        proxy.refusing.set()
        proxy.cut()
        page.wait_for_selector("#sm-live.off")
        missed = _post_incident(site, occurred_at=datetime.now(UTC), description="live during the drop", **ONE_EVENT)
        assert page.locator(f"#sm-feed li[data-id='{missed}']").count() == 0
        proxy.refusing.clear()
        page.wait_for_selector("#sm-live.on", timeout=15000)
        # While the link was down only the network failures themselves were logged (no script error).
        outage = list(rec.errors)
        assert all(e.startswith("console: Failed to load resource: net::ERR_") for e in outage), outage
        page.wait_for_selector(f"#sm-feed li[data-id='{missed}']", timeout=10000)
        # The page's own EventSource reconnected by itself, resending the last id it had seen.
        assert page.evaluate("es => es === SitmapMap.state.es", first_es)
        live = [h for h in proxy.heads if h.startswith("GET /live")]
        assert len(live) >= 2, live
        resumed = [line.split(":", 1)[1].strip() for h in live[1:] for line in h.split("\r\n")
                   if line.lower().startswith("last-event-id:")]
        assert resumed and int(resumed[0]) == int(last_seen), live
        # Exactly once each: one feed entry and one handled event per incident, none replayed by the resume.
        after = _post_incident(site, occurred_at=datetime.now(UTC), description="live after the drop", **ONE_EVENT)
        page.wait_for_selector(f"#sm-feed li[data-id='{after}']")
        for iid in (before, missed, after):
            assert page.locator(f"#sm-feed li[data-id='{iid}']").count() == 1
            handled = page.evaluate(f"SitmapMap.state.events.filter(e => e.kind === 'incident_created' "
                                    f"&& e.feature && e.feature.id === '{iid}').length")
            assert handled == 1, iid
        _shot(page, "map-live-resumed.png")
        assert rec.errors[len(outage):] == []
        assert rec.foreign() == []
    finally:
        context.close()
        proxy.close()
