"""The facts of one commune for a printed briefing: its outline, villages, police premises, patrol points,
recent incidents (GeoJSON Features as their layers declare them, layers/geojson.py) and the summary figures
(incidents by category and month, patrol visits, headquarters status, administrative-procedure figures as
reported).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from data.text import fold
from layers import geojson


class UnitNotFound(LookupError):
    def __init__(self, query: str, suggestions: list[str]) -> None:
        hint = f"; did you mean: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"no administrative unit with the code or name {query!r}{hint}")
        self.suggestions = suggestions


@dataclass
class Briefing:
    unit: dict[str, Any]
    until: datetime
    months: list[str]  # 'YYYY-MM', oldest first
    layers: dict[str, dict[str, Any]]  # GeoJSON FeatureCollections by layer id
    incidents_by_month: dict[str, dict[str, int]]  # category -> month -> count
    visits: dict[str, Any] = field(default_factory=dict)
    stations: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    villages: int = 0


def find_unit(conn: psycopg.Connection, query: str) -> dict[str, Any]:
    """A unit by official code, or by name with diacritics ignored; the current era wins a tie."""
    q = query.strip()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT u.id, u.code, u.name, u.kind, u.era, u.population, u.area_km2, u.households "
            "FROM admin_unit u JOIN admin_era e ON e.code = u.era "
            "WHERE u.code = %s ORDER BY e.valid_to IS NULL DESC, e.valid_from DESC NULLS LAST", (q,)).fetchall()
        if rows:
            return rows[0]
        cands = cur.execute(
            "SELECT u.id, u.code, u.name, u.kind, u.era, u.population, u.area_km2, u.households, "
            "(e.valid_to IS NULL) AS current FROM admin_unit u JOIN admin_era e ON e.code = u.era "
            "WHERE u.kind NOT IN ('province') ORDER BY current DESC, u.name").fetchall()
    target = fold(q)
    exact = [c for c in cands if fold(c["name"]) == target or fold(c["name"]).split(" ", 1)[-1] == target]
    if not exact:
        # "Mường Chà" without its kind: compare the names without "xã"/"phường"/"thị trấn".
        exact = [c for c in cands if fold(c["name"]).endswith(" " + target)]
    if exact:
        best = exact[0]
        return {k: v for k, v in best.items() if k != "current"}
    near = [f"{c['name']} ({c['code']})" for c in cands if target in fold(c["name"])][:5]
    raise UnitNotFound(query, near)


def _collection(conn: psycopg.Connection, layer_id: str, names: tuple[str, ...], cond: str,
                params: dict[str, Any]) -> dict[str, Any]:
    """The layer's Features (its public properties ``names``) of the rows of its source that ``cond`` picks."""
    layer = geojson.declared(layer_id)
    query = geojson.select(layer, geojson.public_props(layer, names), sql.SQL(cond))
    return {"type": "FeatureCollection", "features": [r[0] for r in conn.execute(query, params).fetchall()]}


def collect(conn: psycopg.Connection, query: str, until: datetime, months: int = 6,
            recent_days: int = 30) -> Briefing:
    """Everything a briefing of the unit ``query`` (code or name) shows, as of ``until``."""
    unit = find_unit(conn, query)
    uid = unit["id"]
    start_month = (until.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    for _ in range(months - 1):
        start_month = (start_month - timedelta(days=1)).replace(day=1)
    month_keys: list[str] = []
    m = start_month
    while m <= until:
        month_keys.append(m.strftime("%Y-%m"))
        m = (m + timedelta(days=32)).replace(day=1)
    recent_from = until - timedelta(days=recent_days)
    p = {"uid": uid, "until": until, "start": start_month, "recent": recent_from}
    # Each drawn as its layer declares it (the unit's outline with the properties of the commune layers,
    # whatever its era); the page reads only these properties.
    layers = {
        "unit": _collection(conn, "communes", ("name", "code"), "id = %(uid)s", p),
        "villages": _collection(conn, "villages", ("name", "population"), "unit_id = %(uid)s", p),
        "stations": _collection(conn, "stations", ("name", "kind", "hq_status"),
                                "unit_id = %(uid)s AND (valid_to IS NULL OR valid_to >= %(until)s::date)", p),
        "patrol_points": _collection(conn, "patrol-points", ("name", "kind"), "unit_id = %(uid)s", p),
        "incidents": _collection(conn, "incidents", ("category", "severity", "occurred_at"),
                                 "unit_id = %(uid)s AND occurred_at > %(recent)s AND occurred_at <= %(until)s", p),
    }
    by_month: dict[str, dict[str, int]] = {}
    for cat, month, n in conn.execute(
            "SELECT category, to_char(occurred_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM'), count(*) "
            "FROM incident WHERE unit_id = %(uid)s AND occurred_at >= %(start)s AND occurred_at <= %(until)s "
            "GROUP BY 1, 2", p).fetchall():
        by_month.setdefault(cat, {})[month] = n
    visit_row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE v.accepted), count(DISTINCT v.patrol_point_id), "
        "(SELECT count(*) FROM patrol_point WHERE unit_id = %(uid)s) "
        "FROM patrol_visit v JOIN patrol_point pp ON pp.id = v.patrol_point_id "
        "WHERE pp.unit_id = %(uid)s AND v.visited_at > %(recent)s AND v.visited_at <= %(until)s", p).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        stations = cur.execute(
            "SELECT name, kind, hq_status, officers FROM station WHERE unit_id = %(uid)s "
            "AND (valid_to IS NULL OR valid_to >= %(until)s::date) ORDER BY kind, name", p).fetchall()
        services = cur.execute(
            "SELECT agency, period_start, period_end, received, online, in_person, on_time_or_early, on_time, "
            "early, overdue, in_progress FROM service_stat WHERE unit_id = %(uid)s "
            "ORDER BY period_start DESC, agency LIMIT 6", p).fetchall()
    villages = conn.execute("SELECT count(*) FROM settlement WHERE unit_id = %(uid)s", p).fetchone()[0]
    return Briefing(unit=unit, until=until, months=month_keys, layers=layers, incidents_by_month=by_month,
                    visits={"total": visit_row[0], "accepted": visit_row[1], "points_visited": visit_row[2],
                            "points": visit_row[3], "days": recent_days},
                    stations=stations, services=services, villages=villages)
