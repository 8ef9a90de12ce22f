"""Site selection end to end on the demo: the travel matrix against pgRouting and against the coverage
analysis, POST /analyses/sites and `sitmap analyze sites` against the solvers called on the matrix directly,
MCLP's reported gain against the coverage figures, LSCP covering every coverable village, candidates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import psycopg
import pytest

from data.ops import site_selection as sel
from geo.coverage import candidates as cand
from geo.coverage import solvers
from geo.coverage.coverage import coverage, station_frame
from geo.coverage.matrix import read_graph, travel_matrix
from geo.travel.network import EDGES_SQL, local_today
from geo.travel.trips import villages
from tests.test_travel_api import _user
from tests.test_travel_cli import sitmap

TRAVEL = {"max_snap_m": 1000.0, "walk_kmh": 4.0}


@pytest.fixture(scope="module")
def demo(cluster, demo_template):
    """A private copy of the demo (the API test signs users in, which writes sessions) with its users."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from data.settings import get_settings
    from tests.conftest import clone_database, drop_database

    url = clone_database(cluster, demo_template)
    with psycopg.connect(url, autocommit=True) as conn:
        unit, code = conn.execute("SELECT s.unit_id, u.code FROM station s JOIN admin_unit u ON u.id = s.unit_id "
                                  "WHERE s.code = 'CA-03127'").fetchone()
        other = conn.execute("SELECT code FROM admin_unit WHERE era = '2025' AND kind IN ('commune', 'ward') "
                             "AND id <> %s ORDER BY id LIMIT 1", [unit]).fetchone()[0]
        who = {"planner": _user(conn, "planner", "planner", []), "officer": _user(conn, "officer", "officer", [unit]),
               "commander": _user(conn, "commander", "commander", [unit])}
    client = TestClient(create_app(get_settings(), database_url=url))
    with client:
        yield {"url": url, "client": client, "who": who, "commune": code, "other_commune": other}
    drop_database(cluster, url.split("/")[-1].split("?")[0])


def _matrix(conn, cutoff_s=np.inf):
    vil = villages(conn)
    st = station_frame(conn, local_today())
    return travel_matrix(conn, vil, st, demand_key="village_id", candidate_key="station_id", cutoff_s=cutoff_s,
                         **TRAVEL)


def test_matrix_equals_pgrouting_for_pairs_and_the_coverage_analysis_for_every_village(demo):
    with psycopg.connect(demo["url"]) as conn:
        m = _matrix(conn)
        # 1. A few pairs, each against its own pgr_dijkstraCost over road_edge (an independent search).
        rng = np.random.default_rng(7)
        finite = np.argwhere(np.isfinite(m.seconds))
        picks = finite[rng.choice(len(finite), 12, replace=False)]
        for i, j in picks:
            v, s = m.demand.iloc[i], m.candidates.iloc[j]
            if v["node"] == s["node"]:
                net = 0.0
            else:
                net = conn.execute("SELECT agg_cost FROM pgr_dijkstraCost(%s, %s::bigint, %s::bigint, true)",
                                   [EDGES_SQL, int(v["node"]), int(s["node"])]).fetchone()[0]
            assert m.seconds[i, j] == pytest.approx(v["access_s"] + net + s["access_s"], rel=1e-9, abs=1e-6)
        # 2. Unreachable pairs are inf, never a number: a node with no path in pgRouting either.
        assert not np.isnan(m.seconds).any()
        # 3. Every village's nearest station (the coverage analysis: one pgRouting super-source search).
        cov = coverage(conn, on=local_today(), minutes=(30.0,), **TRAVEL).villages.set_index("village_id")
        best = m.seconds.min(axis=1) / 60
        theirs = cov.loc[m.demand.index, "nearest_min"].to_numpy(float)
        assert np.array_equal(np.isfinite(best), np.isfinite(theirs))
        assert np.allclose(best[np.isfinite(best)], theirs[np.isfinite(theirs)], rtol=1e-9, atol=1e-6)
        # 4. A cutoff turns longer trips into inf and leaves the rest unchanged.
        cut = _matrix(conn, cutoff_s=1800)
        assert np.array_equal(np.where(m.seconds <= 1800, m.seconds, np.inf), cut.seconds)


def test_candidates_villages_nodes_and_plots(demo):
    with psycopg.connect(demo["url"]) as conn:
        vil = cand.villages(conn)
        assert len(vil) == conn.execute("SELECT count(*) FROM settlement").fetchone()[0]
        nodes = cand.road_nodes(conn, spacing_m=3000)
        assert len(nodes) > 20
        xy = np.column_stack([nodes["lon"] * cand.M_PER_DEG_LON, nodes["lat"] * cand.M_PER_DEG_LAT])
        d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)) + np.eye(len(xy)) * 1e9
        assert d.min() >= 3000 - 1e-6  # thinned
        assert len(cand.road_nodes(conn, spacing_m=500)) > len(nodes)
        with pytest.raises(cand.CandidateError, match="unknown road class motorway"):
            cand.road_nodes(conn, spacing_m=0, classes=("motorway",))
        # Incidents as demand: each counts once, for the settlement nearest to it.
        inc = sel.demand_frame(conn, "incidents", None)
        assert inc["weight"].sum() == conn.execute("SELECT count(*) FROM incident WHERE geom IS NOT NULL").fetchone()[0]
        some = inc.loc[inc["weight"].idxmax()]
        near = conn.execute("SELECT count(*) FROM incident i WHERE (SELECT id FROM settlement s ORDER BY s.geom <-> "
                            "i.geom LIMIT 1) = %s", [int(some["village_id"])]).fetchone()[0]
        assert some["weight"] == near > 0
    plots = cand.points([103.0, 103.1], [21.4, 21.5], ["A", None])
    assert plots["label"].tolist() == ["A", "plot 2"] and plots["candidate_id"].tolist() == [1, 2]


def test_mclp_p3_gain_equals_the_coverage_figures_and_the_solver_on_the_matrix(demo):
    params = sel.SiteParams(problem="mclp", minutes=30, p=3)
    r = demo["client"].post("/analyses/sites", json={"problem": "mclp", "minutes": 30, "p": 3},
                            headers=demo["who"]["planner"])
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "optimal" and doc["gap"] == 0 and len(doc["chosen"]) == 3
    assert doc["roads_generated"] is True and "generated" in doc["note"]
    gained = [s["population_gained"] for s in doc["chosen"]]
    assert all(g > 0 for g in gained)
    assert sum(gained) == pytest.approx(doc["coverage"]["gained"])
    assert doc["coverage"]["after"]["population"] == doc["objective"]
    with psycopg.connect(demo["url"]) as conn:
        # Direct: the same matrix, the solver called by hand.
        m, w, fixed, n_new = sel.build(conn, params, **TRAVEL)
        direct = solvers.mclp(m.seconds, w, 1800, 3, fixed)
        assert direct.objective == doc["objective"]
        assert sorted(int(m.candidates.iloc[j]["candidate_id"]) for j in direct.chosen) == \
            sorted(s["candidate_id"] for s in doc["chosen"])
        # Independent: the coverage analysis with the three villages added as stations covers what was said.
        st = station_frame(conn, local_today())
        before = coverage(conn, stations=st, on=local_today(), minutes=(30.0,), **TRAVEL).province
        added = pd.DataFrame([{"station_id": -1 - k, "station_code": f"NEW-{k}", "station": s["label"],
                               "kind": "commune_police", "unit_id": None, "lon": s["lon"], "lat": s["lat"],
                               "hq_status": "independent"} for k, s in enumerate(doc["chosen"])])
        with_new = pd.concat([st, added], ignore_index=True)
        after = coverage(conn, stations=with_new, on=local_today(), minutes=(30.0,), **TRAVEL).province
    assert int(before["population_within_30"].iloc[0]) == doc["coverage"]["before"]["population"]
    assert int(after["population_within_30"].iloc[0]) - int(before["population_within_30"].iloc[0]) == \
        pytest.approx(doc["coverage"]["gained"])
    for s in doc["chosen"]:
        assert s["nearest_village"] and s["commune"] and s["commune_code"]


def test_lscp_covers_every_coverable_village(demo):
    with psycopg.connect(demo["url"]) as conn:
        params = sel.SiteParams(problem="lscp", minutes=20, candidates="nodes", spacing_m=1500)
        doc = sel.select_sites(conn, params, **TRAVEL)
        m, w, fixed, n_new = sel.build(conn, params, **TRAVEL)
    assert doc["status"] == "optimal"
    assert doc["objective"] == len(doc["chosen"]) > 0
    ids = {s["candidate_id"] for s in doc["chosen"]}
    cols = [j for j in range(n_new) if int(m.candidates.iloc[j]["candidate_id"]) in ids] + fixed
    covered = (m.seconds[:, cols] <= 1200).any(axis=1)
    coverable = (m.seconds <= 1200).any(axis=1)
    assert np.array_equal(covered, coverable)
    assert doc["uncoverable"]["villages"] == int((~coverable).sum()) > 0
    assert doc["coverage"]["after"]["population"] == pytest.approx(float(w[coverable].sum()))
    direct = solvers.lscp(m.seconds, 1200, weights=w, fixed=fixed)
    assert direct.objective == doc["objective"]


def test_pmedian_lowers_the_mean_travel_time_and_the_cli_prints_the_sites(demo):
    out = sitmap(demo["url"], "analyze", "sites", "--problem", "pmedian", "--p", "2", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == "optimal" and len(doc["chosen"]) == 2
    assert doc["coverage"]["after"]["mean_min"] < doc["coverage"]["before"]["mean_min"]
    text = sitmap(demo["url"], "analyze", "sites", "--problem", "mclp", "--minutes", "30", "--p", "3")
    assert text.returncode == 0, text.stderr
    assert "mclp: optimal" in text.stdout and "population gained" in text.stdout and "generated" in text.stdout
    assert len([line for line in text.stdout.splitlines() if line[:3].strip().isdigit()]) == 3
    bad = sitmap(demo["url"], "analyze", "sites", "--problem", "nope")
    assert bad.returncode == 2 and "--problem" in bad.stderr


def test_plots_from_a_file_and_from_the_body(demo, tmp_path):
    with psycopg.connect(demo["url"]) as conn:
        pts = conn.execute("SELECT name, ST_X(geom), ST_Y(geom) FROM settlement ORDER BY population DESC "
                           "LIMIT 3").fetchall()
    path = tmp_path / "plots.csv"
    path.write_text("name,lon,lat\n" + "".join(f"{n},{x},{y}\n" for n, x, y in pts), encoding="utf-8")
    out = sitmap(demo["url"], "analyze", "sites", "--candidates", str(path), "--p", "1", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["candidates"] == {"kind": "file", "count": 3, "on_the_road": 3}
    assert doc["chosen"][0]["label"] in {n for n, _, _ in pts}
    body = {"problem": "mclp", "p": 1, "candidates": "plots", "plots": [{"lon": x, "lat": y, "name": n}
                                                                        for n, x, y in pts]}
    r = demo["client"].post("/analyses/sites", json=body, headers=demo["who"]["planner"])
    assert r.status_code == 200, r.text
    assert r.json()["chosen"][0]["candidate_id"] == doc["chosen"][0]["candidate_id"]


def test_bad_requests_roles_and_scope(demo):
    c, who = demo["client"], demo["who"]
    r = c.post("/analyses/sites", json={"problem": "mclp", "time_limit_s": 100000}, headers=who["planner"])
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = c.post("/analyses/sites", json={"problem": "mclp", "candidates": "plots"}, headers=who["planner"])
    assert r.status_code == 422 and "plots" in r.json()["detail"]
    r = c.post("/analyses/sites", json={"problem": "mclp"}, headers=who["officer"])
    assert r.status_code == 403
    r = c.post("/analyses/sites", json={"problem": "mclp", "commune": demo["other_commune"]},
               headers=who["commander"])
    assert r.status_code == 403
    r = c.post("/analyses/sites", json={"problem": "mclp", "p": 1}, headers=who["commander"])
    assert r.status_code == 200, r.text
    with psycopg.connect(demo["url"]) as conn:
        own = conn.execute("SELECT count(*) FROM settlement s JOIN admin_unit u ON u.id = s.unit_id "
                           "WHERE u.code = %s", [demo["commune"]]).fetchone()[0]
    assert r.json()["villages"] == own


def test_read_graph_keeps_the_cheapest_parallel_edge_and_one_way_roads(demo):
    with psycopg.connect(demo["url"]) as conn:
        g = read_graph(conn, "SELECT * FROM (VALUES (1, 10, 20, 5.0, -1.0), (2, 10, 20, 3.0, 7.0), "
                             "(3, 20, 30, 0.0, 0.0)) v(id, source, target, cost, reverse_cost)")
    from geo.coverage.matrix import network_seconds

    pos = g.positions(np.array([10.0, 20.0, 30.0]))
    d = network_seconds(g, pos, pos)
    assert d[0, 1] == 3.0 and d[1, 0] == 7.0 and d[0, 2] == pytest.approx(3.0) and d[2, 0] == pytest.approx(7.0)
