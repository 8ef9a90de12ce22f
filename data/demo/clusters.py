"""Planted incident clusters with fixed effect sizes on a declared square grid: the ground truth a hot-spot
analysis should find (``demo_planted_cluster``). The grid and every cluster are declared in the demo's
data file (``cfg['incidents']['grid']``, ``cfg['incidents']['planted']``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import psycopg

from data import vocab
from data.demo.gen_util import inside_units, to_lonlat, to_metric

COMMUNE_KINDS = vocab.kinds_sql("kind", vocab.COMMUNE_LEVEL_KINDS)

CELL_ID = "E{ix}N{iy}"


def cell_id(ix: int, iy: int) -> str:
    """Stable id of a grid cell: ix = floor(x / size), iy = floor(y / size) in the grid's metric CRS."""
    return CELL_ID.format(ix=ix, iy=iy)


def period_counts(spec: dict, periods: int) -> list[int]:
    """Planted incidents per period: round(base + slope * (m - start)) from the start period on, never < 0."""
    sp = int(spec.get("start_period", 0))
    return [0 if m < sp else max(0, int(round(float(spec["base"]) + float(spec["slope"]) * (m - sp))))
            for m in range(periods)]


@dataclass
class Planted:
    lon: np.ndarray
    lat: np.ndarray
    t: np.ndarray                                  # epoch seconds
    category: list[str]
    rows: list[dict] = field(default_factory=list)  # one per cluster, for demo_planted_cluster


def _anchor(conn: psycopg.Connection, anchor: dict) -> tuple[float, float]:
    if "admin_centre" in anchor:
        # The 2025 station stands at the unit's administrative centre (police stage); else a point inside.
        row = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM admin_unit u, LATERAL (SELECT COALESCE((SELECT s.geom FROM station s "
            "WHERE s.unit_id = u.id AND s.valid_to IS NULL ORDER BY s.id LIMIT 1), ST_PointOnSurface(u.geom)) p) q "
            "WHERE u.era = '2025' AND u.name = %s ORDER BY u.id LIMIT 1", [anchor["admin_centre"]]).fetchone()
    elif "border_crossing" in anchor:
        row = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM border_crossing WHERE name = %s ORDER BY id LIMIT 1",
                           [anchor["border_crossing"]]).fetchone()
    else:
        raise RuntimeError(f"planted cluster anchor must name an admin_centre or a border_crossing: {anchor}")
    if not row:
        raise RuntimeError(f"planted cluster anchor not found in the database: {anchor}")
    return row


def plant(conn: psycopg.Connection, cfg: dict, rng: np.random.Generator, start: datetime, until: datetime) -> Planted:
    ic = cfg["incidents"]
    grid = ic["grid"]
    srid, size = int(grid["srid"]), float(grid["cell_size_m"])
    periods = int(ic["periods"])
    t0, t1 = start.timestamp(), until.timestamp()
    plen = (t1 - t0) / periods
    out = Planted(np.zeros(0), np.zeros(0), np.zeros(0), [])
    for spec in ic.get("planted", []):
        ax, ay = _anchor(conn, spec["anchor"])
        (mx,), (my,) = to_metric(conn, np.array([ax]), np.array([ay]), srid)
        bx, by = (int(v) for v in spec.get("block", [1, 1]))
        ix0, iy0 = int(round(mx / size - bx / 2)), int(round(my / size - by / 2))
        cand = [(ix0 + i, iy0 + j) for j in range(by) for i in range(bx)]
        shares = conn.execute(
            f"""
            WITH land AS (SELECT ST_Transform(ST_Union(geom), %(srid)s) g FROM admin_unit
                           WHERE era = '2025' AND {COMMUNE_KINDS})
            SELECT n, ST_Area(ST_Intersection(land.g, ST_MakeEnvelope(i * %(s)s, j * %(s)s, (i + 1) * %(s)s,
                   (j + 1) * %(s)s, %(srid)s))) / (%(s)s * %(s)s)
              FROM land, unnest(%(i)s::int[], %(j)s::int[]) WITH ORDINALITY AS t(i, j, n) ORDER BY n
            """, {"srid": srid, "s": size, "i": [c[0] for c in cand], "j": [c[1] for c in cand]}).fetchall()  # noqa: S608 (vocabulary constants)
        cells = [c for c, (_n, share) in zip(cand, shares, strict=True) if share >= float(grid["min_inside"])]
        if not cells:
            raise RuntimeError(f"planted cluster {spec['name']!r}: no grid cell is inside the province")
        counts = period_counts(spec, periods)
        n = sum(counts)
        t = np.concatenate([t0 + (m + rng.random(c)) * plen for m, c in enumerate(counts)]) if n else np.zeros(0)
        lon, lat = np.zeros(n), np.zeros(n)
        todo = np.arange(n)
        margin = 5.0   # metres from cell edges, so a point's cell is the same whichever transform computes it
        for _attempt in range(50):
            if len(todo) == 0:
                break
            pick = rng.integers(0, len(cells), size=len(todo))
            x = (np.array([cells[k][0] for k in pick]) * size + margin + rng.random(len(todo)) * (size - 2 * margin))
            y = (np.array([cells[k][1] for k in pick]) * size + margin + rng.random(len(todo)) * (size - 2 * margin))
            plon, plat = to_lonlat(conn, x, y, srid)
            ok = inside_units(conn, plon, plat)
            lon[todo[ok]], lat[todo[ok]] = plon[ok], plat[ok]
            todo = todo[~ok]
        if len(todo):
            raise RuntimeError(f"planted cluster {spec['name']!r}: could not place {len(todo)} incidents inside")
        out.lon = np.concatenate([out.lon, lon])
        out.lat = np.concatenate([out.lat, lat])
        out.t = np.concatenate([out.t, t])
        out.category += [spec["category"]] * n
        sp = int(spec.get("start_period", 0))
        out.rows.append({
            "name": spec["name"], "category": spec["category"], "cell_size_m": size,
            "cells": [cell_id(i, j) for i, j in cells], "ij": cells, "trend": spec["trend"], "incident_count": n,
            "starts_at": start + timedelta(seconds=sp * plen), "ends_at": until,
            "effect": {"base_per_period": spec["base"], "slope_per_period": spec["slope"], "start_period": sp,
                       "periods": periods, "period_days": round(plen / 86400, 6), "counts": counts,
                       "anchor": spec["anchor"], "period_start": start.isoformat(),
                       "grid": {"srid": srid, "cell_size_m": size, "cell_id": CELL_ID,
                                "rule": "ix = floor(x / cell_size_m), iy = floor(y / cell_size_m)"}},
        })
    return out


def write_ground_truth(conn: psycopg.Connection, planted: Planted, srid: int) -> int:
    for r in planted.rows:
        size = r["cell_size_m"]
        conn.execute(
            """
            INSERT INTO demo_planted_cluster (name, category, cell_size_m, cells, starts_at, ends_at, trend, effect,
                                              incident_count, geom)
            SELECT %(name)s, %(category)s, %(size)s, %(cells)s, %(starts)s, %(ends)s, %(trend)s, %(effect)s::jsonb,
                   %(n)s, ST_Multi(ST_Union(ST_Transform(ST_MakeEnvelope(i * %(size)s, j * %(size)s,
                   (i + 1) * %(size)s, (j + 1) * %(size)s, %(srid)s), 4326)))
              FROM unnest(%(i)s::int[], %(j)s::int[]) AS t(i, j)
            """,
            {"name": r["name"], "category": r["category"], "size": size, "cells": r["cells"],
             "starts": r["starts_at"], "ends": r["ends_at"], "trend": r["trend"], "effect": json.dumps(r["effect"]),
             "n": r["incident_count"], "srid": srid, "i": [c[0] for c in r["ij"]], "j": [c[1] for c in r["ij"]]})
    return len(planted.rows)

