"""Two years of generated incidents ending at ``until``: a background whose mix and geography follow the
data file (drugs along the border and national roads, border crossings at the border, theft and fraud in
towns, traffic on the roads), planted clusters with known trends, a handful of fresh incidents in the
last 24 hours, and each incident's status history. Then the things that depend on the end date: the
stations' status as of ``until``, recent patrol visits and the key-area designations.

Times are drawn in the province's time zone and stored as timestamptz; ``unit_id`` is assigned by the
database trigger from the point.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from scipy.spatial import cKDTree

from data import vocab
from data.demo import clusters, key_areas, patrols, police
from data.demo.gen_util import allocate, copy_rows, ewkt_point, inside_units, to_lonlat, to_metric, uuids

FLOW = {"new": ["new"], "assigned": ["new", "assigned"], "in_progress": ["new", "assigned", "in_progress"],
        "transferred": ["new", "assigned", "in_progress", "transferred"],
        "closed": ["new", "assigned", "in_progress", "closed"]}
STEP_MEDIAN_H = {"assigned": 2.0, "in_progress": 12.0, "transferred": 72.0, "closed": 240.0}


def _places(conn: psycopg.Connection, srid: int) -> dict[str, np.ndarray]:
    """Settlements with what the spatial mix needs: population, town or not, metric x/y, distance to the
    nearest national road and to the national border (infinite outside border communes)."""
    rows = conn.execute(
        """
        WITH border AS MATERIALIZED (
          SELECT ST_Transform(ST_Intersection(ST_Boundary(p.geom), ST_Buffer(ST_Union(ST_Boundary(u.geom)), 0.002)),
                              %(srid)s) g
            FROM admin_unit p, admin_unit u
           WHERE p.era = '2025' AND p.kind = 'province' AND u.era = '2025'
             AND COALESCE(cardinality(u.border_countries), 0) > 0
           GROUP BY p.geom)
        SELECT s.id, s.name, COALESCE(s.population, 0), s.kind IN ('town', 'to_dan_pho'), ST_X(s.geom), ST_Y(s.geom),
               ST_X(ST_Transform(s.geom, %(srid)s)), ST_Y(ST_Transform(s.geom, %(srid)s)),
               COALESCE((SELECT ST_Distance(ST_Transform(e.geom, %(srid)s), ST_Transform(s.geom, %(srid)s))
                           FROM road_edge e WHERE e.road_class = 'national' ORDER BY e.geom <-> s.geom LIMIT 1),
                        'Infinity'::float8),
               CASE WHEN COALESCE(cardinality(u.border_countries), 0) > 0
                    THEN COALESCE((SELECT ST_Distance(b.g, ST_Transform(s.geom, %(srid)s)) FROM border b),
                                  'Infinity'::float8)
                    ELSE 'Infinity'::float8 END
          FROM settlement s JOIN admin_unit u ON u.id = s.unit_id
         ORDER BY s.id
        """, {"srid": srid}).fetchall()
    if not rows:
        raise RuntimeError("load_incidents needs settlements with their 2025 unit")
    cols = list(zip(*rows, strict=True))
    return {"id": np.array(cols[0]), "name": np.array(cols[1], dtype=object), "pop": np.array(cols[2], dtype=float),
            "town": np.array(cols[3], dtype=bool), "lon": np.array(cols[4]), "lat": np.array(cols[5]),
            "x": np.array(cols[6]), "y": np.array(cols[7]), "d_road": np.array(cols[8], dtype=float),
            "d_border": np.array(cols[9], dtype=float)}


def _weights(pl: dict[str, np.ndarray], sp: dict) -> np.ndarray:
    w = np.maximum(pl["pop"], 1.0) ** float(sp.get("pop_exp", 1.0))
    if "border_boost" in sp:
        w = w * (1 + float(sp["border_boost"]) * np.exp(-pl["d_border"] / (1000 * float(sp["border_km"]))))
    if "road_boost" in sp:
        w = w * (1 + float(sp["road_boost"]) * np.exp(-pl["d_road"] / (1000 * float(sp["road_km"]))))
    if "town_boost" in sp:
        w = w * np.where(pl["town"], float(sp["town_boost"]), 1.0)
    if sp.get("border_only") and np.isfinite(pl["d_border"]).any():
        w = w * (pl["d_border"] < 3000 * float(sp.get("border_km", 5)))
    return w / w.sum()


def _road_points(conn: psycopg.Connection, ic: dict, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """``n`` points along the road network, weighted by length and road class."""
    edges = conn.execute("SELECT id, road_class, length_m FROM road_edge ORDER BY id").fetchall()
    cw = ic["road_class_weight"]
    w = np.array([float(cw.get(c, 0.0)) * max(length, 0.0) for _i, c, length in edges])
    pick = rng.choice(len(edges), size=n, p=w / w.sum())
    frac = rng.random(n)
    rows = conn.execute(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT k, ST_LineInterpolatePoint(e.geom, f) p FROM unnest(%s::bigint[], "
        "%s::float8[]) WITH ORDINALITY t(eid, f, k) JOIN road_edge e ON e.id = t.eid) q ORDER BY k",
        [[int(edges[i][0]) for i in pick], list(map(float, frac))]).fetchall()
    arr = np.array(rows, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def _times(rng: np.random.Generator, ic: dict, hours: str, n: int, start: datetime, until: datetime,
           tz: ZoneInfo) -> np.ndarray:
    """Epoch seconds: days weighted by month-of-year and the yearly trend, hours by the category's profile."""
    first = start.astimezone(tz).date()
    ndays = (until.astimezone(tz).date() - first).days + 1
    days = [first + timedelta(days=k) for k in range(ndays)]
    mf = np.array(ic["month_factor"], dtype=float)
    w = np.array([mf[d.month - 1] for d in days]) * (1 + float(ic["annual_change"])) ** (np.arange(ndays) / 365.25)
    midnight = np.array([datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() for d in days])
    prof = np.array(ic["hour_profiles"][hours], dtype=float)
    k = rng.choice(ndays, size=n, p=w / w.sum())
    h = rng.choice(24, size=n, p=prof / prof.sum())
    t = midnight[k] + h * 3600 + rng.random(n) * 3600
    lo, hi = start.timestamp(), until.timestamp()
    out = (t < lo) | (t > hi)
    t[out] = lo + rng.random(int(out.sum())) * (hi - lo)
    return t


def _statuses(rng: np.random.Generator, ic: dict, age_days: np.ndarray) -> np.ndarray:
    codes = vocab.codes(vocab.INCIDENT_STATUSES)
    out = np.empty(len(age_days), dtype=object)
    lo = -np.inf
    for band in ic["status_by_age"]:
        sel = (age_days > lo) & (age_days <= float(band["max_days"]))
        p = np.array(band["shares"], dtype=float)
        out[sel] = rng.choice(codes, size=int(sel.sum()), p=p / p.sum())
        lo = float(band["max_days"])
    out[out == None] = "closed"  # noqa: E711 - numpy elementwise comparison
    return out


def load_incidents(conn: psycopg.Connection, cfg: dict, rng: np.random.Generator, until: datetime,
                   progress: bool = False) -> dict[str, int]:
    ic = cfg["incidents"]
    tz = ZoneInfo(cfg.get("province", {}).get("timezone", "Asia/Ho_Chi_Minh"))
    until = until.replace(tzinfo=tz) if until.tzinfo is None else until.astimezone(tz)
    years = int(ic["years"])
    try:
        start = until.replace(year=until.year - years)
    except ValueError:   # 29 February
        start = until.replace(year=until.year - years, day=28)
    srid = int(ic["grid"]["srid"])
    pl = _places(conn, srid)
    tree = cKDTree(np.column_stack([pl["x"], pl["y"]]))

    planted = clusters.plant(conn, cfg, rng, start, until)
    n_recent = int(ic.get("last_24h_extra", 0))
    n_bg = int(ic["total"]) - len(planted.t) - n_recent
    cats = ic["categories"]
    names = list(cats)
    unknown = set(names) - set(vocab.codes(vocab.INCIDENT_CATEGORIES))
    if unknown:
        raise RuntimeError(f"incidents.categories: not in vocab.INCIDENT_CATEGORIES: {sorted(unknown)}")
    per_cat = allocate(n_bg, [cats[c]["share"] for c in names])
    rec_cat = allocate(n_recent, [cats[c]["share"] for c in names])

    lon_l, lat_l, t_l, cat_l = [planted.lon], [planted.lat], [planted.t], list(planted.category)
    for c, nb, nr in zip(names, per_cat, rec_cat, strict=True):
        spec, n = cats[c], int(nb + nr)
        if n == 0:
            continue
        sp = spec.get("spatial", {})
        sigma = float(spec.get("sigma_m", 300))
        if sp.get("anchor") == "road":
            alon, alat = _road_points(conn, ic, rng, n)
            ax, ay = to_metric(conn, alon, alat, srid)
        else:
            k = rng.choice(len(pl["id"]), size=n, p=_weights(pl, sp))
            alon, alat, ax, ay = pl["lon"][k], pl["lat"][k], pl["x"][k], pl["y"][k]
        x, y = ax + rng.normal(0, sigma, n), ay + rng.normal(0, sigma, n)
        lon, lat = to_lonlat(conn, x, y, srid)
        out = ~inside_units(conn, lon, lat)
        lon[out], lat[out] = alon[out], alat[out]     # back to the village (or road) it was drawn around
        still = np.flatnonzero(out)[~inside_units(conn, lon[out], lat[out])]
        if len(still):   # a road point outside every commune (a road along the border): nearest village
            _d, k = tree.query(np.column_stack([ax[still], ay[still]]))
            lon[still], lat[still] = pl["lon"][k], pl["lat"][k]
        t = np.concatenate([_times(rng, ic, spec["hours"], int(nb), start, until, tz),
                            until.timestamp() - rng.random(int(nr)) * 86400])
        lon_l.append(lon)
        lat_l.append(lat)
        t_l.append(t)
        cat_l += [c] * n
    lon, lat, t = np.concatenate(lon_l), np.concatenate(lat_l), np.concatenate(t_l)
    cat = np.array(cat_l, dtype=object)
    n = len(t)
    order = np.lexsort((lat, lon, t))      # rows in time order: stable ids, cheap range scans
    lon, lat, t, cat = lon[order], lat[order], t[order], cat[order]

    # Attributes.
    sev_codes = vocab.codes(vocab.INCIDENT_SEVERITIES)
    severity = np.empty(n, dtype=object)
    for c in set(cat):
        sel = cat == c
        p = np.array(ic["severity"].get(c, ic["severity"]["default"]), dtype=float)
        severity[sel] = rng.choice(sev_codes, size=int(sel.sum()), p=p / p.sum())
    src_names = list(ic["sources"])
    src_p = np.array(list(ic["sources"].values()), dtype=float)
    source = rng.choice(src_names, size=n, p=src_p / src_p.sum())
    acc = np.array([ic["accuracy_m"][s] for s in source], dtype=float) * np.exp(rng.normal(0, 0.6, n))
    delay = np.array([ic["report_delay_minutes"][s] for s in source], dtype=float) * 60 * np.exp(rng.normal(0, 1.0, n))
    end = until.timestamp()
    reported = np.minimum(t + delay, end)
    age_days = (end - t) / 86400
    status = _statuses(rng, ic, age_days)
    mx, my = to_metric(conn, lon, lat, srid)
    _d, near = tree.query(np.column_stack([mx, my]))
    place = pl["name"][near]
    ids = uuids(rng, n)

    inc_rows, hist_rows = [], []
    for i in range(n):
        templates = ic["descriptions"].get(cat[i]) or ic["descriptions"]["other"]
        desc = templates[int(rng.integers(len(templates)))].format(place=place[i], n=int(rng.integers(2, 7)))
        flow = FLOW[status[i]]
        at = reported[i]
        times = [at]
        for step in flow[1:]:
            nxt = at + STEP_MEDIAN_H[step] * 3600 * float(np.exp(rng.normal(0, 0.8)))
            at = nxt if nxt <= end else at + (end - at) * float(rng.random())
            times.append(at)
        occurred = datetime.fromtimestamp(float(t[i]), tz)
        for v, (step, when) in enumerate(zip(flow, times, strict=True), start=1):
            prev = flow[v - 2] if v > 1 else None
            hist_rows.append((ids[i], datetime.fromtimestamp(float(when), tz), None, v, prev, step,
                              json.dumps({"created": True} if prev is None else {"status": [prev, step]})))
        inc_rows.append((ids[i], cat[i], severity[i], occurred, datetime.fromtimestamp(float(reported[i]), tz),
                         round(float(acc[i]), 1), source[i], status[i], desc, len(flow),
                         datetime.fromtimestamp(float(times[-1]), tz), True, ewkt_point(lon[i], lat[i])))
    copy_rows(conn, "incident", ("id", "category", "severity", "occurred_at", "reported_at", "accuracy_m", "source",
                                 "status", "description", "version", "updated_at", "is_generated", "geom"), inc_rows)
    copy_rows(conn, "incident_history", ("incident_id", "at", "user_id", "version", "from_status", "to_status",
                                         "changes"), hist_rows)
    orphans = conn.execute("SELECT count(*) FROM incident WHERE is_generated AND unit_id IS NULL").fetchone()[0]
    if orphans:
        raise RuntimeError(f"{orphans} generated incidents lie outside every commune (the unit trigger found none)")
    counts = {"incidents": n, "incident_history": len(hist_rows),
              "planted_clusters": clusters.write_ground_truth(conn, planted, srid)}
    counts["station_status_changes_after_end"] = police.settle_as_of(conn, until)
    counts["patrol_visits"] = patrols.load_visits(conn, cfg, rng, until)
    counts["patrol_schedules"] = patrols.load_schedules(conn, cfg, rng, until)
    counts.update(key_areas.load_key_areas(conn, cfg, until))
    return counts
