"""Small helpers shared by the police and incident stages of the demo generator: exact allocation of
reported totals, bulk COPY, and coordinate transforms done by PostGIS (so that generated metric
coordinates and later SQL checks agree to the millimetre)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime

import numpy as np
import psycopg


def allocate(total: int, weights: Sequence[float] | np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), each >= ``minimum``.

    The parts always add up to ``total`` exactly: reported totals are reproduced, not approximated.
    """
    w = np.asarray(weights, dtype=float)
    n = len(w)
    if n == 0:
        if total:
            raise ValueError(f"cannot split {total} over no parts")
        return np.zeros(0, dtype=int)
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"{total} is less than {n} parts of at least {minimum}")
    w = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    exact = w * rest
    parts = np.floor(exact).astype(int)
    short = rest - int(parts.sum())
    # Stable order: ties keep input order, so the result depends only on the inputs.
    order = np.argsort(-(exact - parts), kind="stable")
    parts[order[:short]] += 1
    return parts + minimum


def uuids(rng: np.random.Generator, n: int) -> list[uuid.UUID]:
    """Version-4 UUIDs drawn from ``rng`` (deterministic per seed, unlike uuid4)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    return [uuid.UUID(bytes=bytes(r), version=4) for r in raw]


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """COPY rows into ``table``; geometry values are given as EWKT text ('SRID=4326;POINT(x y)')."""
    n = 0
    cols = ", ".join(columns)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def ewkt_point(x: float, y: float) -> str:
    # repr() round-trips a float exactly: a feature placed "at a village" has the village's very coordinates.
    return f"SRID=4326;POINT({float(x)!r} {float(y)!r})"


def transform(conn: psycopg.Connection, x: np.ndarray, y: np.ndarray, src: int, dst: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates from EPSG ``src`` to EPSG ``dst`` through PostGIS (same transform as the database's)."""
    if len(x) == 0:
        return np.zeros(0), np.zeros(0)
    rows = conn.execute(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT n, ST_Transform(ST_SetSRID(ST_MakePoint(a, b), %s), %s) g "
        "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(a, b, n)) q ORDER BY n",
        [src, dst, list(map(float, x)), list(map(float, y))]).fetchall()
    arr = np.array(rows, dtype=float)
    return arr[:, 0], arr[:, 1]


def to_lonlat(conn: psycopg.Connection, x: np.ndarray, y: np.ndarray, srid: int) -> tuple[np.ndarray, np.ndarray]:
    """Metric (``srid``) to EPSG:4326."""
    return transform(conn, x, y, srid, 4326)


def to_metric(conn: psycopg.Connection, lon: np.ndarray, lat: np.ndarray, srid: int) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:4326 to metric (``srid``)."""
    return transform(conn, lon, lat, 4326, srid)


def inside_units(conn: psycopg.Connection, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which points lie in a commune-level unit of the current era (where the incident trigger finds one)."""
    if len(lon) == 0:
        return np.zeros(0, dtype=bool)
    rows = conn.execute(
        "SELECT n, sitmap_commune_at(ST_SetSRID(ST_MakePoint(a, b), 4326)) IS NOT NULL"
        " FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS t(a, b, n) ORDER BY n",
        [list(map(float, lon)), list(map(float, lat))]).fetchall()
    return np.array([r[1] for r in rows], dtype=bool)


def random_dates(rng: np.random.Generator, lo: date, hi: date, n: int) -> list[date]:
    """Uniform dates in [lo, hi] (inclusive)."""
    span = max((hi - lo).days, 0)
    return [date.fromordinal(lo.toordinal() + int(d)) for d in rng.integers(0, span + 1, size=n)]


def as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def project_points(conn: psycopg.Connection, lon: np.ndarray, lat: np.ndarray, dist_m: np.ndarray,
                   azimuth_deg: np.ndarray, keep_in_unit: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Move each point ``dist_m`` metres towards ``azimuth_deg`` (geodesic, PostGIS ST_Project).

    With ``keep_in_unit`` (an admin_unit id per point), a moved point that would leave its unit stays where
    it was, so a jittered village feature never changes commune.
    """
    if len(lon) == 0:
        return np.zeros(0), np.zeros(0)
    units = list(keep_in_unit) if keep_in_unit is not None else [None] * len(lon)
    rows = conn.execute(
        """
        SELECT ST_X(r), ST_Y(r) FROM (
          SELECT n, CASE WHEN u IS NULL OR EXISTS (SELECT 1 FROM admin_unit a WHERE a.id = u
                                                    AND ST_Intersects(a.geom, q)) THEN q ELSE p END r
            FROM (SELECT n, u, p, ST_Project(p::geography, d, radians(az))::geometry q
                    FROM (SELECT n, u, d, az, ST_SetSRID(ST_MakePoint(x, y), 4326) p
                            FROM unnest(%s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::int[])
                                 WITH ORDINALITY AS t(x, y, d, az, u, n)) a) b) c
         ORDER BY n
        """,
        [list(map(float, lon)), list(map(float, lat)), list(map(float, dist_m)), list(map(float, azimuth_deg)),
         units]).fetchall()
    arr = np.array(rows, dtype=float)
    return arr[:, 0], arr[:, 1]
