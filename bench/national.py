"""National scale: how tiles, a bbox page, writes and a hot-spot run grow from 20,000 to 2,000,000 incidents.

``python -m bench.national [--seed 1] [--sizes 20000,200000,2000000]``:

1. builds the country (data/national: 34 provinces, 3,321 communes, villages, a station per commune) into a
   database of its own, ``sitmap_national`` on the embedded cluster (or DATABASE_URL's server), migrated with
   the project's migrations; never the dev/demo database;
2. measures once what the commune trigger costs a COPY (rows/s with and without it);
3. for each size (appending incidents: the first N of a seed are the same for every N), starts the real app
   (uvicorn, tile cache off) and measures: a fixed list of incident tiles at zooms 8-14 inside four provinces
   (p50/p95), a bbox feature page, durable ``POST /incidents`` from a few clients scoped to one province, and
   a Gi* hot-spot run over one province's incidents (geo/hotspots: read, count, weights, statistic);
4. at the largest size, the partitioning experiment: the same tile (z8, z12), bbox page, single-row insert and
   a province's situation-style count in raw SQL on the table as it is and on copies partitioned by month, by
   province, and both;
5. prints the growth table with ratios between sizes. It asserts nothing: timings on a shared 2-core machine
   are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import psycopg
from psycopg import sql

from bench.incidents import _post
from bench.tiles import add_bench_commander, free_port, log, stop, tile_of, wait_ready
from data.db.connection import ensure_database
from data.db.migrate import migrate
from data.national import generate
from data.settings import get_settings

DB = "sitmap_national"
PROVINCES = ("01", "11", "52", "79")  # Hà Nội, Điện Biên, Gia Lai, Hồ Chí Minh: dense to sparse
WRITE_PROVINCE = "11"
OFFICER_TOKEN = "bench-national-officer"
HEADERS = {"Authorization": "Bearer bench-commander-token"}
HEX_WIDTH_M = 1000.0
SERVER_LOG = Path("/var/tmp/sitmap-bench-national-server.log")  # the app's request log lines, not the table


def national_url() -> str:
    s = get_settings()
    if s.database_url:
        parts = urlsplit(s.database_url.replace("postgresql+psycopg://", "postgresql://"))
        return parts._replace(path=f"/{DB}").geturl()
    from data.db.cluster import Cluster

    cluster = Cluster.from_settings(s)
    cluster.start()
    return cluster.url(DB)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))] if s else float("nan")


# --- data -----------------------------------------------------------------------------------------------

def build(url: str, seed: int) -> tuple[generate.Country, dict[str, float]]:
    ensure_database(url)
    migrate(url)
    t = time.perf_counter()
    country = generate.build_country(seed)
    built = time.perf_counter() - t
    with psycopg.connect(url) as conn, conn.transaction():
        counts = generate.write_country(conn, country)
    log(f"country built in {built:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return country, {"build_s": built}


def trigger_cost(url: str, country: generate.Country, n: int) -> dict[str, float]:
    """COPY rows/s with the commune trigger on and off: n rows each, rolled back, and the trigger's answers
    compared with the generator's communes."""
    out = {}
    with psycopg.connect(url) as conn:
        for on in (True, False):
            with conn.transaction(force_rollback=True):
                t = time.perf_counter()
                generate.load_incidents(conn, country, 0, n, trigger=on)
                out["copy_rows_s_trigger_on" if on else "copy_rows_s_trigger_off"] = n / (time.perf_counter() - t)
                if on:
                    cols = generate.incident_columns(country, 0, n)
                    stored = dict(conn.execute("SELECT id::text, unit_id FROM incident").fetchall())
                    out["trigger_disagrees"] = sum(stored[i] != u for i, u in zip(cols["id"], cols["unit_id"],
                                                                                    strict=True))
    return out


def grow(url: str, country: generate.Country, size: int) -> float:
    with psycopg.connect(url) as conn:
        have = conn.execute("SELECT count(*) FROM incident WHERE is_generated").fetchone()[0]
    t = time.perf_counter()
    if have < size:
        log(f"adding incidents {have:,} .. {size:,}")
        with psycopg.connect(url) as conn, conn.transaction():
            generate.load_incidents(conn, country, have, size)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE incident")
    return time.perf_counter() - t


def add_officer(url: str, country: generate.Country) -> None:
    from data.ops.signin import hash_password, token_hash

    units = [country.ids[c.code] for c in country.communes if c.province_code == WRITE_PROVINCE]
    with psycopg.connect(url, autocommit=True) as c:
        add_bench_commander(c)
        uid = c.execute("INSERT INTO app_user (username, password_hash, role) VALUES ('bench-national-officer', %s, "
                        "'officer') ON CONFLICT (username) DO UPDATE SET role = 'officer', disabled = false "
                        "RETURNING id", (hash_password(OFFICER_TOKEN),)).fetchone()[0]
        c.execute("DELETE FROM app_user_unit WHERE user_id = %s", (uid,))
        c.execute("INSERT INTO app_user_unit (user_id, unit_id) SELECT %s, unnest(%s::int[])", (uid, units))
        c.execute("DELETE FROM app_session WHERE token_hash = %s", (token_hash(OFFICER_TOKEN),))
        c.execute("INSERT INTO app_session (token_hash, user_id, kind, expires_at) "
                  "VALUES (%s, %s, 'bearer', now() + interval '1 day')", (token_hash(OFFICER_TOKEN), uid))


def workload(country: generate.Country, seed: int) -> tuple[list[str], list[str]]:
    """Fixed tile paths (zooms 8-14, 4 per zoom per province) and bbox pages inside the provinces."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    tiles, pages = [], []
    for code in PROVINCES:
        idx = np.array([i for i, c in enumerate(country.communes) if c.province_code == code])
        pts = country.points_in(np_rng.choice(idx, 64), np_rng)
        for z in range(8, 15):
            for _ in range(4):
                lon, lat = pts[rng.randrange(len(pts))]
                x, y = tile_of(lon, lat, z)
                tiles.append(f"/collections/incidents/tiles/WebMercatorQuad/{z}/{y}/{x}")
        for _ in range(10):
            lon, lat = pts[rng.randrange(len(pts))]
            d = rng.choice([0.01, 0.03, 0.1])
            pages.append(f"/collections/incidents/items?bbox={lon - d:.4f},{lat - d:.4f},{lon + d:.4f},"
                         f"{lat + d:.4f}&limit=100")
    return tiles, pages


# --- measuring through the app ----------------------------------------------------------------------------

def start_app(url: str) -> tuple:
    import os
    import subprocess

    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SITMAP_TILE_CACHE_MB": "0", "SITMAP_POOL_MAX": "16"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
                             "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning",
                             "--no-access-log"], env=env, stdout=SERVER_LOG.open("ab"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_ready(proc, f"{base}/conformance")
    return proc, base


async def timed_gets(base: str, paths: list[str], clients: int) -> tuple[list[float], int]:
    lat: list[float] = []
    errors = 0
    queue = list(paths)
    async with httpx.AsyncClient(base_url=base, headers=HEADERS, timeout=60) as http:
        async def worker() -> None:
            nonlocal errors
            while queue:
                p = queue.pop()
                t = time.perf_counter()
                r = await http.get(p)
                lat.append(time.perf_counter() - t)
                errors += r.status_code >= 400
        await asyncio.gather(*[worker() for _ in range(clients)])
    return lat, errors


async def writes(base: str, country: generate.Country, seconds: float, clients: int) -> tuple[float, float, int]:
    """Durable POST /incidents for ``seconds`` from ``clients`` keep-alive connections: (rate, p95 s, errors)."""
    villages = _province_villages(country)
    host, port = base.removeprefix("http://").split(":")
    head = (f"POST /incidents HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {OFFICER_TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    lat: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    now = datetime.now(UTC)

    async def client(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        rng = random.Random(k)
        try:
            while time.perf_counter() < stop_at:
                x, y = villages[rng.randrange(len(villages))]
                body = json.dumps({"id": str(uuid.uuid4()), "category": "theft", "severity": "less_serious",
                                   "occurred_at": (now - timedelta(minutes=rng.randrange(600))).isoformat(),
                                   "lon": x, "lat": y, "accuracy_m": 10.0}).encode()
                t = time.perf_counter()
                if await _post(reader, writer, head, body) == 201:
                    lat.append(time.perf_counter() - t)
                else:
                    errors += 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[client(k) for k in range(clients)])
    return len(lat) / (time.perf_counter() - t0), pct(lat, 95), errors


def _province_villages(country: generate.Country) -> list[tuple[float, float]]:
    codes = {c.code for c in country.communes if c.province_code == WRITE_PROVINCE}
    return [(x, y) for _, _, _, _, code, x, y in country.villages if code in codes]


def hotspot_run(url: str, country: generate.Country) -> tuple[float, int]:
    """One Gi* run over the write province's incidents on 1 km hexagons: (seconds, points)."""
    from geo.hotspots import gistar, grid, weights

    units = [country.ids[c.code] for c in country.communes if c.province_code == WRITE_PROVINCE]
    t = time.perf_counter()
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(geom, 3405) g FROM incident "
                         "WHERE unit_id = ANY(%s)) s", (units,)).fetchall()
    xy = np.array(rows, dtype=float)
    q, r = grid.cell_of(xy[:, 0], xy[:, 1], HEX_WIDTH_M)
    keys, counts = np.unique(np.column_stack([q, r]), axis=0, return_counts=True)
    cx, cy = grid.centres(keys[:, 0], keys[:, 1], HEX_WIDTH_M)
    w = weights.distance_band(cx, cy, 1.05 * HEX_WIDTH_M)
    z = gistar.gi_star(counts.astype(float), w)
    gistar.p_values(z)
    return time.perf_counter() - t, len(xy)


def measure_size(url: str, country: generate.Country, seed: int, write_seconds: float, clients: int,
                 write_clients: int) -> dict:
    tiles, pages = workload(country, seed)
    proc, base = start_app(url)
    try:
        asyncio.run(timed_gets(base, tiles[:20] + pages[:5], 2))  # warm the pools and the plans
        tl, te = asyncio.run(timed_gets(base, tiles, clients))
        pl, pe = asyncio.run(timed_gets(base, pages, clients))
        rate, wp95, we = asyncio.run(writes(base, country, write_seconds, write_clients))
    finally:
        stop(proc)
    hs, hn = hotspot_run(url, country)
    return {"tile_p50": pct(tl, 50), "tile_p95": pct(tl, 95), "tile_errors": te, "tiles": len(tl),
            "page_p50": pct(pl, 50), "page_p95": pct(pl, 95), "page_errors": pe,
            "writes_s": rate, "write_p95": wp95, "write_errors": we, "hotspot_s": hs, "hotspot_points": hn}


# --- partitioning (raw SQL, same query shapes as layers/sql.py) --------------------------------------------

COLS = ("id uuid NOT NULL, number bigint NOT NULL, category varchar(32) NOT NULL, severity varchar(32) NOT NULL, "
        "severity_rank smallint, occurred_at timestamptz NOT NULL, status varchar(16) NOT NULL, "
        "source varchar(16) NOT NULL, unit_id integer, province_id integer NOT NULL, geom_3857 geometry(Point, 3857)")
TILE_SQL = """
WITH s AS (SELECT row_number() OVER () AS _n, q.* FROM (
  SELECT geom_3857 AS _g, number AS _fid, category, severity, status, source, unit_id,
         extract(epoch FROM occurred_at)::bigint AS occurred_at
    FROM {t} WHERE geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.0078125)
   ORDER BY severity_rank DESC, occurred_at DESC LIMIT 4001) q)
SELECT (SELECT ST_AsMVT(m, 'incidents', 4096, 'geom', '_fid') FROM (
  SELECT ST_AsMVTGeom(_g, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom, _fid, category, severity,
         status, source, unit_id, occurred_at FROM s WHERE _n <= 4000) m), (SELECT count(*) FROM s)"""
PAGE_SQL = ("SELECT id, category, severity, status, occurred_at, ST_AsGeoJSON(geom_3857) FROM {t} "
            "WHERE geom_3857 && ST_Transform(ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326), 3857) "
            "ORDER BY number LIMIT 100")
INSERT_SQL = ("INSERT INTO {t} VALUES (gen_random_uuid(), %s, 'theft', 'less_serious', 2, %s, 'new', 'officer', "
              "%s, %s, ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 3857))")
COUNT_SQL = ("SELECT status, count(*) FROM {t} WHERE province_id = %(p)s AND unit_id = ANY(%(units)s) "
             "AND occurred_at >= %(since)s GROUP BY status")


def build_variants(conn: psycopg.Connection, until: datetime) -> list[str]:
    """Copies of the incident table's tile/page columns: flat (as today), by month, by province, both."""
    conn.execute("DROP TABLE IF EXISTS inc_flat, inc_month, inc_prov, inc_both CASCADE")
    provinces = [r[0] for r in conn.execute("SELECT id FROM admin_unit WHERE kind = 'province' ORDER BY id")]
    months = []
    m = datetime(until.year - 2, until.month, 1, tzinfo=UTC) - timedelta(days=31)
    m = m.replace(day=1)
    while m <= until + timedelta(days=31):
        nxt = (m + timedelta(days=32)).replace(day=1)
        months.append((m, nxt))
        m = nxt
    conn.execute(f"CREATE TABLE inc_flat ({COLS})")
    conn.execute(f"CREATE TABLE inc_month ({COLS}) PARTITION BY RANGE (occurred_at)")
    conn.execute(f"CREATE TABLE inc_prov ({COLS}) PARTITION BY LIST (province_id)")
    conn.execute(f"CREATE TABLE inc_both ({COLS}) PARTITION BY LIST (province_id)")
    for i, (a, b) in enumerate(months):
        conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF inc_month FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(f"inc_month_{i}"), sql.Literal(a), sql.Literal(b)))
    for p in provinces:
        conn.execute(f"CREATE TABLE inc_prov_{p} PARTITION OF inc_prov FOR VALUES IN ({int(p)})")
        conn.execute(f"CREATE TABLE inc_both_{p} PARTITION OF inc_both FOR VALUES IN ({int(p)}) "
                     "PARTITION BY RANGE (occurred_at)")
        # Quarters inside a province: 34 x 36 monthly leaves would be 1,224 tables for 2M rows.
        q0 = months[0][0]
        while q0 < months[-1][1]:
            q1 = (q0 + timedelta(days=95)).replace(day=1)
            conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(f"inc_both_{p}_{q0:%Y%m}"), sql.Identifier(f"inc_both_{p}"), sql.Literal(q0),
                sql.Literal(q1)))
            q0 = q1
    select = ("SELECT i.id, i.number, i.category, i.severity, i.severity_rank, i.occurred_at, i.status, i.source, "
              "i.unit_id, u.parent_id, i.geom_3857 FROM incident i JOIN admin_unit u ON u.id = i.unit_id")
    for t in ("inc_flat", "inc_month", "inc_prov", "inc_both"):
        conn.execute(f"INSERT INTO {t} {select}")
        conn.execute(f"CREATE INDEX ON {t} USING gist (geom_3857)")
        conn.execute(f"CREATE INDEX ON {t} (severity_rank DESC, occurred_at DESC) INCLUDE (geom_3857, number, "
                     "category, severity, status, source, unit_id)")
        conn.execute(f"CREATE INDEX ON {t} (unit_id, occurred_at)")
        conn.execute(f"CREATE INDEX ON {t} (number)")
    conn.commit()
    return ["inc_flat", "inc_month", "inc_prov", "inc_both"]


def partition_experiment(url: str, country: generate.Country, seed: int, until: datetime) -> dict[str, dict]:
    rng = np.random.default_rng(seed + 100)
    with psycopg.connect(url) as conn:
        t = time.perf_counter()
        tables = build_variants(conn, until)
        log(f"partition variants built in {time.perf_counter() - t:.0f} s")
    with psycopg.connect(url, autocommit=True) as conn:
        for t in tables:
            conn.execute(f"VACUUM ANALYZE {t}")
    code = WRITE_PROVINCE
    pid = country.ids[code]
    units = [country.ids[c.code] for c in country.communes if c.province_code == code]
    idx = np.array([i for i, c in enumerate(country.communes) if c.province_code in PROVINCES])
    pts = country.points_in(rng.choice(idx, 40), rng)
    out: dict[str, dict] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        # As the app's pool (README, Performance): psycopg prepares a statement run 5 times, and a generic plan
        # of the tile query walks the priority index over the whole table.
        conn.execute("SET plan_cache_mode = force_custom_plan")
        for t in tables:
            res: dict[str, float] = {}
            for z in (8, 12):
                lat = []
                for lon, la in list(pts) * 2:
                    x, y = tile_of(lon, la, z)
                    s = time.perf_counter()
                    conn.execute(TILE_SQL.format(t=t), {"z": z, "x": x, "y": y}).fetchone()
                    lat.append(time.perf_counter() - s)
                res[f"tile_z{z}_p50"] = pct(lat[len(pts):], 50)
            lat = []
            for lon, la in pts:
                s = time.perf_counter()
                conn.execute(PAGE_SQL.format(t=t), {"x0": lon - 0.03, "y0": la - 0.03, "x1": lon + 0.03,
                                                    "y1": la + 0.03}).fetchall()
                lat.append(time.perf_counter() - s)
            res["page_p50"] = pct(lat, 50)
            lat = []
            for since in (until - timedelta(days=30), until - timedelta(days=365)):
                for _ in range(5):
                    s = time.perf_counter()
                    conn.execute(COUNT_SQL.format(t=t), {"p": pid, "units": units, "since": since}).fetchall()
                    lat.append(time.perf_counter() - s)
            res["count_p50"] = pct(lat, 50)
            s = time.perf_counter()
            n = 300
            for k in range(n):  # one durable commit per row, as POST /incidents
                conn.execute(INSERT_SQL.format(t=t), (10_000_000 + k, until - timedelta(hours=k), units[0], pid,
                                        float(pts[0][0]), float(pts[0][1])))
            res["insert_s"] = n / (time.perf_counter() - s)
            out[t] = res
        conn.execute("DROP TABLE IF EXISTS inc_flat, inc_month, inc_prov, inc_both CASCADE")
    return out


# --- report -----------------------------------------------------------------------------------------------

def ratio(a: float, b: float) -> str:
    return f"{b / a:.2f}x" if a and a == a and b == b else "-"


def report(sizes: list[int], results: dict[int, dict], extra: dict, parts: dict[str, dict] | None) -> None:
    rows = [("tile p50 ms", "tile_p50", 1000), ("tile p95 ms", "tile_p95", 1000),
            ("bbox page p50 ms", "page_p50", 1000),
            ("bbox page p95 ms", "page_p95", 1000), ("POST /incidents /s", "writes_s", 1),
            ("write p95 ms", "write_p95", 1000), ("hot-spot run s", "hotspot_s", 1),
            ("hot-spot points", "hotspot_points", 1), ("load s", "load_s", 1)]
    done = [s for s in sizes if s in results]
    print("\nNational scale (generated country: 34 provinces, 3,321 communes; generated incidents)")
    head = f"{'':22}" + "".join(f"{s:>14,}" for s in done) + "".join(
        f"{f'{a:,}->{b:,}':>22}" for a, b in zip(done, done[1:], strict=False))
    print(head)
    for label, key, scale in rows:
        vals = [results[s][key] * scale for s in done]
        line = f"{label:22}" + "".join(f"{v:>14,.1f}" for v in vals)
        line += "".join(f"{ratio(a, b):>22}" for a, b in zip(vals, vals[1:], strict=False))
        print(line)
    for a, b in zip(done, done[1:], strict=False):
        grow_t = results[b]["tile_p95"] / results[a]["tile_p95"]
        print(f"tiles {a:,} -> {b:,}: data x{b / a:.0f}, tile p95 x{grow_t:.2f}: "
              + ("sub-linear" if grow_t < b / a else "NOT sub-linear"))
    errs = {s: (results[s]["tile_errors"], results[s]["page_errors"], results[s]["write_errors"]) for s in done}
    print(f"errors (tiles, pages, writes) per size: {errs}")
    print("commune trigger on COPY: " + ", ".join(f"{k} {v:,.0f}" for k, v in extra.items()))
    if parts:
        report_parts(parts, done[-1])


def report_parts(parts: dict[str, dict], size: int) -> None:
    print(f"\nPartitioning at {size:,} incidents (raw SQL, p50 ms; inserts/s durable):")
    keys = list(next(iter(parts.values())).keys())
    print(f"{'':12}" + "".join(f"{k:>15}" for k in keys))
    for t, res in parts.items():
        print(f"{t:12}" + "".join(f"{res[k] * (1 if k == 'insert_s' else 1000):>15,.1f}" for k in keys))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sizes", default="20000,200000,2000000")
    ap.add_argument("--write-seconds", type=float, default=8.0)
    ap.add_argument("--clients", type=int, default=4, help="concurrent tile and page readers")
    ap.add_argument("--write-clients", type=int, default=16)
    ap.add_argument("--no-partitions", action="store_true")
    ap.add_argument("--partitions-only", action="store_true",
                    help="only the partitioning experiment, on the incidents already in sitmap_national")
    ap.add_argument("--budget-min", type=float, default=24.0, help="stop adding sizes when this is near")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    t0 = time.perf_counter()
    url = national_url()
    if args.partitions_only:
        country = generate.build_country(args.seed)
        with psycopg.connect(url) as conn:
            have = conn.execute("SELECT count(*) FROM incident WHERE is_generated").fetchone()[0]
        parts = partition_experiment(url, country, args.seed, generate.DEFAULT_UNTIL)
        report_parts(parts, have)
        return
    country, extra = build(url, args.seed)
    extra.update(trigger_cost(url, country, min(20_000, sizes[0])))
    add_officer(url, country)
    results: dict[int, dict] = {}
    last_load = 0.0
    for i, size in enumerate(sizes):
        elapsed = (time.perf_counter() - t0) / 60
        if i and elapsed + last_load * (size / sizes[i - 1]) / 60 * 1.5 > args.budget_min:
            log(f"stopping before {size:,}: {elapsed:.1f} min used, the load alone would take about "
                f"{last_load * size / sizes[i - 1] / 60:.1f} min more")
            break
        load_s = grow(url, country, size)
        last_load = load_s
        log(f"{size:,} incidents loaded in {load_s:.1f} s; measuring")
        results[size] = measure_size(url, country, args.seed, args.write_seconds, args.clients,
                                     args.write_clients)
        results[size]["load_s"] = load_s
        log(json.dumps({str(size): results[size]}))
    parts = None
    if not args.no_partitions and results:
        parts = partition_experiment(url, country, args.seed, generate.DEFAULT_UNTIL)
    report(sizes, results, extra, parts)
    print(f"\ntotal {(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
