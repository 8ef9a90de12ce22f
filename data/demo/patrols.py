"""Grassroots security teams, patrol points (checkpoints, tip-off mailboxes, self-governing model points)
and their recent visit history. Counts, names and intervals come from ``cfg['police']``."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import psycopg

from data.demo.gen_util import allocate, copy_rows, ewkt_point, project_points, uuids

POINT_COLUMNS = ("name", "kind", "unit_id", "station_id", "team_id", "model_name", "visit_interval_hours",
                 "is_generated", "geom")


def _settlements(conn: psycopg.Connection) -> list[tuple]:
    """(id, name, population, unit_id, lon, lat, in_border_unit), most populous first."""
    return conn.execute(
        "SELECT s.id, s.name, COALESCE(s.population, 0), s.unit_id, ST_X(s.geom), ST_Y(s.geom), "
        "COALESCE(cardinality(u.border_countries), 0) > 0 FROM settlement s JOIN admin_unit u ON u.id = s.unit_id "
        "ORDER BY s.population DESC NULLS LAST, s.id").fetchall()


def _current_stations(conn: psycopg.Connection) -> dict[int, int]:
    return dict(conn.execute("SELECT unit_id, min(id) FROM station WHERE kind = 'commune_police' "
                             "AND valid_to IS NULL GROUP BY unit_id").fetchall())


def load_teams(conn: psycopg.Connection, cfg: dict, settlements: list[tuple]) -> dict[int, int]:
    """One team per village, the largest villages first; returns settlement id -> team id."""
    tc = cfg["police"]["security_teams"]
    n = int(tc["count"])
    members = allocate(int(tc["members"]), np.ones(n), int(tc.get("min_members", 1)))
    rows, seen = [], {}
    for i in range(n):
        sid, name, _pop, unit, lon, lat, _b = settlements[i % len(settlements)]
        seen[sid] = seen.get(sid, 0) + 1
        label = tc["name"].format(settlement=name) + (f" số {seen[sid]}" if seen[sid] > 1 else "")
        rows.append((label, unit, sid, int(members[i]), True, ewkt_point(lon, lat)))
    copy_rows(conn, "security_team", ("name", "unit_id", "settlement_id", "members", "is_generated", "geom"), rows)
    return dict(conn.execute("SELECT settlement_id, min(id) FROM security_team WHERE settlement_id IS NOT NULL "
                             "GROUP BY settlement_id").fetchall())


def _checkpoints(conn: psycopg.Connection, cc: dict, rng: np.random.Generator) -> list[tuple[str, float, float]]:
    """(where, lon, lat): on the roads by each border crossing and about ``inland_m`` inland, then at
    junctions of national and provincial roads (spaced out, chosen at random, national first)."""
    out: list[tuple[str, float, float]] = []
    per = int(cc.get("per_border_crossing", 0))
    inland = float(cc.get("inland_m", 5000))
    for name, x, y in conn.execute(
            "SELECT b.name, ST_X(p), ST_Y(p) FROM border_crossing b, LATERAL (SELECT ST_ClosestPoint(e.geom, b.geom) p "
            "FROM road_edge e ORDER BY e.geom <-> b.geom LIMIT 1) q ORDER BY b.name"):
        if per >= 1:
            out.append((name, x, y))
        if per >= 2:
            far = conn.execute(
                "SELECT ST_X(v), ST_Y(v) FROM border_crossing b, road_edge e, "
                "LATERAL (SELECT ST_StartPoint(e.geom) v) q WHERE b.name = %s "
                "AND ST_DWithin(e.geom::geography, b.geom::geography, %s) "
                "ORDER BY abs(ST_Distance(v::geography, b.geom::geography) - %s), e.id LIMIT 1",
                [name, 2 * inland, inland]).fetchone()
            if far:
                out.append((f"{name} (trong nội địa)", *far))
    junc = conn.execute(
        """
        WITH ends AS (
          SELECT source AS node, ST_StartPoint(geom) AS p, road_class, ref FROM road_edge
          UNION ALL SELECT target, ST_EndPoint(geom), road_class, ref FROM road_edge)
        SELECT node, ST_X(min(p)), ST_Y(min(p)), bool_or(road_class = 'national'),
               string_agg(DISTINCT ref, '/' ORDER BY ref)
          FROM ends GROUP BY node
        HAVING count(*) >= 3 AND bool_or(road_class IN ('national', 'provincial'))
         ORDER BY node
        """).fetchall()
    want = int(cc.get("junctions", 0))
    if junc and want:
        w = np.array([4.0 if r[3] else 1.0 for r in junc])
        order = rng.choice(len(junc), size=len(junc), replace=False, p=w / w.sum())
        taken: list[tuple[float, float]] = [(x, y) for _n, x, y in out]
        added = 0
        for i in order:
            _node, x, y, _nat, refs = junc[i]
            # Keep checkpoints at least ~2 km apart (degrees scaled at this latitude).
            if any(math.hypot((x - a) * math.cos(math.radians(y)), y - b) < 0.018 for a, b in taken):
                continue
            taken.append((x, y))
            out.append((f"nút giao {refs}" if refs else "nút giao", x, y))
            added += 1
            if added >= want:
                break
    return out


def load_teams_and_points(conn: psycopg.Connection, cfg: dict, rng: np.random.Generator,
                          progress: bool = False) -> dict[str, int]:
    pc = cfg["police"]
    settlements = _settlements(conn)
    if not settlements:
        raise RuntimeError("load_police needs settlements with their 2025 unit")
    team_of = load_teams(conn, cfg, settlements)
    station_of = _current_stations(conn)
    interval = pc["patrol_points"]["visit_interval_hours"]
    by_id = {s[0]: s for s in settlements}

    # name, kind, unit, station, team, model, lon, lat, jitter-distance
    pts: list[list] = []

    # Checkpoints: the unit is the one that contains the point (points outside every unit are dropped).
    cc = pc["patrol_points"]["checkpoints"]
    cps = _checkpoints(conn, cc, rng)
    if cps:
        units = conn.execute(
            "SELECT n, sitmap_commune_at(ST_SetSRID(ST_MakePoint(x, y), 4326)) "
            "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY t(x, y, n) ORDER BY n",
            [[c[1] for c in cps], [c[2] for c in cps]]).fetchall()
        for (where, x, y), (_n, unit) in zip(cps, units, strict=True):
            if unit is not None:
                pts.append([cc["name"].format(where=where), "checkpoint", unit, station_of.get(unit), None, None,
                            x, y, 0.0])

    # Tip-off mailboxes: the main village of every earlier unit, then every large village.
    mc = pc["patrol_points"]["tip_mailboxes"]
    chosen: list[int] = []
    if int(mc.get("per_unit_seat", 0)):
        chosen += [r[0] for r in conn.execute(
            "SELECT DISTINCT ON (pre2025_unit_id) id FROM settlement WHERE pre2025_unit_id IS NOT NULL "
            "ORDER BY pre2025_unit_id, population DESC NULLS LAST, id")]
    big = [s[0] for s in settlements if s[2] >= int(mc.get("min_village_population", 10**9))]
    chosen += [sid for sid in big if sid not in set(chosen)]
    for sid in sorted(set(chosen)):
        _id, name, _pop, unit, lon, lat, _b = by_id[sid]
        pts.append([mc["name"].format(settlement=name), "tip_mailbox", unit, station_of.get(unit), team_of.get(sid),
                    None, lon, lat, rng.uniform(15, 60)])

    # Self-governing model points: villages weighted by population (border models in border communes).
    sm = pc["self_governing_models"]
    models = sm["models"]
    if len(models) != int(sm["count"]):
        raise RuntimeError(f"self_governing_models: {len(models)} models listed, {sm['count']} expected")
    per_model = allocate(int(sm["points"]), [m["weight"] for m in models], 1)
    pop = np.array([max(s[2], 1) for s in settlements], dtype=float)
    border = np.array([s[6] for s in settlements])
    j_lo, j_hi = sm["jitter_m"]
    for m, n in zip(models, per_model, strict=True):
        w = pop * (border if m.get("border") and border.any() else 1.0)
        picks = rng.choice(len(settlements), size=int(n), replace=True, p=w / w.sum())
        for i in picks:
            sid, name, _pop, unit, lon, lat, _b = settlements[i]
            pts.append([f"{m['name']} – {name}", "self_governing_model", unit, station_of.get(unit), team_of.get(sid),
                        m["name"], lon, lat, rng.uniform(j_lo, j_hi)])

    az = rng.uniform(0, 360, size=len(pts))
    lon, lat = project_points(conn, np.array([p[6] for p in pts]), np.array([p[7] for p in pts]),
                              np.array([p[8] for p in pts]), az, [p[2] for p in pts])
    rows = [(p[0], p[1], p[2], p[3], p[4], p[5], int(interval[p[1]]), True, ewkt_point(x, y))
            for p, x, y in zip(pts, lon, lat, strict=True)]
    copy_rows(conn, "patrol_point", POINT_COLUMNS, rows)
    kinds = {k: sum(1 for p in pts if p[1] == k) for k in interval}
    return {"security_teams": len(team_of) and int(pc["security_teams"]["count"]),
            **{f"patrol_points_{k}": v for k, v in kinds.items()}}


def load_visits(conn: psycopg.Connection, cfg: dict, rng: np.random.Generator, until: datetime) -> int:
    """Recent check-ins at every patrol point, so that at ``until`` some points are overdue and most not."""
    vc = cfg["police"]["patrol_points"]["visits"]
    window = timedelta(days=float(vc["history_days"]))
    points = conn.execute("SELECT id, visit_interval_hours, ST_X(geom), ST_Y(geom) FROM patrol_point "
                          "WHERE is_generated ORDER BY id").fetchall()
    pid, at, plon, plat = [], [], [], []
    for p, hours, x, y in points:
        step = timedelta(hours=hours)
        late = rng.random() < float(vc["overdue_share"])
        lag = step * (rng.uniform(1.05, 3.0) if late else rng.uniform(0.02, 0.95))
        t = until - lag
        while True:   # the last visit always, then earlier ones back to the start of the window
            pid.append(p)
            at.append(t)
            plon.append(x)
            plat.append(y)
            t -= step * rng.uniform(0.8, 1.1)
            if t <= until - window:
                break
    n = len(pid)
    a_lo, a_hi = vc["gps_accuracy_m"]
    acc = rng.uniform(a_lo, a_hi, size=n)
    dist = acc * np.sqrt(-2 * np.log(rng.uniform(1e-9, 1, size=n))) / 1.5   # GPS error: Rayleigh-like
    off = rng.random(n) < float(vc["off_site_share"])
    dist[off] = rng.uniform(400, 3000, size=int(off.sum()))
    lon, lat = project_points(conn, np.array(plon), np.array(plat), dist, rng.uniform(0, 360, size=n))
    radius = float(vc["checkin_radius_m"])
    ids = uuids(rng, n)
    rows = [(ids[i], pid[i], at[i], None, round(float(acc[i]), 1), round(float(dist[i]), 1),
             bool(dist[i] <= radius), None, True, ewkt_point(lon[i], lat[i])) for i in range(n)]
    return copy_rows(conn, "patrol_visit", ("client_id", "patrol_point_id", "visited_at", "user_id", "accuracy_m",
                                            "distance_m", "accepted", "note", "is_generated", "geom"), rows)


def load_schedules(conn: psycopg.Connection, cfg: dict, rng: np.random.Generator, until: datetime) -> int:
    """Schedules for a share of the points that have a team (the team, every N hours or named shifts, from
    ``days`` before ``until``) with the visits that kept them, recorded for the schedule: most windows visited,
    some missed, so that some scheduled points are overdue at ``until``. Each demo officer joins the first
    scheduled team of their first commune, so the phone's route of the day has points."""
    from zoneinfo import ZoneInfo

    from data import vocab

    sc = cfg["police"]["patrol_points"].get("schedules")
    if not sc:
        return 0
    tz = ZoneInfo(cfg["province"]["timezone"])
    start = (until - timedelta(days=int(sc["days"]))).astimezone(tz).replace(hour=0, minute=0, second=0,
                                                                             microsecond=0)
    points = conn.execute("SELECT id, team_id, ST_X(geom), ST_Y(geom) FROM patrol_point "
                          "WHERE is_generated AND team_id IS NOT NULL ORDER BY id").fetchall()
    chosen = [p for p in points if rng.random() < float(sc["share"])]
    shifts = list(sc["shifts"])
    every = int(sc["every_hours"])
    visits: list[tuple] = []
    for pid, team, x, y in chosen:
        named = rng.random() < float(sc["shifts_share"])
        sid = conn.execute("INSERT INTO patrol_schedule (patrol_point_id, team_id, every_hours, shifts, valid_from, "
                           "note) VALUES (%s, %s, %s, %s, %s, 'demo') RETURNING id",
                           (pid, team, None if named else every, shifts if named else None, start)).fetchone()[0]
        if named:
            day = start.date()
            while day <= until.astimezone(tz).date():
                for s in shifts:
                    a, b = vocab.PATROL_SHIFT_HOURS[s]
                    w0 = datetime(day.year, day.month, day.day, a, tzinfo=tz)
                    t = w0 + timedelta(hours=float(rng.uniform(0.2, 0.9)) * ((b - a) % 24))
                    if t < until and rng.random() > float(sc["missed_share"]):
                        visits.append((pid, t, sid, x, y))
                day += timedelta(days=1)
        else:
            t = start + timedelta(hours=float(rng.uniform(0, every)))
            while t < until:
                visits.append((pid, t, sid, x, y))
                late = rng.random() < float(sc["missed_share"])
                t += timedelta(hours=every * float(rng.uniform(1.1, 1.6) if late else rng.uniform(0.6, 0.98)))
    n = len(visits)
    if n:
        acc = rng.uniform(4, 15, size=n)
        lon, lat = project_points(conn, np.array([v[3] for v in visits]), np.array([v[4] for v in visits]),
                                  acc / 2, rng.uniform(0, 360, size=n))
        ids = uuids(rng, n)
        copy_rows(conn, "patrol_visit", ("client_id", "patrol_point_id", "visited_at", "schedule_id", "accuracy_m",
                                         "distance_m", "accepted", "is_generated", "geom"),
                  [(ids[i], v[0], v[1], v[2], round(float(acc[i]), 1), round(float(acc[i]) / 2, 1), True, True,
                    ewkt_point(lon[i], lat[i])) for i, v in enumerate(visits)])
    # Demo officers (kept across loads) patrol with a scheduled team of their commune.
    conn.execute("""
        INSERT INTO security_team_member (user_id, team_id)
        SELECT DISTINCT ON (u.id) u.id, s.team_id
          FROM app_user u JOIN app_user_unit uu ON uu.user_id = u.id
          JOIN patrol_point p ON p.unit_id = uu.unit_id JOIN patrol_schedule s ON s.patrol_point_id = p.id
         WHERE u.role = 'officer' AND NOT u.disabled
         ORDER BY u.id, uu.unit_id, s.team_id
        ON CONFLICT (user_id) DO NOTHING""")
    return len(chosen)
