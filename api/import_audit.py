"""What an import leaves besides its data: one audit row (who, file, rows) and ONE live event summarising it.

Both are written by ``run_import``'s ``on_written`` hook inside the import's transaction, so they commit with
the data or not at all. One event per import, not one per row: a file of 10,000 rows must not flood the
stream; the map reloads the layer's tiles from their data version anyway.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg

from data.importers.report import ImportReport
from data.ops import audit, events

ACTION = "data.import"
# The live layer each kind's rows are drawn on (api/live_stream.py LIVE_LAYERS); None: no live layer.
LAYERS = {"stations": "stations", "patrol-points": "patrol-points", "incidents": "incidents"}


def recorder(user_id: int | None, username: str | None, remote_addr: str | None
             ) -> Callable[[psycopg.Connection, ImportReport], None]:
    def record(conn: psycopg.Connection, report: ImportReport) -> None:
        detail = {"kind": report.kind, "file": report.path.name, "era": report.era, "rows": report.rows_read,
                  "inserted": report.inserted, "updated": report.updated}
        conn.execute(audit.INSERT_SQL, (user_id, username, ACTION, f"import:{report.kind}", remote_addr,
                                        json.dumps(detail, default=str)))
        layer = LAYERS.get(report.kind)
        if layer is not None:
            conn.execute(events.EMIT_SQL, ("import", layer, None, json.dumps(detail, default=str)))
    return record
