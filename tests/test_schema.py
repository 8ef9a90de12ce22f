"""The schema: migrations round-trip, the models match the migrations, and the database's own constraints."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from data import vocab
from data.db.connection import sqlalchemy_url
from data.db.migrate import alembic_config
from data.db.models import Base
from tests.conftest import clone_database, drop_database


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'")}


def test_migrations_round_trip(cluster, schema_template) -> None:
    url = clone_database(cluster, schema_template)
    try:
        migrated = _tables(url)
        assert set(Base.metadata.tables) <= migrated
        command.downgrade(alembic_config(url), "base")
        assert _tables(url) <= {"alembic_version"}
        command.upgrade(alembic_config(url), "head")
        assert _tables(url) == migrated
    finally:
        drop_database(cluster, url.split("/")[-1].split("?")[0])


def test_models_match_the_migrations(empty_db: str) -> None:
    engine = create_engine(sqlalchemy_url(empty_db))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # What migrations add for serving tiles only (stored EPSG:3857 copies, their indexes) is not mapped.
    relevant = [d for d in diff if not (d[0] == "remove_column" and d[3].name.endswith("_3857"))
                and not (d[0] == "remove_index" and ("3857" in d[1].name or "tile" in d[1].name))
                and not (d[0] == "remove_table" and d[1].name == "spatial_ref_sys")]
    assert relevant == []


def test_every_geometry_column_has_a_gist_index_and_every_foreign_key_an_index(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        geoms = conn.execute("SELECT f_table_name, f_geometry_column, srid FROM geometry_columns "
                             "WHERE f_table_schema = 'public'").fetchall()
        assert geoms
        for table, column, srid in geoms:
            assert srid in (4326, 3857), (table, column, srid)
            gist = conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s AND indexdef ILIKE %s",
                                (table, f"%USING gist ({column})%")).fetchone()[0]
            assert gist >= 1, f"{table}.{column} has no GiST index"
        unindexed = conn.execute("""
            SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             WHERE c.contype = 'f' AND NOT EXISTS (
                   SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])""").fetchall()
        assert unindexed == []


@pytest.mark.parametrize("sql, violated", [
    ("INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) VALUES ('2025', 'X', 'x', 'x', 'commune', "
     "ST_Multi(ST_GeomFromText('POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))', 4326)))", "geom_is_valid"),
    ("INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) VALUES ('2025', 'X', 'x', 'x', 'commune', "
     "ST_Multi(ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))', 3405)))", "SRID"),
    ("INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) VALUES ('2025', 'X', 'x', 'x', 'county', "
     "ST_Multi(ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))', 4326)))", "kind_valid"),
    ("INSERT INTO incident (id, category, severity, occurred_at, geom) VALUES (gen_random_uuid(), 'jaywalking', "
     "'serious', now(), ST_SetSRID(ST_MakePoint(103, 21.5), 4326))", "category_valid"),
    ("INSERT INTO station (code, name, kind, hq_status, officers, geom) VALUES ('S', 's', 'commune_police', "
     "'independent', -3, ST_SetSRID(ST_MakePoint(103, 21.5), 4326))", "officers_non_negative"),
])
def test_constraints_live_in_the_database(empty_db: str, sql: str, violated: str) -> None:
    with psycopg.connect(empty_db) as conn, pytest.raises(psycopg.Error) as err:
        conn.execute(sql)
    assert violated in str(err.value)


def test_reported_statistics_are_stored_as_reported(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        unit = conn.execute(
            "INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) VALUES ('2025', 'P', 'p', 'p', "
            "'province', ST_Multi(ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))', 4326))) RETURNING id").fetchone()[0]
        # online + in person != received, on time + overdue + in progress != received: kept as reported.
        conn.execute("INSERT INTO service_stat (unit_id, agency, period_start, received, online, in_person, "
                     "on_time_or_early, overdue, in_progress) VALUES (%s, 'peoples_committee', '2025-07-01', "
                     "47894, 44146, 3747, 45317, 151, 462)", (unit,))
        row = conn.execute("SELECT received, online + in_person, on_time_or_early + overdue + in_progress "
                           "FROM service_stat").fetchone()
    assert row[0] == 47894 and row[1] != row[0] and row[2] != row[0]


def test_stored_severity_rank_follows_the_vocabulary(empty_db: str) -> None:
    # Migration 0012 spells the order; data/vocab.py owns it. A reordered vocabulary needs a migration.
    codes = vocab.codes(vocab.INCIDENT_SEVERITIES)
    with psycopg.connect(empty_db) as conn:
        conn.execute("INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) VALUES ('2025', 'T1', 'T', "
                     "'t', 'commune', ST_Multi(ST_MakeEnvelope(103, 21, 103.1, 21.1, 4326)))")
        for code in codes:
            conn.execute("INSERT INTO incident (id, category, severity, occurred_at, geom) VALUES "
                         "(gen_random_uuid(), 'theft', %s, now(), ST_SetSRID(ST_MakePoint(103.05, 21.05), 4326))",
                         (code,))
        ranks = dict(conn.execute("SELECT severity, severity_rank FROM incident").fetchall())
    assert ranks == {code: i + 1 for i, code in enumerate(codes)}


def _unit(conn: psycopg.Connection, era: str, code: str, kind: str, box: tuple[float, float, float, float],
          valid_to: str | None = None) -> int:
    return conn.execute("INSERT INTO admin_unit (era, code, name, name_ascii, kind, valid_to, geom) VALUES "
                        "(%s, %s, %s, %s, %s, %s, ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 4326))) RETURNING id",
                        (era, code, code, code.lower(), kind, valid_to, *box)).fetchone()[0]


def test_one_function_finds_the_commune_at_a_point_and_time_for_incidents_and_hotspot_cells(empty_db: str) -> None:
    # Migration 0015: sitmap_commune_at(point, at) is the rule of both triggers.
    with psycopg.connect(empty_db, autocommit=True) as conn:
        # Lower ids first: a district of 2025 and a former commune over the same ground must not be chosen.
        _unit(conn, "2025", "D", "district", (103.0, 21.0, 103.2, 21.1))
        _unit(conn, "pre2025", "OLD", "commune", (103.0, 21.0, 103.2, 21.1), valid_to="2025-06-30")
        a = _unit(conn, "2025", "A", "ward", (103.0, 21.0, 103.1, 21.1))
        b = _unit(conn, "2025", "B", "township", (103.1, 21.0, 103.2, 21.1), valid_to="2030-12-31")

        def at(lon: float, lat: float, when: str | None) -> int | None:
            return conn.execute("SELECT sitmap_commune_at(ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)",
                                (lon, lat, when)).fetchone()[0]

        # Either side of the start of the 2025 era: the commune of 2025 (users are scoped by those), as before.
        assert at(103.05, 21.05, "2025-06-30T23:59:59+07:00") == a
        assert at(103.05, 21.05, "2025-07-01T00:00:00+07:00") == a
        assert at(103.05, 21.05, None) == a
        # A point on the border of two communes: the lower id, as the triggers of 0001 and 0011 chose.
        assert at(103.1, 21.05, "2025-08-01T00:00:00+07:00") == min(a, b)
        assert at(103.5, 21.05, None) is None
        # A commune holds its ground until the end of its valid_to, a local date.
        assert at(103.15, 21.05, "2030-12-31T23:59:59+07:00") == b
        assert at(103.15, 21.05, "2030-12-31T17:00:00Z") is None  # 00:00 on 1 January 2031 in Vietnam

        conn.execute("INSERT INTO incident (id, category, severity, occurred_at, geom) VALUES "
                     "(gen_random_uuid(), 'theft', 'serious', '2025-08-01T08:00:00+07:00', "
                     "ST_SetSRID(ST_MakePoint(103.1, 21.05), 4326)), "
                     "(gen_random_uuid(), 'drugs', 'serious', '2024-03-01T08:00:00+07:00', "
                     "ST_SetSRID(ST_MakePoint(103.15, 21.05), 4326))")
        assert sorted(r[0] for r in conn.execute("SELECT unit_id FROM incident")) == sorted([min(a, b), b])
        # Moving an incident's time past its commune's end moves it out of that commune.
        conn.execute("UPDATE incident SET occurred_at = '2031-02-01T08:00:00+07:00' WHERE category = 'drugs'")
        assert conn.execute("SELECT unit_id FROM incident WHERE category = 'drugs'").fetchone()[0] is None

        run = conn.execute("INSERT INTO hotspot_run (method, cell_size_m, period_end) VALUES "
                           "('gi_star', 1000, '2025-09-01T00:00:00+07:00') RETURNING id").fetchone()[0]
        # Mostly in B: the point on its surface is B's.
        conn.execute("INSERT INTO hotspot_cell (run_id, cell, count, \"class\", geom) VALUES "
                     "(%s, 'E1N1', 3, 'hot_99', ST_Multi(ST_MakeEnvelope(103.09, 21.01, 103.19, 21.02, 4326)))", (run,))
        assert conn.execute("SELECT unit_id FROM hotspot_cell").fetchone()[0] == b
