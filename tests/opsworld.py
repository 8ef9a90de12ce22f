"""A small world for the live-operations tests on an empty migrated database: a square province split into
two communes (A west, B east), a station and a patrol point in each, and one user per role and scope with a
ready bearer token (sessions are created directly; signing in is tested in test_auth.py)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg

from data.ops import signin, users

# Lon 103.0–103.4, lat 21.4–21.6; A is west of 103.2, B east.
PROVINCE = "MULTIPOLYGON(((103.0 21.4, 103.4 21.4, 103.4 21.6, 103.0 21.6, 103.0 21.4)))"
UNIT_A = "MULTIPOLYGON(((103.0 21.4, 103.2 21.4, 103.2 21.6, 103.0 21.6, 103.0 21.4)))"
UNIT_B = "MULTIPOLYGON(((103.2 21.4, 103.4 21.4, 103.4 21.6, 103.2 21.6, 103.2 21.4)))"
IN_A = (103.1, 21.5)
IN_B = (103.3, 21.5)

# key: (role, commune codes or None for province-wide)
USERS = {
    "admin": ("admin", None),
    "commander": ("commander", None),
    "commander_a": ("commander", ["T001"]),
    "planner": ("planner", None),
    "officer_a": ("officer", ["T001"]),
    "officer_b": ("officer", ["T002"]),
}
PASSWORD = "correct horse battery"


@dataclass
class World:
    url: str
    unit_a: int
    unit_b: int
    station_a: int
    station_b: int
    point_a: int
    point_b: int
    user_ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _insert_unit(conn: psycopg.Connection, code: str, name: str, kind: str, wkt: str) -> int:
    return conn.execute(
        "INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) "
        "VALUES ('2025', %s, %s, %s, %s, ST_GeomFromText(%s, 4326)) RETURNING id",
        (code, name, name, kind, wkt)).fetchone()[0]


def build_world(url: str) -> World:
    with psycopg.connect(url, autocommit=True) as conn:
        _insert_unit(conn, "T00", "Tỉnh Thử", "province", PROVINCE)
        a = _insert_unit(conn, "T001", "Xã Alpha", "commune", UNIT_A)
        b = _insert_unit(conn, "T002", "Xã Beta", "commune", UNIT_B)
        stations = [conn.execute(
            "INSERT INTO station (code, name, kind, unit_id, hq_status, geom) VALUES (%s, %s, 'commune_police', "
            "%s, 'shared', ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            (f"CA-{u}", f"Công an {u}", u, *pt)).fetchone()[0] for u, pt in ((a, IN_A), (b, IN_B))]
        points = [conn.execute(
            "INSERT INTO patrol_point (name, kind, unit_id, visit_interval_hours, geom) VALUES (%s, 'checkpoint', "
            "%s, 24, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING id",
            (f"Chốt {u}", u, *pt)).fetchone()[0] for u, pt in ((a, IN_A), (b, IN_B))]
    world = World(url, a, b, stations[0], stations[1], points[0], points[1])
    asyncio.run(_add_users(world))
    return world


async def _add_users(world: World) -> None:
    pw_hash = signin.hash_password(PASSWORD)
    async with await psycopg.AsyncConnection.connect(world.url, autocommit=True) as conn:
        for key, (role, communes) in USERS.items():
            units = [u["id"] for u in await users.resolve_units(conn, communes)] if communes else []
            uid = await users.add_user(conn, key, role, pw_hash, units)
            token = signin.new_token()
            await users.create_session(conn, signin.token_hash(token), uid, "bearer", timedelta(hours=1), None)
            world.user_ids[key] = uid
            world.tokens[key] = token


def incident_body(point: tuple[float, float] = IN_A, **over) -> dict:
    body = {"id": str(uuid.uuid4()), "category": "theft", "severity": "less_serious",
            "occurred_at": "2025-08-01T14:30:00+07:00", "lon": point[0], "lat": point[1], "accuracy_m": 12.0,
            "description": "Mất trộm xe máy trước chợ"}
    body.update(over)
    return body


class SSE:
    """A live-stream client in a thread: parses messages into ``messages`` as they arrive."""

    def __init__(self, base: str, headers: dict[str, str], params: dict | None = None,
                 last_event_id: int | None = None) -> None:
        import queue
        import threading

        self.base, self.headers, self.params = base, dict(headers), params or {}
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = str(last_event_id)
        self.queue: queue.Queue = queue.Queue()
        self.messages: list[dict] = []
        self.heartbeats = 0
        self.status: int | None = None
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(15), "the live stream did not answer"

    def _run(self) -> None:
        import json
        import time

        import httpx

        try:
            with httpx.Client(timeout=httpx.Timeout(30, read=30)) as http, \
                    http.stream("GET", f"{self.base}/live", headers=self.headers, params=self.params) as resp:
                self.status = resp.status_code
                self.ready.set()
                cur: dict = {}
                for line in resp.iter_lines():
                    if self.stopped.is_set():
                        return
                    if line.startswith(":"):
                        self.heartbeats += 1
                    elif line == "":
                        if "data" in cur:
                            cur["data"] = json.loads(cur["data"])
                            cur["received"] = time.perf_counter()
                            self.queue.put(cur)
                        cur = {}
                    else:
                        key, _, value = line.partition(":")
                        cur[key] = value.lstrip(" ")
        except Exception as exc:  # surfaced through status/ready in the test
            self.error = exc
        finally:
            self.ready.set()

    def wait_for(self, done, timeout: float = 10.0) -> list[dict]:
        """Collect messages until ``done(messages)`` or the timeout; returns all messages so far."""
        import queue
        import time

        deadline = time.monotonic() + timeout
        while not done(self.messages) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self.messages.append(self.queue.get(timeout=0.05))
        return self.messages

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
