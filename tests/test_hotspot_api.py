"""Hot-spot runs over HTTP (api/routers/hotspots.py) and the CLI (`sitmap analyze hotspots|emerging`), on the
small two-commune world of tests/opsworld.py with incidents planted here: a run is stored with who ran it and
audited, it is the layer of its category until the next run of that category replaces it, earlier runs stay
readable by id, a commune-scoped caller sees only its communes' cells, officers may not run, bad input is a
problem naming the field, and too few incidents classify nothing and say so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import pytest

from tests.opsworld import IN_A

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNTIL = datetime(2026, 6, 1, tzinfo=TZ)
GI = {"categories": ["drugs"], "until": UNTIL.isoformat()}
PROBLEM = "application/problem+json"


def _plant(url: str, category: str, n: int, *, cluster: int = 0, seed: int = 1) -> None:
    """``n`` generated incidents of ``category`` in the year before UNTIL, uniform over the province (lon
    103.0-103.4, lat 21.4-21.6), of which ``cluster`` within about 1 km of IN_A (commune A)."""
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(103.0, 103.4, n), rng.uniform(21.4, 21.6, n)
    lon[:cluster], lat[:cluster] = IN_A[0] + rng.normal(0, 0.004, cluster), IN_A[1] + rng.normal(0, 0.004, cluster)
    days = rng.uniform(1, 360, n)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO incident (id, category, severity, occurred_at, is_generated, geom) VALUES "
            "(%s, %s, 'less_serious', %s, true, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            [(uuid.uuid4(), category, UNTIL - timedelta(days=float(d)), float(x), float(y))
             for x, y, d in zip(lon, lat, days, strict=True)])


@pytest.fixture
def planted(world):
    _plant(world.url, "drugs", 240, cluster=60)
    _plant(world.url, "theft", 5, seed=2)
    return world


def _post(client, world, who: str = "planner", **body):
    return client.post("/analyses/hotspots", json=body, headers=world.headers(who))


def _layer(client, world, layer: str, who: str = "admin") -> list[dict]:
    r = client.get(f"/collections/{layer}/items", params={"limit": 10000}, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return r.json()["features"]


def test_a_run_is_stored_audited_and_is_the_layer_until_the_next_run_of_its_category(client, planted):
    world = planted
    first = _post(client, world, **GI)
    assert first.status_code == 201, first.text
    one = first.json()
    rid = one["run_id"]
    assert first.headers["location"] == f"/hotspot-runs/{rid}"
    assert one["analysis"] == "gi_star" and one["category"] == "drugs" and one["incident_count"] == 240
    assert one["incidents_generated"] is True and any("generated" in n for n in one["notes"])
    assert one["classes"].get("hot_99", 0) + one["classes"].get("hot_95", 0) > 0, one["classes"]
    assert sum(one["classes"].values()) == one["cell_count"] > 100
    assert one["lines"][0].startswith(f"hot-spot run {rid}:")
    assert one["created_by"] is None and one["redacted"] == ["created_by"]  # planners see no personal details

    layer = _layer(client, world, "hotspots")
    assert {f["properties"]["run_id"] for f in layer} == {rid} and len(layer) == one["cell_count"]
    hot = [f for f in layer if f["properties"]["hotspot_class"] in ("hot_95", "hot_99")]
    assert hot and all(f["properties"]["unit_id"] == world.unit_a for f in hot)  # the planted cluster is in A

    second = _post(client, world, **GI, cell_m=3000, band_m=3200)
    assert second.status_code == 201, second.text
    two = second.json()
    layer = _layer(client, world, "hotspots")
    assert {f["properties"]["run_id"] for f in layer} == {two["run_id"]} and len(layer) == two["cell_count"]
    assert two["cell_count"] < one["cell_count"]

    again = client.get(f"/hotspot-runs/{rid}", headers=world.headers("admin"))
    assert again.status_code == 200 and again.json()["cell_count"] == one["cell_count"]
    assert again.json()["created_by"] == "planner"
    assert again.json()["params"]["cell_m"] == 2000 and again.json()["classes"] == one["classes"]
    cells = client.get(f"/hotspot-runs/{rid}/cells", headers=world.headers("admin"))
    assert cells.status_code == 200 and cells.headers["content-type"].startswith("application/geo+json")
    doc = cells.json()
    assert doc["type"] == "FeatureCollection" and doc["numberMatched"] == len(doc["features"]) == one["cell_count"]
    assert doc["features"][0]["geometry"]["type"] == "MultiPolygon" and doc["metadata"]["run_id"] == rid
    listed = client.get("/hotspot-runs", params={"category": "drugs"}, headers=world.headers("admin")).json()
    assert [r["id"] for r in listed["items"]] == [two["run_id"], rid]
    assert client.get("/hotspot-runs", params={"analysis": "emerging"},
                      headers=world.headers("admin")).json()["count"] == 0

    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT created_by FROM hotspot_run WHERE id = %s", [rid]).fetchone()[0] == \
            world.user_ids["planner"]
        audits = conn.execute("SELECT username, target FROM audit_log WHERE action = 'analysis.hotspots' "
                              "ORDER BY id").fetchall()
    assert audits == [("planner", f"hotspot_run:{rid}"), ("planner", f"hotspot_run:{two['run_id']}")]


def test_an_emerging_run_is_the_emerging_layer_and_not_the_gi_star_one(client, planted):
    world = planted
    r = _post(client, world, analysis="emerging", cells="commune", categories=["drugs"],
              until=UNTIL.isoformat(), months=6, confidence=95)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["cells"] == "commune" and run["cell_count"] == 2 and sum(run["patterns"].values()) == 2
    layer = _layer(client, world, "emerging-hotspots")
    assert {f["properties"]["run_id"] for f in layer} == {run["run_id"]}
    assert {f["properties"]["unit_id"] for f in layer} == {world.unit_a, world.unit_b}
    assert _layer(client, world, "hotspots") == []


def test_a_commune_scoped_caller_sees_only_its_communes_cells_and_counts(client, planted):
    world = planted
    rid = _post(client, world, **GI).json()["run_id"]
    everything = client.get(f"/hotspot-runs/{rid}/cells", headers=world.headers("admin")).json()["features"]
    mine = client.get(f"/hotspot-runs/{rid}/cells", headers=world.headers("commander_a")).json()["features"]
    assert mine and len(mine) < len(everything)
    assert {f["properties"]["unit_id"] for f in mine} == {world.unit_a}
    assert len(mine) == sum(f["properties"]["unit_id"] == world.unit_a for f in everything)
    layer = _layer(client, world, "hotspots", who="commander_a")
    assert {f["id"] for f in layer} == {f["id"] for f in mine}

    run = client.get(f"/hotspot-runs/{rid}", headers=world.headers("commander_a")).json()
    assert run["visible_cells"] == len(mine) == sum(run["classes"].values())
    assert run["scope"] == {"unit_ids": [world.unit_a]} and run["cell_count"] == len(everything)
    listed = client.get("/hotspot-runs", headers=world.headers("commander_a")).json()["items"]
    assert listed[0]["classes"] == run["classes"]
    for path in (f"/hotspot-runs/{rid}/cells", f"/hotspot-runs/{rid}", "/hotspot-runs"):
        other = client.get(path, params={"commune": "T002"}, headers=world.headers("commander_a"))
        assert other.status_code == 403 and other.headers["content-type"] == PROBLEM, path
        assert "T002" in other.json()["detail"]
    assert client.get(f"/hotspot-runs/{rid}/cells", params={"commune": "T001"},
                      headers=world.headers("commander_a")).json()["numberMatched"] == len(mine)
    # An officer of B reads the run, counted in B.
    seen = client.get(f"/hotspot-runs/{rid}", headers=world.headers("officer_b")).json()
    assert seen["scope"] == {"unit_ids": [world.unit_b]} and seen["visible_cells"] == len(everything) - len(mine)


def test_officers_may_not_run_and_a_scoped_commander_runs_for_its_communes_only(client, planted):
    world = planted
    refused = _post(client, world, "officer_a", **GI)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/forbidden-role")
    assert "analysis.run" in refused.json()["detail"]
    outside = _post(client, world, "commander_a", **GI, commune="T002")
    assert outside.status_code == 403 and "T002" in outside.json()["detail"]
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT count(*) FROM hotspot_run").fetchone()[0] == 0
    mine = _post(client, world, "commander_a", **GI)
    assert mine.status_code == 201, mine.text
    body = mine.json()
    assert body["scope"] == {"unit_ids": [world.unit_a]} and body["visible_cells"] < body["cell_count"]
    assert all(not line.startswith("  ") for line in body["lines"])  # no province-wide class lines


@pytest.mark.parametrize(("body", "status", "field", "words"), [
    ({"categories": ["drugs", "nope"]}, 422, "categories", "unknown incident categories ['nope']"),
    ({"categories": []}, 422, "categories", "at least one category"),
    ({"since": "2026-05-01", "until": "2026-04-01"}, 422, "since", "must be before until"),
    ({"cells": "foo"}, 422, "cells", "'hex' or 'commune'"),
    ({"colour": "red"}, 422, "colour", "Extra inputs are not permitted"),
    ({"months": 6}, 422, "months", "emerging runs only"),
    ({"analysis": "emerging", "since": "2026-01-01"}, 422, "since", "give months"),
    ({"cells": "commune", "cell_m": 1000}, 422, "cell_m", "hex cells only"),
    ({"cell_m": 10}, 422, "cell_m", "greater than or equal to 200"),
    ({"analysis": "kriging"}, 422, "analysis", "'gi_star' or 'emerging'"),
    ({"cell_m": 500, "band_m": 6000}, 400, None, "at most 10 x cell_m"),
    ({"commune": "X999"}, 400, None, "no commune of 2025 with the code 'X999'"),
])
def test_bad_input_is_a_problem_naming_the_field_and_stores_nothing(client, world, body, status, field, words):
    r = _post(client, world, **body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc = r.json()
    assert words in doc["detail"], doc["detail"]
    if field is not None:
        assert field in [e["field"] for e in doc["errors"]], doc["errors"]
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT count(*) FROM hotspot_run").fetchone()[0] == 0


def test_unknown_runs_and_bad_filters_are_problems(client, world):
    for path, status in (("/hotspot-runs/987654", 404), ("/hotspot-runs/987654/cells", 404),
                         ("/hotspot-runs/0", 400)):
        r = client.get(path, headers=world.headers("admin"))
        assert r.status_code == status and r.headers["content-type"] == PROBLEM, (path, r.text)
    r = client.get("/hotspot-runs", params={"category": "drugs,nope"}, headers=world.headers("admin"))
    assert r.status_code == 400 and r.json()["parameter"] == "category" and "nope" in r.json()["detail"]
    r = client.get("/hotspot-runs", params={"analysis": "kriging"}, headers=world.headers("admin"))
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM


def test_a_run_on_too_few_incidents_says_so_and_classifies_nothing(client, planted):
    world = planted
    r = _post(client, world, categories=["theft"], until=UNTIL.isoformat())
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["incident_count"] == 5
    assert any("Only 5 incidents" in n and "no cell is classified" in n for n in run["notes"]), run["notes"]
    assert run["classes"] == {"insufficient": run["cell_count"]}
    cells = client.get(f"/hotspot-runs/{run['run_id']}/cells", headers=world.headers("admin")).json()["features"]
    assert {f["properties"]["class"] for f in cells} == {"insufficient"}


def sitmap(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "analyze", *args],
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=300)


def test_the_cli_runs_stores_and_prints_the_run_and_refuses_bad_options(planted):
    url = planted.url
    done = sitmap(url, "hotspots", "--categories", "drugs", "--until", "2026-06-01")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(url) as conn:
        rid, count, by = conn.execute("SELECT id, incident_count, created_by FROM hotspot_run").fetchone()
    assert done.stdout.startswith(f"hot-spot run {rid}: gi_star over ") and f"{count} incidents of drugs" in done.stdout
    assert count == 240 and by is None
    assert "note: The incidents are generated" in done.stdout

    as_json = sitmap(url, "emerging", "--categories", "drugs,theft", "--cells", "commune", "--until", "2026-06-01",
                     "--months", "6", "--json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert doc["analysis"] == "emerging" and doc["category"] == "drugs,theft" and doc["run_id"] == rid + 1

    for args, words in ((("hotspots", "--categories", "drugs,nope"), "unknown incident categories ['nope']"),
                        (("hotspots", "--cells", "foo"), "--cells"),
                        (("hotspots", "--since", "2026-05-01", "--until", "2026-04-01"), "must be before until"),
                        (("hotspots", "--since", "yesterday"), "--since"),
                        (("emerging", "--confidence", "80"), "--confidence")):
        bad = sitmap(url, *args)
        assert bad.returncode == 2 and words in bad.stderr, (args, bad.stderr)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM hotspot_run").fetchone()[0] == 2


def test_a_run_finding_every_analysis_slot_busy_is_503_with_retry_after_and_stores_nothing(world, make_client):
    import threading
    import time

    client = make_client(world.url, travel_max_concurrent=1, travel_queue_wait_s=0.2)
    runner = client.app.state.services.analyses
    release, started = threading.Event(), threading.Event()

    def hold(conn):  # occupies the worker's only analysis slot until released
        started.set()
        release.wait(60)

    holder = threading.Thread(target=lambda: client.portal.call(runner.run, hold))
    holder.start()
    try:
        assert started.wait(30), "the holding work never started"
        busy = _post(client, world, **GI)
    finally:
        release.set()
        holder.join(timeout=60)
    assert busy.status_code == 503 and busy.headers["content-type"] == PROBLEM, busy.text
    assert int(busy.headers["Retry-After"]) > 0 and "already running" in busy.json()["detail"]
    deadline = time.monotonic() + 30
    while runner._queue.borrowed_tokens:  # the slot frees once the holder returns
        assert time.monotonic() < deadline
        time.sleep(0.01)  # polling for the condition, not synchronising by a fixed wait
    with psycopg.connect(world.url) as conn:
        assert conn.execute("SELECT count(*) FROM hotspot_run").fetchone()[0] == 0
    assert _post(client, world, **GI).status_code == 201


def test_a_run_on_an_autocommit_connection_is_stored_whole(planted):
    """The runner's connections autocommit: the run row and its cells must still land together (a temporary
    table dropped at the end of its own one-statement transaction once left a run with no cells)."""
    from data.ops.hotspot_runs import HotspotParams, run

    with psycopg.connect(planted.url, autocommit=True) as conn:
        report = run(conn, HotspotParams.defaults(categories=("drugs",), until=UNTIL))
        cells = conn.execute("SELECT count(*) FROM hotspot_cell WHERE run_id = %s", [report.run_id]).fetchone()[0]
    assert cells == report.cell_count > 0
