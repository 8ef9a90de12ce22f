"""The phone form's "my route today" in a real browser (Debian chromium through Playwright): the officer's own and
their team's scheduled points with due time and status from GET /me/patrol-route, in Vietnamese and English;
a tap checks in, the visit records the schedule it fulfils and the route is read again.

On the small world of tests/opsworld.py (communes A and B, a patrol point in each) with a real server."""

from __future__ import annotations

import os
import select
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.opsworld import IN_A, PASSWORD, build_world

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("SITMAP_TEST_ARTIFACTS", "test-artifacts"))
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def _poll(condition, timeout: float = 10.0, interval: float = 0.05):
    """Wait for ``condition()`` to be truthy (a poll with a deadline, not a fixed sleep); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        select.select([], [], [], interval)


@pytest.fixture
def routed(empty_db, start_server):
    """Officer A in a team; their own shifts schedule at point A (in force since yesterday, so windows were
    missed: overdue) and the team's daily schedule at a second point of A, visited 20 hours ago (not overdue)."""
    world = build_world(empty_db)
    since = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    with psycopg.connect(world.url, autocommit=True) as conn:
        team = conn.execute("INSERT INTO security_team (name, unit_id, members) VALUES ('Tổ bảo vệ ANTT Bản Noong', "
                            "%s, 4) RETURNING id", (world.unit_a,)).fetchone()[0]
        conn.execute("INSERT INTO security_team_member (user_id, team_id) VALUES (%s, %s)",
                     (world.user_ids["officer_a"], team))
        second = conn.execute("INSERT INTO patrol_point (name, kind, unit_id, visit_interval_hours, geom) VALUES "
                              "('Hòm thư Bản Noong', 'tip_mailbox', %s, 168, ST_SetSRID(ST_MakePoint(103.12, 21.52), "
                              "4326)) RETURNING id", (world.unit_a,)).fetchone()[0]
        own = conn.execute("INSERT INTO patrol_schedule (patrol_point_id, user_id, shifts, valid_from) VALUES "
                           "(%s, %s, '{morning,afternoon,night}', %s) RETURNING id",
                           (world.point_a, world.user_ids["officer_a"], since)).fetchone()[0]
        daily = conn.execute("INSERT INTO patrol_schedule (patrol_point_id, team_id, every_hours, valid_from) VALUES "
                             "(%s, %s, 24, %s) RETURNING id", (second, team, since)).fetchone()[0]
        conn.execute("INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted, schedule_id, geom) VALUES "
                     "(%s, now() - interval '20 hours', true, %s, ST_SetSRID(ST_MakePoint(103.12, 21.52), 4326))",
                     (second, daily))
    return start_server(empty_db), world, {"own": own, "daily": daily, "second": second}


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_the_phone_shows_my_route_today_and_a_tap_checks_in_for_the_schedule(routed, browser):
    base, world, ids = routed
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh")
    errors: list[str] = []
    foreign: list[str] = []
    context.on("request", lambda r: foreign.append(r.url) if not r.url.startswith((base + "/", "data:", "blob:"))
               else None)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(base + "/web/m")
        page.wait_for_selector("#pf-signin:not([hidden])")
        page.fill("#pf-signin input[name=username]", "officer_a")
        page.fill("#pf-signin input[name=password]", PASSWORD)
        page.click("#pf-signin button[type=submit]")
        page.wait_for_selector("body[data-user=officer_a]")
        page.wait_for_selector("body[data-route-loaded=true]")

        assert page.locator("#pf-route-card").is_visible()
        assert page.locator("#pf-route-card h3").inner_text() == "Lộ trình tuần tra hôm nay"
        assert page.locator("#pf-route-team").inner_text() == "Tổ: Tổ bảo vệ ANTT Bản Noong"
        items = page.locator("#pf-route li")
        assert items.count() == 2
        # Overdue first: the own shifts schedule missed yesterday's windows.
        own = page.locator(f"#pf-route li[data-id='{world.point_a}']")
        daily = page.locator(f"#pf-route li[data-id='{ids['second']}']")
        assert items.nth(0).get_attribute("data-id") == str(world.point_a)
        assert own.get_attribute("data-status") == "overdue" and "Quá hạn" in own.inner_text()
        # Visited 20 hours ago: due within 4 hours, today ("due") unless that falls after local midnight ("done").
        with psycopg.connect(world.url) as conn:
            due_at = conn.execute("SELECT due_at FROM sitmap_patrol_due(now()) WHERE schedule_id = %s",
                                  (ids["daily"],)).fetchone()[0]
        midnight = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        want = "due" if due_at < midnight else "done"
        assert daily.get_attribute("data-status") == want
        assert {"due": "Cần tuần tra", "done": "Đã tuần tra"}[want] in daily.inner_text()
        assert "mỗi 24 giờ" in daily.inner_text()
        windows = own.locator(".pf-route-windows").inner_text()
        assert "Ca sáng" in windows or "sáng" in windows.lower(), windows
        page.locator("#pf-route-card").screenshot(path=str(ARTIFACTS / "phone-route.png"))

        # A tap on "Điểm danh" at the point checks in; the visit fulfils the officer's own schedule.
        page.evaluate(f"SitmapPhone.setPosition({IN_A[1]}, {IN_A[0]}, 6, 'gps')")
        own.locator("button").click()

        def stored():
            with psycopg.connect(world.url) as conn:
                return conn.execute("SELECT schedule_id, accepted FROM patrol_visit WHERE patrol_point_id = %s "
                                    "AND user_id = %s", (world.point_a, world.user_ids["officer_a"])).fetchall()

        assert _poll(stored) == [(ids["own"], True)]
        page.wait_for_function(f"() => document.querySelector(\"#pf-route li[data-id='{world.point_a}']\")"
                               ".dataset.status !== 'overdue'")
        with psycopg.connect(world.url) as conn:
            overdue = conn.execute("SELECT overdue FROM sitmap_patrol_due(now()) WHERE schedule_id = %s",
                                   (ids["own"],)).fetchone()[0]
        assert overdue is False

        page.click("#pf-lang")
        assert page.locator("#pf-route-card h3").inner_text() == "My patrol route today"
        assert "every 24 h" in page.locator(f"#pf-route li[data-id='{ids['second']}']").inner_text()
        assert "Overdue" not in page.locator(f"#pf-route li[data-id='{world.point_a}']").inner_text()
        page.locator("#pf-route-card").screenshot(path=str(ARTIFACTS / "phone-route-en.png"))
        assert errors == [] and foreign == []
    finally:
        context.close()


def test_a_route_without_schedules_says_so(routed, browser):
    base, world, _ids = routed
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("DELETE FROM patrol_schedule")
    context = browser.new_context(locale="en-US", timezone_id="UTC")
    page = context.new_page()
    try:
        page.goto(base + "/web/m")
        page.wait_for_selector("#pf-signin:not([hidden])")
        page.fill("#pf-signin input[name=username]", "officer_b")
        page.fill("#pf-signin input[name=password]", PASSWORD)
        page.click("#pf-signin button[type=submit]")
        page.wait_for_selector("body[data-route-loaded=true]")
        assert page.locator("#pf-route li.pf-route-empty").count() == 1
    finally:
        context.close()
