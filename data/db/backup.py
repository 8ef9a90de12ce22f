"""Backup and restore of the sitmap database with pg_dump's custom format (``-Fc``).

A restore never leaves a half database: the backup is first checked (``pg_restore --list``), then restored
into a new database in one transaction (``--single-transaction --exit-on-error``), and only when that has
succeeded is the new database swapped in for the old one by two renames in one transaction. Any failure
before the swap drops the new database and leaves the old one as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from data.db.cluster import Cluster
from data.settings import Settings, get_settings

# What marks a dump as a sitmap database: the migrations' version table.
SITMAP_MARKER = re.compile(r"^\d+; \d+ \d+ TABLE public alembic_version ", re.M)


class BackupError(RuntimeError):
    """A backup or restore that did not happen, with what to do about it; the database is unchanged."""


class NotABackup(BackupError):
    """The file given to restore is not a sitmap backup."""


@dataclass(frozen=True)
class Tools:
    """How to run pg_dump and pg_restore: the embedded cluster's own binaries as its OS user, or those on PATH."""

    command: Callable[[str], list[str]]

    @classmethod
    def for_cluster(cls, cluster: Cluster) -> Tools:
        return cls(lambda tool: cluster.command(tool))

    @classmethod
    def on_path(cls) -> Tools:
        def command(tool: str) -> list[str]:
            found = shutil.which(tool)
            if not found:
                raise BackupError(f"{tool} not found: apt-get install postgresql-client-15 (or the client of "
                                  "the server's major version)")
            return [found]

        return cls(command)


def tools_for(settings: Settings | None = None, url: str | None = None) -> Tools:
    """The embedded cluster's own tools for its database; the client tools on PATH for any other server (an
    explicit ``url``, as the HA cluster's HAProxy read-write port, or DATABASE_URL)."""
    s = settings or get_settings()
    return Tools.on_path() if url or s.database_url else Tools.for_cluster(Cluster.from_settings(s))


def _dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "sitmap"


def _with_db(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


def _tool_args(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (which would show in the process list) and the environment carrying it."""
    parts = urlsplit(url)
    if not parts.password:
        return url, dict(os.environ)
    netloc = parts.netloc.replace(f":{parts.password}@", "@")
    return urlunsplit(parts._replace(netloc=netloc)), {**os.environ, "PGPASSWORD": parts.password}


def default_path(url: str, backup_dir: Path | None = None, now: datetime | None = None) -> Path:
    folder = backup_dir or get_settings().backup_dir
    return Path(folder) / f"sitmap-{_dbname(url)}-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}.dump"


@dataclass
class BackupInfo:
    path: Path
    size_bytes: int
    seconds: float


def backup(url: str, output: Path, tools: Tools) -> BackupInfo:
    """Dump the database to ``output``; the file appears only once complete and on disk."""
    started = time.monotonic()
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    dsn, env = _tool_args(url)
    try:
        # We open the file and hand it over as stdout: the tool may run as another OS user that cannot write
        # here, and a regular file (unlike a pipe) lets pg_dump record data offsets for pg_restore.
        with open(partial, "wb") as fh:
            proc = subprocess.run([*tools.command("pg_dump"), "--format=custom", "--no-password", f"--dbname={dsn}"],
                                  stdout=fh, stderr=subprocess.PIPE, text=False, env=env, check=False)
            fh.flush()
            os.fsync(fh.fileno())
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
        os.replace(partial, output)
        dir_fd = os.open(output.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(output, output.stat().st_size, time.monotonic() - started)


def check_archive(file: Path, tools: Tools) -> None:
    """Refuse a file that is not a pg_dump custom-format archive of a sitmap database."""
    if not file.is_file():
        raise NotABackup(f"{file}: no such file")
    with open(file, "rb") as fh:
        proc = subprocess.run([*tools.command("pg_restore"), "--list"], stdin=fh, capture_output=True, check=False)
    if proc.returncode != 0:
        reason = proc.stderr.decode(errors="replace").strip().removeprefix("pg_restore: error: ")
        raise NotABackup(f"{file} is not a sitmap backup (pg_dump custom format, from `sitmap db backup`): "
                          f"{reason}. Nothing was changed.")
    if not SITMAP_MARKER.search(proc.stdout.decode(errors="replace")):
        raise NotABackup(f"{file} is a PostgreSQL dump but not of a sitmap database (it has no "
                          "alembic_version table). Nothing was changed.")


def _drop(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _versions(conn: psycopg.Connection) -> dict[str, int]:
    if conn.execute("SELECT to_regclass('public.data_version')").fetchone()[0] is None:
        return {}
    return dict(conn.execute("SELECT table_name, sum(version)::bigint FROM data_version GROUP BY 1").fetchall())


def _advance_versions(conn: psycopg.Connection, before: dict[str, int]) -> None:
    """Raise each layer's data version of the restored database above what the replaced one had reached:
    running servers key their tile caches by it, and an old number must not come back with other data."""
    restored = _versions(conn)
    for table, old in before.items():
        step = max(old - restored.get(table, 0), 0) + 1
        bumped = conn.execute("UPDATE data_version SET version = version + %(step)s, changed_at = now() "
                              "WHERE table_name = %(t)s AND slot = (SELECT min(slot) FROM data_version "
                              "WHERE table_name = %(t)s)", {"t": table, "step": step}).rowcount
        if not bumped:
            conn.execute("INSERT INTO data_version (table_name, slot, version, changed_at) "
                         "VALUES (%s, 0, %s, now())", (table, step))


def _wait_no_sessions(admin: psycopg.Connection, name: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        left = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
        if not left:
            return
        if time.monotonic() > deadline:
            raise BackupError(f"sessions on {name} did not end within {timeout_s:.0f} s; nothing was changed")
        time.sleep(0.05)  # terminated backends exit asynchronously: poll until they are gone


@dataclass
class RestoreInfo:
    database: str
    seconds: float
    kept_previous: str | None


def restore(url: str, file: Path, tools: Tools, keep_previous: bool = False) -> RestoreInfo:
    """Replace the database of ``url`` by the backup ``file`` (created if it does not exist yet)."""
    started = time.monotonic()
    file = file.resolve()
    check_archive(file, tools)
    target = _dbname(url)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    fresh, previous = f"{target[:30]}_restore_{stamp}", f"{target[:30]}_before_restore_{stamp}"
    with psycopg.connect(_with_db(url, "postgres"), autocommit=True) as admin:
        row = admin.execute("SELECT pg_encoding_to_char(encoding), datcollate, datctype, "
                            "pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (target,)).fetchone()
        encoding, collate, ctype, owner = row or ("UTF8", "C.UTF-8", "C.UTF-8", None)
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
            sql.Identifier(fresh), sql.Literal(encoding), sql.Literal(collate), sql.Literal(ctype)))
        try:
            if owner:
                admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(fresh),
                                                                              sql.Identifier(owner)))
            dsn, env = _tool_args(_with_db(url, fresh))
            with open(file, "rb") as fh:
                proc = subprocess.run([*tools.command("pg_restore"), "--single-transaction", "--exit-on-error",
                                       "--no-password", f"--dbname={dsn}"], stdin=fh, capture_output=True,
                                      env=env, check=False)
            if proc.returncode != 0:
                raise BackupError(f"{file} could not be restored, nothing was changed: "
                                  f"{proc.stderr.decode(errors='replace').strip()[-1500:]}")
            with psycopg.connect(_with_db(url, fresh)) as conn:
                if not conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0]:
                    raise BackupError(f"{file} restored no schema version; nothing was changed")
                if row:
                    with psycopg.connect(url) as old:
                        before = _versions(old)
                    _advance_versions(conn, before)
            if row:
                # No new sessions on the old database from here, then end those it has, then swap by name.
                admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(target)))
                try:
                    _wait_no_sessions(admin, target)
                    with admin.transaction():
                        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(target),
                                                                                       sql.Identifier(previous)))
                        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(fresh),
                                                                                       sql.Identifier(target)))
                except BaseException:
                    admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(
                        sql.Identifier(target)))
                    raise
            else:
                admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(fresh),
                                                                               sql.Identifier(target)))
        except BaseException:
            _drop(admin, fresh)
            raise
        if row and keep_previous:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(previous)))
        elif row:
            _drop(admin, previous)
    return RestoreInfo(target, time.monotonic() - started, previous if row and keep_previous else None)
