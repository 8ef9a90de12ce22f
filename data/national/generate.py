"""Build the country (deterministic per seed) and load it with COPY into a database of its own.

``build_country`` draws the shapes (``data.national.shapes``), villages and one station per commune;
``incident_columns`` draws incidents in fixed chunks, each from its own child generator of the seed, so the
first N incidents of a seed are the same whatever total is asked for and a database can grow from 20,000 to
2,000,000 rows by appending. Points are drawn uniformly inside a commune through its constrained Delaunay
triangles (vectorised over all communes), so each incident's commune is known and COPY sets ``unit_id``
itself; ``load_incidents`` can switch the per-row trigger that would look it up again off (measured in
bench/national.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg
import shapely
from psycopg import sql

from data import vocab
from data.national import shapes
from data.national.reference import Division, divisions
from data.text import fold

CHUNK = 100_000  # incidents per child generator
YEARS_DAYS = 730
# Fixed end of the incident period so a seed's rows do not depend on the day they are drawn.
DEFAULT_UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
VALID_FROM = date(2025, 7, 1)
# Rarer with rising gravity; order as vocab.INCIDENT_SEVERITIES (administrative ... particularly_serious).
SEVERITY_WEIGHTS = (0.45, 0.30, 0.15, 0.07, 0.03)
TABLES = ("incident", "station", "settlement", "admin_unit")


@dataclass
class Country:
    seed: int
    provinces: list[Division]
    communes: list[Division]
    shapes: dict[str, shapely.Geometry]  # unit code -> MultiPolygon (provinces and communes)
    ids: dict[str, int]  # unit code -> admin_unit.id (provinces first, then communes, in code order)
    villages: list[tuple] = field(default_factory=list)  # (id, name, kind, population, unit code, lon, lat)
    stations: list[tuple] = field(default_factory=list)  # (id, code, name, unit code, officers, lon, lat)
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # incident share per commune
    _triangles: tuple[np.ndarray, ...] | None = None

    def commune_ids(self) -> np.ndarray:
        return np.array([self.ids[c.code] for c in self.communes])

    def triangles(self) -> tuple[np.ndarray, ...]:
        """(owner commune index, cumulative area within its commune, start offset per commune, vertices)."""
        if self._triangles is None:
            owners, areas, verts = [], [], []
            for i, c in enumerate(self.communes):
                tri = shapely.get_parts(shapely.constrained_delaunay_triangles(self.shapes[c.code]))
                xy = np.array([np.asarray(t.exterior.coords)[:3] for t in tri])
                a = 0.5 * np.abs((xy[:, 1, 0] - xy[:, 0, 0]) * (xy[:, 2, 1] - xy[:, 0, 1])
                                 - (xy[:, 2, 0] - xy[:, 0, 0]) * (xy[:, 1, 1] - xy[:, 0, 1]))
                owners.append(np.full(len(xy), i))
                areas.append(np.cumsum(a) / a.sum())
                verts.append(xy)
            owner = np.concatenate(owners)
            start = np.searchsorted(owner, np.arange(len(self.communes)))
            self._triangles = (owner, np.concatenate(areas), start, np.concatenate(verts))
        return self._triangles

    def points_in(self, commune_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One uniform point inside each given commune (by index into ``communes``), shape (n, 2)."""
        owner, cum, start, verts = self.triangles()
        counts = np.bincount(owner, minlength=len(self.communes))
        u = rng.random(len(commune_index))
        # The triangle: the first of the commune's whose cumulative area share reaches u.
        local = np.empty(len(commune_index), dtype=np.int64)
        order = np.argsort(commune_index, kind="stable")
        bounds = np.searchsorted(commune_index[order], np.arange(len(self.communes) + 1))
        for i in np.nonzero(np.diff(bounds))[0]:
            sel = order[bounds[i]:bounds[i + 1]]
            s, n = start[i], counts[i]
            local[sel] = s + np.minimum(np.searchsorted(cum[s:s + n], u[sel]), n - 1)
        r1, r2 = rng.random(len(local)), rng.random(len(local))
        flip = r1 + r2 > 1
        r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
        t = verts[local]
        return t[:, 0] + r1[:, None] * (t[:, 1] - t[:, 0]) + r2[:, None] * (t[:, 2] - t[:, 0])


def build_country(seed: int = 1, province_codes: Sequence[str] | None = None) -> Country:
    """The provinces (all 34, or those listed, still cut from the whole country), their communes, villages and
    stations."""
    all_provinces, all_communes = divisions()
    village_rng, weight_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    province_shapes = shapes.provinces([p.code for p in all_provinces])
    keep = set(province_codes) if province_codes is not None else {p.code for p in all_provinces}
    provinces = [p for p in all_provinces if p.code in keep]
    communes: list[Division] = []
    unit_shapes: dict[str, shapely.Geometry] = {}
    for p in provinces:  # a generator per province: a subset has the whole country's very shapes
        mine = [c for c in all_communes if c.province_code == p.code]
        cells = shapes.communes(province_shapes[p.code], len(mine), np.random.default_rng([seed, 1, int(p.code)]))
        unit_shapes[p.code] = province_shapes[p.code]
        unit_shapes.update({c.code: g for c, g in zip(mine, cells, strict=True)})
        communes += mine
    ids = {d.code: i for i, d in enumerate([*provinces, *communes], start=1)}
    country = Country(seed, provinces, communes, unit_shapes, ids)
    # Wards are towns: more incidents per unit than a rural commune.
    country.weights = np.array([3.0 if c.kind == "ward" else 1.0 for c in communes]) * weight_rng.lognormal(
        0, 0.5, len(communes))
    country.weights /= country.weights.sum()
    _villages_and_stations(country, village_rng)
    return country


def _villages_and_stations(country: Country, rng: np.random.Generator) -> None:
    per = rng.integers(4, 11, len(country.communes))
    index = np.repeat(np.arange(len(country.communes)), per)
    xy = country.points_in(index, rng)
    population = np.round(rng.lognormal(6.5, 0.6, len(index))).astype(int)
    number = 0
    for k, c in enumerate(country.communes):
        kind, label = ("to_dan_pho", "Tổ dân phố") if c.kind == "ward" else ("thon", "Thôn")
        rows = np.nonzero(index == k)[0]
        for j, r in enumerate(rows, start=1):
            number += 1
            country.villages.append((number, f"{label} {j}", kind, int(population[r]), c.code,
                                     round(float(xy[r, 0]), 7), round(float(xy[r, 1]), 7)))
        # The station stands in the commune's first village (its seat).
        first = rows[0]
        name = "Công an " + c.name[0].lower() + c.name[1:]
        country.stations.append((k + 1, f"CA-{c.code}", name, c.code, int(rng.integers(8, 40)),
                                 round(float(xy[first, 0]), 7), round(float(xy[first, 1]), 7)))


def incident_columns(country: Country, start: int, stop: int, until: datetime = DEFAULT_UNTIL) -> dict[str, list]:
    """Incidents number ``start`` to ``stop - 1`` of the seed's stream, as COPY-ready columns."""
    out: dict[str, list] = {k: [] for k in ("id", "category", "severity", "occurred_at", "reported_at",
                                            "accuracy_m", "unit_id", "source", "status", "geom")}
    cats = vocab.codes(vocab.INCIDENT_CATEGORIES)
    sevs = vocab.codes(vocab.INCIDENT_SEVERITIES)
    statuses = vocab.codes(vocab.INCIDENT_STATUSES)
    unit_ids = country.commune_ids()
    for chunk in range(start // CHUNK, (stop - 1) // CHUNK + 1 if stop > start else start // CHUNK):
        lo, hi = max(start, chunk * CHUNK) - chunk * CHUNK, min(stop, (chunk + 1) * CHUNK) - chunk * CHUNK
        rng = np.random.default_rng([country.seed, 7, chunk])
        commune = rng.choice(len(country.communes), size=CHUNK, p=country.weights)
        xy = country.points_in(commune, rng)
        age_s = rng.random(CHUNK) * YEARS_DAYS * 86400
        delay_s = rng.exponential(3 * 3600, CHUNK)
        cat = rng.integers(0, len(cats), CHUNK)
        sev = rng.choice(len(sevs), size=CHUNK, p=SEVERITY_WEIGHTS)
        # Older cases are mostly closed; the last month's are mostly open.
        closed = rng.random(CHUNK) < np.minimum(0.9, age_s / (90 * 86400))
        open_status = rng.integers(0, len(statuses) - 1, CHUNK)
        acc = np.round(rng.gamma(2.0, 10.0, CHUNK), 1)
        raw = rng.integers(0, 256, size=(CHUNK, 16), dtype=np.uint8)
        raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
        raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
        hexes = raw[lo:hi].tobytes().hex()
        for i in range(lo, hi):
            h = hexes[(i - lo) * 32:(i - lo + 1) * 32]
            out["id"].append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
            occurred = until - timedelta(seconds=round(float(age_s[i])))
            out["occurred_at"].append(occurred)
            out["reported_at"].append(min(until, occurred + timedelta(seconds=round(float(delay_s[i])))))
            out["category"].append(cats[cat[i]])
            out["severity"].append(sevs[sev[i]])
            out["status"].append("closed" if closed[i] else statuses[open_status[i]])
            out["accuracy_m"].append(float(acc[i]))
            out["unit_id"].append(int(unit_ids[commune[i]]))
            out["source"].append("officer")
            out["geom"].append(f"SRID=4326;POINT({xy[i, 0]:.7f} {xy[i, 1]:.7f})")
    return out


def _ewkb(g: shapely.Geometry) -> str:
    return shapely.to_wkb(shapely.set_srid(g, 4326), hex=True, include_srid=True)


def country_rows(country: Country) -> Iterator[tuple[str, tuple]]:
    """(table, row) for every unit, village and station, in load order."""
    by_code = {p.code: p for p in country.provinces}
    for d in [*country.provinces, *country.communes]:
        parent = None if d.kind == "province" else country.ids[by_code[d.province_code].code]
        yield "admin_unit", (country.ids[d.code], "2025", d.code, d.name, fold(d.name), d.kind, parent, VALID_FROM,
                             "generated: data.national (vietnam-provinces names and codes)", True,
                             _ewkb(country.shapes[d.code]))
    for vid, name, kind, pop, code, x, y in country.villages:
        yield "settlement", (vid, name, fold(name), kind, pop, country.ids[code], "generated: data.national", True,
                             f"SRID=4326;POINT({x!r} {y!r})")
    for sid, code, name, unit, officers, x, y in country.stations:
        yield "station", (sid, code, name, "commune_police", country.ids[unit], "independent", officers, VALID_FROM,
                          True, f"SRID=4326;POINT({x!r} {y!r})")


COLUMNS = {
    "admin_unit": ("id", "era", "code", "name", "name_ascii", "kind", "parent_id", "valid_from", "source",
                   "is_generated", "geom"),
    "settlement": ("id", "name", "name_ascii", "kind", "population", "unit_id", "source", "is_generated", "geom"),
    "station": ("id", "code", "name", "kind", "unit_id", "hq_status", "officers", "valid_from", "is_generated",
                "geom"),
    "incident": ("id", "category", "severity", "occurred_at", "reported_at", "accuracy_m", "unit_id", "source",
                 "status", "geom"),
}


def digest(country: Country, incidents: int, until: datetime = DEFAULT_UNTIL) -> str:
    """md5 of every row the generator makes for ``incidents`` incidents (the determinism check)."""
    h = hashlib.md5()  # noqa: S324 (a fingerprint, not security)
    for table, row in country_rows(country):
        h.update(repr((table, row)).encode())
    cols = incident_columns(country, 0, incidents, until)
    for row in zip(*(cols[k] for k in COLUMNS["incident"]), strict=True):
        h.update(repr(row).encode())
    return h.hexdigest()


def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str], rows) -> int:
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def write_country(conn: psycopg.Connection, country: Country) -> dict[str, int]:
    """Replace the units, villages, stations (and so every incident) of the database with the country's."""
    conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    counts: dict[str, int] = {}
    rows = list(country_rows(country))
    for table in ("admin_unit", "settlement", "station"):
        counts[table] = _copy(conn, table, COLUMNS[table], (r for t, r in rows if t == table))
        # Explicit ids (deterministic per seed): the sequences continue after them.
        conn.execute(sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {}))").format(
            sql.Identifier(table)), [table])
    conn.execute("UPDATE admin_unit SET area_km2 = ST_Area(geom::geography) / 1e6")
    return counts


def load_incidents(conn: psycopg.Connection, country: Country, start: int, stop: int, *,
                   until: datetime = DEFAULT_UNTIL, trigger: bool = False, batch: int = CHUNK) -> int:
    """Append incidents ``start`` .. ``stop - 1``; with ``trigger=False`` the commune trigger is off during
    the COPY (the generator already set each row's commune), on again afterwards in the same transaction."""
    if not trigger:
        conn.execute("ALTER TABLE incident DISABLE TRIGGER incident_assign_unit")
    n = 0
    for lo in range(start, stop, batch):
        cols = incident_columns(country, lo, min(stop, lo + batch), until)
        n += _copy(conn, "incident", (*COLUMNS["incident"], "is_generated"),
                   (r + (True,) for r in zip(*(cols[k] for k in COLUMNS["incident"]), strict=True)))
    if not trigger:
        conn.execute("ALTER TABLE incident ENABLE TRIGGER incident_assign_unit")
    return n


def load(url: str, seed: int = 1, incidents: int = 2_000_000, province_codes: Sequence[str] | None = None,
         until: datetime = DEFAULT_UNTIL) -> Country:
    """A fresh country with ``incidents`` incidents in the (already migrated) database at ``url``."""
    country = build_country(seed, province_codes)
    with psycopg.connect(url) as conn, conn.transaction():
        write_country(conn, country)
        load_incidents(conn, country, 0, incidents, until=until)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {', '.join(TABLES)}")
    return country
