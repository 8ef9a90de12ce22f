"""`sitmap db backup` / `db restore`: a restore brings back exactly the data of the backup, and a bad file
changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from data.db import backup as bk
from data.db.cluster import Cluster


def snapshot(url: str) -> dict:
    """Row counts of every table, the sequences, and a checksum of every incident's full row."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        counts = {t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                  for t in tables}
        sequences = dict(conn.execute("SELECT sequencename, last_value FROM pg_sequences "
                                      "WHERE schemaname = 'public' ORDER BY 1").fetchall())
        incidents = conn.execute("SELECT md5(string_agg(i::text, E'\\n' ORDER BY i.id)) FROM incident i").fetchone()[0]
    return {"counts": counts, "sequences": sequences, "incidents_md5": incidents}


def data_versions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT table_name, sum(version)::bigint FROM data_version GROUP BY 1").fetchall())


def databases(cluster: Cluster) -> set[str]:
    with psycopg.connect(cluster.conninfo("postgres")) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


def change_everything(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE incident SET description = 'changed after the backup' "
                     "WHERE id IN (SELECT id FROM incident ORDER BY id LIMIT 500)")
        conn.execute("DELETE FROM patrol_visit WHERE id % 3 = 0")
        conn.execute("DELETE FROM audit_log")
        conn.execute("CREATE TABLE stray_after_backup (x int)")
        conn.execute("INSERT INTO stray_after_backup VALUES (1)")


@pytest.fixture
def tools(cluster: Cluster) -> bk.Tools:
    # The embedded cluster's path: its own pg_dump/pg_restore, run as its OS user when we are root.
    return bk.Tools.for_cluster(cluster)


def test_restore_brings_back_exactly_the_backup(cluster, demo_db_rw, tools, tmp_path):
    at_backup = snapshot(demo_db_rw)
    assert at_backup["counts"]["incident"] > 1000 and at_backup["incidents_md5"]
    info = bk.backup(demo_db_rw, tmp_path / "b" / "demo.dump", tools)
    assert info.path.is_file() and info.size_bytes > 100_000
    assert not list(info.path.parent.glob("*.partial"))

    change_everything(demo_db_rw)
    changed = snapshot(demo_db_rw)
    assert changed != at_backup and "stray_after_backup" in changed["counts"]
    versions_before_restore = data_versions(demo_db_rw)
    before = databases(cluster)

    held = psycopg.connect(demo_db_rw)  # a server's pooled connection: the swap must not wait on it forever
    try:
        result = bk.restore(demo_db_rw, info.path, tools)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    finally:
        held.close()

    assert result.database == urlsplit(demo_db_rw).path.lstrip("/") and result.kept_previous is None
    assert snapshot(demo_db_rw) == at_backup
    assert databases(cluster) == before  # neither the new nor the replaced database is left over
    # Tile caches key on the data versions: after a restore they only move forward.
    after = data_versions(demo_db_rw)
    assert all(after[t] > v for t, v in versions_before_restore.items())


def _assert_refused(url: str, file: Path, tools: bk.Tools, cluster: Cluster, expect: str) -> None:
    at_start, dbs = snapshot(url), databases(cluster)
    with pytest.raises(bk.BackupError) as err:
        bk.restore(url, file, tools)
    assert expect in str(err.value) and "nothing was changed" in str(err.value).lower(), str(err.value)
    assert snapshot(url) == at_start
    assert databases(cluster) == dbs


def test_a_file_that_is_no_backup_changes_nothing(cluster, demo_db_rw, tools, tmp_path):
    garbage = tmp_path / "garbage.dump"
    garbage.write_bytes(os.urandom(100_000))
    _assert_refused(demo_db_rw, garbage, tools, cluster, "is not a sitmap backup")
    sql_text = tmp_path / "plain.sql"
    sql_text.write_text("DROP TABLE incident CASCADE;\n", encoding="utf-8")
    _assert_refused(demo_db_rw, sql_text, tools, cluster, "is not a sitmap backup")
    # A real custom-format dump, but of a database that is not sitmap's.
    other = bk.backup(cluster.url("postgres"), tmp_path / "postgres.dump", tools)
    _assert_refused(demo_db_rw, other.path, tools, cluster, "not of a sitmap database")


def test_a_truncated_backup_changes_nothing(cluster, demo_db_rw, tools, tmp_path):
    whole = bk.backup(demo_db_rw, tmp_path / "whole.dump", tools).path
    cut = tmp_path / "cut.dump"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    change_everything(demo_db_rw)  # so that a partial restore could not pass for an intact database
    _assert_refused(demo_db_rw, cut, tools, cluster, "could not be restored")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "db", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)


def test_cli_backup_and_restore_with_database_url(cluster, demo_db_rw, tmp_path):
    # DATABASE_URL: the client tools on PATH, as against any server.
    env = {"DATABASE_URL": demo_db_rw, "SITMAP_BACKUP_DIR": str(tmp_path / "backups")}
    at_backup = snapshot(demo_db_rw)
    made = _cli("backup", env=env)
    assert made.returncode == 0, made.stderr
    files = list((tmp_path / "backups").glob("sitmap-*-*Z.dump"))
    assert len(files) == 1 and str(files[0]) in made.stdout

    change_everything(demo_db_rw)
    bad = tmp_path / "notes.txt"
    bad.write_text("not a backup", encoding="utf-8")
    refused = _cli("restore", str(bad), env=env)
    assert refused.returncode == 2 and "is not a sitmap backup" in refused.stderr, refused.stderr
    assert "stray_after_backup" in snapshot(demo_db_rw)["counts"]

    done = _cli("restore", str(files[0]), "--keep-previous", env=env)
    assert done.returncode == 0, done.stderr
    assert snapshot(demo_db_rw) == at_backup
    kept = done.stdout.strip().split("kept as ")[-1]
    assert kept in databases(cluster)
    with psycopg.connect(cluster.url(kept)) as conn:  # the replaced database, as it was before the restore
        assert conn.execute("SELECT count(*) FROM stray_after_backup").fetchone() == (1,)
    with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(kept)))
