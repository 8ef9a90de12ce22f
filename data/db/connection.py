"""Where the database is and what it must offer: the embedded cluster or ``DATABASE_URL``."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from data.db.cluster import REQUIRED_EXTENSIONS, Cluster, ClusterError
from data.settings import Settings, get_settings


def database_url(settings: Settings | None = None) -> str:
    """libpq URL of the sitmap database (``postgresql://``)."""
    s = settings or get_settings()
    if s.database_url:
        return s.database_url.replace("postgresql+psycopg://", "postgresql://")
    return Cluster.from_settings(s).url(s.database_name)


def sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def _server_url(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


def ensure_database(url: str) -> None:
    """Create the database if missing and the PostGIS and pgRouting extensions in it.

    On an external server without the extensions this fails with an error that names them.
    """
    dbname = urlsplit(url).path.lstrip("/") or "sitmap"
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10):
            pass
    except psycopg.OperationalError as exc:
        if f'database "{dbname}" does not exist' not in str(exc):
            raise ClusterError(f"cannot connect to {redact(url)}: {exc}") from exc
        with psycopg.connect(_server_url(url, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(dbname)))
    with psycopg.connect(url, autocommit=True) as conn:
        available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions").fetchall()}
        missing = [f"{ext} (Debian package {pkg})" for ext, pkg in REQUIRED_EXTENSIONS.items()
                   if ext not in available]
        if missing:
            raise ClusterError(f"the server at {redact(url)} lacks the extension(s): {', '.join(missing)}")
        for ext in REQUIRED_EXTENSIONS:
            try:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
            except psycopg.Error as exc:
                raise ClusterError(f"could not create extension {ext} on {redact(url)}: {exc}") from exc


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def extension_versions(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute(
        "SELECT extname, extversion FROM pg_extension WHERE extname = ANY(%s)", [list(REQUIRED_EXTENSIONS)]
    ).fetchall()
    return dict(rows)
