"""Where a caller may run a travel analysis (``analysis.run`` of data/permissions.py): the communes of 2025
it may see as codes, a commune named by code, a station's commune and the commune containing a point.

Refusals are OpsErrors like the rest of data/ops: 400 naming the parameter for a code or station that does
not exist, 403 naming the commune for one outside the caller's communes. Synchronous: the analyses run on a
sync connection in a worker thread (api/analysis_runner.py).
"""

from __future__ import annotations

import psycopg

from data import vocab
from data.ops.errors import bad_parameter
from data.ops.scope import require_in_scope
from data.permissions import Caller, communes_for

ACTION = "analysis.run"

COMMUNES_SQL = f"""
SELECT id, code, name FROM admin_unit
 WHERE era = '2025' AND {vocab.kinds_sql("kind", vocab.COMMUNE_LEVEL_KINDS)}
"""  # noqa: S608 (vocabulary constants)


def commune_codes(conn: psycopg.Connection, caller: Caller) -> frozenset[str] | None:
    """Codes of the communes the caller may analyse; None: the whole province."""
    units = communes_for(caller, ACTION)
    if units is None:
        return None
    rows = conn.execute(COMMUNES_SQL + " AND id = ANY(%s)", [sorted(units)]).fetchall()  # noqa: S608
    return frozenset(r[1] for r in rows)


def commune(conn: psycopg.Connection, caller: Caller, code: str, parameter: str = "commune") -> str:
    """The code of the commune ``code`` after checking it exists (400) and lies in the caller's scope (403)."""
    row = conn.execute(COMMUNES_SQL + " AND code = %s", [code]).fetchone()  # noqa: S608
    if row is None:
        raise bad_parameter(f"there is no commune of 2025 with the code {code[:40]!r}; use a commune code such as "
                            "the unit_code of GET /incidents or the code of the communes layer", parameter)
    require_in_scope(caller, ACTION, row[0], f"the commune {row[1]}", row[2], row[1])
    return row[1]


def station(conn: psycopg.Connection, caller: Caller, station_id: int, parameter: str = "station") -> int:
    """Check that the station exists (400) and that its commune is the caller's (403)."""
    row = conn.execute("SELECT s.code, s.unit_id, u.code, u.name FROM station s "
                       "LEFT JOIN admin_unit u ON u.id = s.unit_id WHERE s.id = %s", [station_id]).fetchone()
    if row is None:
        raise bad_parameter(f"there is no station with id {station_id}; the stations layer lists them", parameter)
    require_in_scope(caller, ACTION, row[1], f"the station {row[0]}", row[3] or "no commune", row[2] or "-")
    return station_id


def point(conn: psycopg.Connection, caller: Caller, lon: float, lat: float, label: str) -> None:
    """A commune-scoped caller may analyse only from and to points inside its own communes (403)."""
    if communes_for(caller, ACTION) is None:
        return
    row = conn.execute(COMMUNES_SQL + " AND id = sitmap_commune_at(ST_SetSRID(ST_MakePoint(%s, %s), 4326))",  # noqa: S608
                       [lon, lat]).fetchone()
    if row is None:
        require_in_scope(caller, ACTION, None, f"the {label} ({lon:.6f}, {lat:.6f})", "no commune of 2025", "-")
        return
    require_in_scope(caller, ACTION, row[0], f"the {label} ({lon:.6f}, {lat:.6f})", row[2], row[1])
