"""The embedded cluster: start, stop, restart, stale pid file, missing binaries."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg
import pytest

from data.db.cluster import Cluster, ClusterError
from data.db.connection import ensure_database, extension_versions
from data.settings import get_settings
from tests.conftest import new_cluster_root


@pytest.fixture
def own_cluster():
    c = Cluster.from_settings(get_settings(), root=new_cluster_root("sitmap-lifecycle-"))
    yield c
    c.destroy()


def test_start_is_idempotent_and_stop_restart(own_cluster: Cluster) -> None:
    assert own_cluster.start() is True
    assert own_cluster.start() is False  # already running
    assert own_cluster.status()["running"] is True
    ensure_database(own_cluster.url("sitmap"))
    with psycopg.connect(own_cluster.url("sitmap")) as conn:
        versions = extension_versions(conn)
        assert set(versions) == {"postgis", "pgrouting"}
        assert conn.execute("SHOW fsync").fetchone()[0] == "on"
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
    assert own_cluster.stop() is True
    assert own_cluster.status()["running"] is False
    assert own_cluster.stop() is False
    assert own_cluster.start() is True
    with psycopg.connect(own_cluster.url("sitmap")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stale_pid_file_after_crash_is_recovered(own_cluster: Cluster) -> None:
    own_cluster.start()
    pid = own_cluster.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    # The postmaster is not our child: /proc tells when it is gone.
    while Path(f"/proc/{pid}").exists() and b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():
        os.sched_yield()
    assert own_cluster.pid_file.exists()  # left behind by the crash
    assert own_cluster.start() is True
    with psycopg.connect(own_cluster.url("postgres")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_missing_binaries_name_the_debian_package(tmp_path: Path) -> None:
    c = Cluster(root=tmp_path / "c", port=5439, os_user="postgres", bin_dir=tmp_path / "nope" / "bin",
                share_dir=tmp_path / "nope" / "share")
    with pytest.raises(ClusterError) as err:
        c.start()
    message = str(err.value)
    assert "postgresql-15" in message
    assert "postgresql-15-postgis-3" in message
    assert "postgresql-15-pgrouting" in message


def test_external_server_without_extensions_is_a_clear_error(own_cluster: Cluster) -> None:
    own_cluster.start()
    # The check asks the server which extensions it offers; require one it cannot have.
    from data.db import connection as dbmod

    original = dict(dbmod.REQUIRED_EXTENSIONS)
    dbmod.REQUIRED_EXTENSIONS["no_such_extension"] = "postgresql-15-no-such"
    try:
        with pytest.raises(ClusterError) as err:
            ensure_database(own_cluster.url("extcheck"))
        assert "no_such_extension" in str(err.value) and "postgresql-15-no-such" in str(err.value)
    finally:
        dbmod.REQUIRED_EXTENSIONS.clear()
        dbmod.REQUIRED_EXTENSIONS.update(original)
