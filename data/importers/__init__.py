"""Importers: ``run_import(url, kind, path)`` loads communes, villages, roads, stations or patrol points.

One transaction, all or nothing: the file is read, reprojected to EPSG:4326 and every row checked (in the
database too: province outline, unit codes); any rejection rolls back and raises ImportRejected, whose
``report()`` lists each problem as (row, field, reason). Tile caches need no help: the data_version triggers
bump in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
from tqdm import tqdm

from data.importers import columns, communes, incidents, points, roads
from data.importers.crs import to_wgs84
from data.importers.locate import eras
from data.importers.reading import FileRejected, read_source
from data.importers.report import ImportRejected, ImportReport, Rejection

__all__ = ["KINDS", "ImportRejected", "ImportReport", "Rejection", "run_import"]


@dataclass(frozen=True)
class Kind:
    prepare: Callable[..., Any]
    write: Callable[..., None]
    tables: tuple[str, ...]  # analysed after the import (see run_import)


KINDS: dict[str, Kind] = {
    "communes": Kind(communes.prepare, communes.write, ("admin_unit",)),
    "villages": Kind(points.prepare_villages, points.write_villages, ("settlement",)),
    "roads": Kind(roads.prepare, roads.write, ("road_edge",)),
    "stations": Kind(points.prepare_stations, points.write_stations, ("station", "station_status_history")),
    "patrol-points": Kind(points.prepare_patrol_points, points.write_patrol_points, ("patrol_point",)),
    "incidents": Kind(incidents.prepare, incidents.write, ("incident", "incident_history")),
}


class _DryRun(Exception):
    """Leaves the transaction of a dry run, which rolls it back."""


def run_import(url: str, kind: str, path: str | Path, era: str = "2025", progress: bool = False, *,
               dry_run: bool = False, column_map: dict[str, str] | None = None,
               name: str | None = None,
               on_written: Callable[[psycopg.Connection, ImportReport], None] | None = None) -> ImportReport:
    """Import ``path`` as ``kind`` into the database at ``url``; raise ImportRejected (nothing written) on any
    problem. ``dry_run``: everything is checked and written inside the transaction, which is then rolled back,
    so the report says what would be inserted or updated. ``column_map`` (field -> column) overrides the column
    vocabulary (data/importers/columns.py); ``name`` is the file's name for the report (an upload's).
    ``on_written(conn, report)`` runs in the import's transaction once everything is written (not in a dry
    run): the caller's audit row and live event commit with the data or not at all."""
    path = Path(path)
    report = ImportReport(kind=kind, path=path if name is None else path.with_name(name), era=era, dry_run=dry_run)
    handler = KINDS.get(kind)
    if handler is None:
        report.reject(None, None, f"unknown kind '{kind}': use one of {', '.join(KINDS)}")
        raise ImportRejected(report)
    with tqdm(total=4, desc=f"import {kind}", unit="step", disable=not progress, leave=False) as steps:
        try:
            source = read_source(path, report)
            report.rows_read = len(source.frame)
            columns.resolve(source, kind, report, dict(column_map or {}))
            report.frame = source.frame
            steps.update(1)
            to_wgs84(source, report)
            steps.update(1)
        except FileRejected:
            raise ImportRejected(report) from None
        with contextlib.suppress(_DryRun):
            _write(url, kind, handler, source, report, era, progress, dry_run, on_written)
        steps.update(1)
    if dry_run:
        return report
    _analyze(url, handler)
    return report


def _write(url: str, kind: str, handler: Kind, source, report: ImportReport, era: str, progress: bool,
           dry_run: bool, on_written: Callable[[psycopg.Connection, ImportReport], None] | None) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        known = eras(conn)
        if era not in known:
            report.reject(None, None, f"unknown era '{era}': the database has {', '.join(known) or 'none'}")
            raise ImportRejected(report)
        try:
            plan = handler.prepare(conn, source, report, era)
        except FileRejected:
            raise ImportRejected(report) from None
        if report.rejections:
            raise ImportRejected(report)  # leaving the transaction block rolls back
        try:
            with tqdm(total=len(plan), desc=f"writing {kind}", unit="row", disable=not progress,
                      leave=False) as bar:
                handler.write(conn, plan, report, era, bar)
        except psycopg.errors.IntegrityError as exc:
            # The checks above should have caught it; the database's own constraint still says why.
            report.reject(None, None, f"the database refused the data: {exc.diag.message_primary} "
                                      f"({exc.diag.constraint_name or 'constraint'})")
            raise ImportRejected(report) from exc
        if dry_run:
            raise _DryRun
        if on_written is not None:
            on_written(conn, report)


def _analyze(url: str, handler: Kind) -> None:
    # A first import fills tables that have no planner statistics yet; until autovacuum gets to them, joins
    # over them are planned as nested scans (seen on the demo's patrol points: 33 s instead of 1 s for ogr2ogr).
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("ANALYZE {}").format(
            psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(t) for t in handler.tables)))
