"""Checks against what the database already holds: the province outline, units by code or by containment.

The province is whatever ``admin_unit`` of kind 'province' the database has for the era (several at national
scale); nothing here names a province.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import shapely
from shapely.geometry.base import BaseGeometry

from data.importers.report import ImportReport

PROVINCE = "province"
OUTSIDE_TOLERANCE_M = 100.0  # boundaries are generalised: a point this close outside the outline is inside
NEAREST_UNIT_M = 500.0  # a point in a sliver between units takes the nearest unit this close


@dataclass(frozen=True)
class Unit:
    id: int
    code: str
    name: str
    kind: str


def eras(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT code FROM admin_era ORDER BY code")]


def province_era(conn: psycopg.Connection, era: str, report: ImportReport) -> str | None:
    """The era whose province outline bounds the import: the given one, else any that has one (said so)."""
    have = [r[0] for r in conn.execute(
        "SELECT DISTINCT era FROM admin_unit WHERE kind = %s ORDER BY era", [PROVINCE])]
    if era in have:
        return era
    if have:
        report.warnings.append(f"no province outline for era {era}; checked against the one of era {have[0]}")
        return have[0]
    report.warnings.append("the database has no province outline yet (import one with kind 'province'): the "
                           "'inside the province' check was skipped")
    return None


def check_inside_province(conn: psycopg.Connection, report: ImportReport, era: str | None,
                          geoms: dict[int, BaseGeometry], field: str,
                          swapped: dict[int, BaseGeometry] | None = None) -> set[int]:
    """Reject geometries outside every province outline of ``era``; return the rejected rows.

    ``swapped`` holds each row's geometry with its axes swapped in the file's CRS (see crs.to_wgs84): when
    that lies inside, the row is reported as swapped coordinates rather than merely outside."""
    if era is None or not geoms:
        return set()
    rows = list(geoms)
    swapped = swapped or {}
    wkb = [shapely.to_wkb(geoms[r]) for r in rows]
    empty = shapely.to_wkb(shapely.Point())
    swapped_wkb = [shapely.to_wkb(swapped[r]) if r in swapped else empty for r in rows]
    result = conn.execute(
        """
        WITH g AS (
          SELECT ord, ST_GeomFromWKB(w, 4326) AS g, ST_GeomFromWKB(s, 4326) AS s
            FROM unnest(%(w)s::bytea[], %(s)s::bytea[]) WITH ORDINALITY AS t(w, s, ord)),
        p AS (SELECT name, geom FROM admin_unit WHERE kind = %(kind)s AND era = %(era)s)
        SELECT g.ord,
               min(CASE WHEN ST_Intersects(p.geom, g.g) THEN 0
                        ELSE ST_Distance(p.geom::geography, g.g::geography) END) AS distance_m,
               bool_or(ST_Intersects(p.geom, g.s)) AS swapped_inside,
               string_agg(DISTINCT p.name, ', ') AS provinces
          FROM g CROSS JOIN p GROUP BY g.ord
        """, {"w": wkb, "s": swapped_wkb, "kind": PROVINCE, "era": era}).fetchall()
    rejected = set()
    for ord_, distance_m, swapped_inside, provinces in result:
        row = rows[ord_ - 1]
        if distance_m is None or distance_m <= OUTSIDE_TOLERANCE_M:
            continue
        rejected.add(row)
        if swapped_inside:
            report.reject(row, field, f"coordinates look like swapped latitude/longitude: as given the geometry is "
                                      f"{distance_m / 1000:.1f} km outside {provinces}, swapped it lies inside")
        else:
            report.reject(row, field, f"outside the province: {distance_m / 1000:.2f} km from the outline of "
                                      f"{provinces} (era {era}); check the coordinates and the file's CRS")
    return rejected


def units_by_code(conn: psycopg.Connection, era: str, codes: set[str]) -> dict[str, Unit]:
    if not codes:
        return {}
    cur = conn.execute("SELECT id, code, name, kind FROM admin_unit WHERE era = %s AND code = ANY(%s)",
                       [era, sorted(codes)])
    return {r[1]: Unit(*r) for r in cur}


def units_containing(conn: psycopg.Connection, era: str,
                     points: dict[int, BaseGeometry]) -> dict[int, tuple[Unit, float]]:
    """The smallest unit of ``era`` (below the province) covering each point, else the nearest one within
    NEAREST_UNIT_M (a sliver between generalised boundaries); value is (unit, metres away, 0 when inside)."""
    found: dict[int, tuple[Unit, float]] = {}
    for query in (_COVERING, _NEAREST):
        todo = [r for r in points if r not in found]
        if not todo:
            break
        result = conn.execute(query, {"w": [shapely.to_wkb(points[r]) for r in todo], "era": era,
                                      "kind": PROVINCE, "near": NEAREST_UNIT_M}).fetchall()
        for ord_, uid, code, name, kind, distance in result:
            found[todo[ord_ - 1]] = (Unit(uid, code, name, kind), float(distance))
    return found


_COVERING = """
SELECT t.ord, u.id, u.code, u.name, u.kind, 0.0
  FROM unnest(%(w)s::bytea[]) WITH ORDINALITY AS t(w, ord)
  CROSS JOIN LATERAL (
    SELECT a.id, a.code, a.name, a.kind FROM admin_unit a
     WHERE a.era = %(era)s AND a.kind <> %(kind)s AND ST_Covers(a.geom, ST_GeomFromWKB(t.w, 4326))
     ORDER BY ST_Area(a.geom) LIMIT 1) u
"""

# Nearest by the index (<->, degrees), then measured on the spheroid and kept only when close enough.
_NEAREST = """
SELECT t.ord, u.id, u.code, u.name, u.kind, u.d
  FROM unnest(%(w)s::bytea[]) WITH ORDINALITY AS t(w, ord)
  CROSS JOIN LATERAL (
    SELECT a.id, a.code, a.name, a.kind,
           ST_Distance(a.geom::geography, ST_GeomFromWKB(t.w, 4326)::geography) AS d
      FROM admin_unit a
     WHERE a.era = %(era)s AND a.kind <> %(kind)s
     ORDER BY a.geom <-> ST_GeomFromWKB(t.w, 4326) LIMIT 1) u
 WHERE u.d <= %(near)s
"""


def has_units(conn: psycopg.Connection, era: str) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM admin_unit WHERE era = %s AND kind <> %s)",
                        [era, PROVINCE]).fetchone()[0]
