"""The national generator (data/national) at a tiny size: two provinces' communes and 2,000 incidents."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
import shapely

from data.national import generate, reference

PROVINCES = ("11", "12")  # Điện Biên (the demo's province) and Lai Châu
UNTIL = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def country() -> generate.Country:
    return generate.build_country(seed=3, province_codes=PROVINCES)


def test_same_seed_same_rows_and_another_seed_differs(country) -> None:
    again = generate.build_country(seed=3, province_codes=PROVINCES)
    assert generate.digest(country, 2000, UNTIL) == generate.digest(again, 2000, UNTIL)
    other = generate.build_country(seed=4, province_codes=PROVINCES)
    assert generate.digest(other, 2000, UNTIL) != generate.digest(country, 2000, UNTIL)


def test_a_longer_stream_starts_with_the_shorter_one(country) -> None:
    short = generate.incident_columns(country, 0, 1500, UNTIL)
    long = generate.incident_columns(country, 0, generate.CHUNK + 10, UNTIL)
    tail = generate.incident_columns(country, 1000, 1500, UNTIL)
    assert long["id"][:1500] == short["id"] and long["geom"][:1500] == short["geom"]
    assert tail["id"] == short["id"][1000:]
    assert len(set(long["id"])) == len(long["id"])


def test_codes_and_names_are_the_official_list(country) -> None:
    from vietnam_provinces import Province, Ward

    official = {f"{int(p.code):02d}": p.name for p in Province.iter_all()}
    official |= {f"{int(w.code):05d}": w.name for w in Ward.iter_all()}
    assert len([c for c in official if len(c) == 2]) == 34 and len([c for c in official if len(c) == 5]) == 3321
    assert {d.code: d.name for d in country.provinces} == {c: official[c] for c in PROVINCES}
    assert all(official[d.code] == d.name for d in country.communes)
    provinces, communes = reference.divisions()
    assert len(provinces) == 34 and len(communes) == 3321
    wanted = {c.code for c in communes if c.province_code in PROVINCES}
    assert {c.code for c in country.communes} == wanted
    # data/reference holds Điện Biên's 45 communes of 2025: same codes and names.
    import csv
    from pathlib import Path

    rows = csv.DictReader((Path(__file__).resolve().parent.parent / "data/reference/population-2025.csv")
                          .open(encoding="utf-8"))
    ref = {r["new_code"]: r["new_name"] for r in rows}
    assert len(ref) == 45
    assert {d.code: d.name for d in country.communes if d.province_code == "11"} == ref


def test_shapes_are_valid_and_tile_each_province(country) -> None:
    for p in country.provinces:
        province = country.shapes[p.code]
        cells = [country.shapes[c.code] for c in country.communes if c.province_code == p.code]
        assert province.is_valid and all(c.is_valid and not c.is_empty for c in cells)
        union = shapely.union_all(cells)
        assert union.area == pytest.approx(province.area, rel=1e-6)
        assert shapely.symmetric_difference(union, province).area < 1e-6 * province.area
        # No overlaps: the parts' areas add up to the union's.
        assert sum(c.area for c in cells) == pytest.approx(union.area, rel=1e-6)


def test_villages_stations_and_incidents_lie_in_their_commune(country) -> None:
    code_of = {v: k for k, v in country.ids.items()}
    by_code = {c.code: c for c in country.communes}
    assert len(country.stations) == len(country.communes)
    for _, _, _, _, code, x, y in country.villages[:300]:
        assert country.shapes[code].intersects(shapely.Point(x, y))
    cols = generate.incident_columns(country, 0, 2000, UNTIL)
    pts = shapely.from_wkt([g.removeprefix("SRID=4326;") for g in cols["geom"]])
    for pt, unit in zip(pts, cols["unit_id"], strict=True):
        assert country.shapes[code_of[unit]].buffer(1e-7).contains(pt)
    assert {code_of[u] for u in cols["unit_id"]} <= set(by_code)
    assert all(UNTIL.timestamp() - 731 * 86400 <= t.timestamp() <= UNTIL.timestamp() for t in cols["occurred_at"])


def test_loads_into_a_database_and_the_trigger_agrees(empty_db: str, country) -> None:
    with psycopg.connect(empty_db) as conn, conn.transaction():
        counts = generate.write_country(conn, country)
        generate.load_incidents(conn, country, 0, 1000, until=UNTIL)
        # The rest with the trigger on: it must file each incident under the commune the generator chose.
        generate.load_incidents(conn, country, 1000, 2000, until=UNTIL, trigger=True)
    assert counts["admin_unit"] == len(PROVINCES) + len(country.communes)
    cols = generate.incident_columns(country, 0, 2000, UNTIL)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM admin_unit WHERE NOT ST_IsValid(geom)").fetchone()[0] == 0
        stored = dict(conn.execute("SELECT id::text, unit_id FROM incident").fetchall())
        assert len(stored) == 2000
        assert stored == dict(zip(cols["id"], cols["unit_id"], strict=True))
        assert conn.execute("SELECT count(*) FROM station s JOIN admin_unit u ON u.id = s.unit_id "
                            "WHERE NOT ST_Intersects(u.geom, s.geom)").fetchone()[0] == 0
