"""The situation at a glance, for the commanders' panel, the briefing and the period reports: one SQL statement
over the caller's communes, no personal details.

``situation(conn, caller, at=None, since=None, until=None, communes=None)`` (a synchronous connection: the
briefing and the reports) and ``situation_async`` (the same for the API's asynchronous connection) return one
plain dict (JSON-ready: times as ISO strings):

- ``incidents``: per period — ``24h`` and ``7d`` ending at ``at``, and ``window`` (``since``..``until``, the
  map's time filter) when either is given — the counts by category × severity, the same period a year before
  (``interval '1 year'``: 29 February falls back to 28) and the change; both ends of a period are included.
- ``open``: incidents not closed that occurred up to ``at``, by status and by age (``at`` − occurred_at:
  <24 h, 1–3 d, 3–7 d, >7 d); ``stale``: those assigned whose last touch (the latest of ``updated_at`` and their
  history rows) is more than ``stale_hours`` (SITMAP_SITUATION_STALE_HOURS) before ``at``, counted and listed.
- ``patrols``: patrol points overdue at ``at`` by commune, as ``sitmap_patrol_due(at)`` (migration 0021, the one
  definition of overdue) says; a point with several schedules is overdue when any of them is.
- ``stations``: stations in force on ``at``'s date (Asia/Ho_Chi_Minh) by headquarters status, and the status
  changes of the last 7 days.
- ``serious``: the latest ``latest`` incidents of severity serious or worse (data/vocab.py order) up to ``until``
  (or ``at``) and from ``since``: id, number, time, category, severity, status, commune, lon/lat.

Statuses (of incidents and stations) are today's: ``at`` moves the periods, not the workflow back in time.
``communes`` (2025 commune codes) narrows the caller's scope; a code outside it is refused (403), an unknown one
is a bad parameter (400). Keep this signature stable: the reports import it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from data import vocab
from data.ops.errors import bad_parameter, forbidden
from data.ops.scope import in_scope, scope_params
from data.permissions import Caller, communes_for
from data.settings import get_settings

ACTION = "situation.read"
PERIODS = ("24h", "7d", "window")
AGE_BUCKETS = ("lt_24h", "d1_3", "d3_7", "gt_7d")
SERIOUS_RANK = vocab.codes(vocab.INCIDENT_SEVERITIES).index("serious") + 1  # severity_rank counts from 1
LATEST_MAX = 50
STATION_CHANGE_DAYS = 7
_KINDS = list(vocab.COMMUNE_LEVEL_KINDS)

_SCOPE = in_scope("{col}") + " AND (%(units)s::int[] IS NULL OR {col} = ANY(%(units)s::int[]))"


def _where(col: str) -> str:
    return _SCOPE.replace("{col}", col)


SITUATION_SQL = """
WITH inc AS (
  SELECT i.id, i.number, i.category, i.severity, i.severity_rank, i.status, i.occurred_at, i.updated_at,
         i.unit_id, i.is_generated, i.geom
    FROM incident i WHERE """ + _where("i.unit_id") + """
), periods (key, ord, p_from, p_to) AS (
  SELECT '24h', 1, %(at)s::timestamptz - interval '24 hours', %(at)s::timestamptz
  UNION ALL SELECT '7d', 2, %(at)s::timestamptz - interval '7 days', %(at)s::timestamptz
  UNION ALL SELECT 'window', 3, coalesce(%(since)s::timestamptz, '-infinity'),
                   coalesce(%(until)s::timestamptz, %(at)s::timestamptz) WHERE %(windowed)s
), counted AS (
  SELECT p.key, i.category, i.severity,
         count(*) FILTER (WHERE i.occurred_at BETWEEN p.p_from AND p.p_to) AS n,
         count(*) FILTER (WHERE i.occurred_at BETWEEN p.p_from - interval '1 year' AND p.p_to - interval '1 year')
           AS n_before
    FROM periods p JOIN inc i ON i.occurred_at BETWEEN p.p_from AND p.p_to
                              OR i.occurred_at BETWEEN p.p_from - interval '1 year' AND p.p_to - interval '1 year'
   GROUP BY 1, 2, 3
), per AS (
  SELECT p.key, p.ord, jsonb_build_object(
           'from', CASE WHEN p.p_from = '-infinity' THEN NULL ELSE p.p_from END, 'to', p.p_to,
           'year_before', jsonb_build_object(
             'from', CASE WHEN p.p_from = '-infinity' THEN NULL ELSE p.p_from - interval '1 year' END,
             'to', p.p_to - interval '1 year',
             'total', coalesce((SELECT sum(c.n_before) FROM counted c WHERE c.key = p.key), 0)),
           'total', coalesce((SELECT sum(c.n) FROM counted c WHERE c.key = p.key), 0),
           'change', coalesce((SELECT sum(c.n - c.n_before) FROM counted c WHERE c.key = p.key), 0),
           'by', coalesce((SELECT jsonb_agg(jsonb_build_object('category', c.category, 'severity', c.severity,
                                                               'count', c.n, 'year_before', c.n_before,
                                                               'change', c.n - c.n_before)
                                            ORDER BY c.category, c.severity)
                             FROM counted c WHERE c.key = p.key), '[]'::jsonb)) AS doc
    FROM periods p
), open AS (
  SELECT i.*, %(at)s::timestamptz - i.occurred_at AS age,
         greatest(i.updated_at, (SELECT max(h.at) FROM incident_history h WHERE h.incident_id = i.id)) AS touched
    FROM inc i WHERE i.status <> 'closed' AND i.occurred_at <= %(at)s::timestamptz
), stale AS (
  SELECT o.*, extract(epoch FROM %(at)s::timestamptz - o.touched) / 3600 AS idle_hours FROM open o
   WHERE o.status = 'assigned' AND o.touched < %(at)s::timestamptz - make_interval(hours => %(stale_hours)s)
), due AS (
  SELECT d.patrol_point_id, d.unit_id, bool_or(d.overdue) AS overdue, bool_and(d.last_visit_at IS NULL) AS never,
         max(d.overdue_hours) AS overdue_hours
    FROM sitmap_patrol_due(%(at)s::timestamptz) d WHERE """ + _where("d.unit_id") + """
   GROUP BY 1, 2
), due_units AS (
  SELECT u.code, u.name, count(*) AS points, count(*) FILTER (WHERE d.overdue) AS overdue,
         count(*) FILTER (WHERE d.overdue AND d.never) AS never_visited, max(d.overdue_hours) AS max_overdue_hours
    FROM due d LEFT JOIN admin_unit u ON u.id = d.unit_id GROUP BY u.id, u.code, u.name
), st AS (
  SELECT s.* FROM station s WHERE """ + _where("s.unit_id") + """
     AND (s.valid_from IS NULL OR s.valid_from <= (%(at)s::timestamptz AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)
     AND (s.valid_to IS NULL OR s.valid_to >= (%(at)s::timestamptz AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)
), st_changes AS (
  SELECT h.* FROM (
    SELECT h.station_id, h.hq_status, h.changed_at,
           lag(h.hq_status) OVER (PARTITION BY h.station_id ORDER BY h.changed_at, h.id) AS from_status
      FROM station_status_history h WHERE h.station_id IN (SELECT id FROM st)
  ) h WHERE h.changed_at > %(at)s::timestamptz - make_interval(days => %(change_days)s)
        AND h.changed_at <= %(at)s::timestamptz
), serious AS (
  SELECT i.id, i.number, i.occurred_at, i.category, i.severity, i.status, u.code AS commune,
         u.name AS commune_name, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat
    FROM inc i LEFT JOIN admin_unit u ON u.id = i.unit_id
   WHERE i.severity_rank >= %(serious_rank)s
     AND i.occurred_at <= coalesce(%(until)s::timestamptz, %(at)s::timestamptz)
     AND (%(since)s::timestamptz IS NULL OR i.occurred_at >= %(since)s::timestamptz)
   ORDER BY i.occurred_at DESC, i.number DESC LIMIT %(latest)s
)
SELECT jsonb_build_object(
  'incidents', (SELECT jsonb_object_agg(key, doc ORDER BY ord) FROM per),
  'open', jsonb_build_object(
    'total', (SELECT count(*) FROM open),
    'by_status', (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
                    FROM (SELECT status, count(*) AS n FROM open GROUP BY 1) x),
    'by_age', (SELECT jsonb_build_object(
                 'lt_24h', count(*) FILTER (WHERE age < interval '24 hours'),
                 'd1_3', count(*) FILTER (WHERE age >= interval '24 hours' AND age < interval '3 days'),
                 'd3_7', count(*) FILTER (WHERE age >= interval '3 days' AND age < interval '7 days'),
                 'gt_7d', count(*) FILTER (WHERE age >= interval '7 days')) FROM open),
    'stale', jsonb_build_object(
      'hours', %(stale_hours)s::int,
      'count', (SELECT count(*) FROM stale),
      'items', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'id', x.id, 'number', x.number, 'occurred_at', x.occurred_at, 'category', x.category,
                  'severity', x.severity, 'status', x.status, 'commune', u.code, 'commune_name', u.name,
                  'last_touched_at', x.touched, 'idle_hours', round(x.idle_hours::numeric, 1),
                  'lon', ST_X(x.geom), 'lat', ST_Y(x.geom)) ORDER BY x.touched, x.number), '[]'::jsonb)
                  FROM (SELECT * FROM stale ORDER BY touched, number LIMIT %(stale_list)s) x
                  LEFT JOIN admin_unit u ON u.id = x.unit_id))),
  'patrols', jsonb_build_object(
    'points', (SELECT count(*) FROM due),
    'overdue', (SELECT count(*) FROM due WHERE overdue),
    'by_commune', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                     'commune', code, 'commune_name', name, 'points', points, 'overdue', overdue,
                     'never_visited', never_visited,
                     'max_overdue_hours', round(max_overdue_hours::numeric, 1))
                     ORDER BY overdue DESC, code), '[]'::jsonb) FROM due_units WHERE overdue > 0)),
  'stations', jsonb_build_object(
    'total', (SELECT count(*) FROM st),
    'by_status', (SELECT coalesce(jsonb_object_agg(hq_status, n), '{}'::jsonb)
                    FROM (SELECT hq_status, count(*) AS n FROM st GROUP BY 1) x),
    'changes_days', %(change_days)s::int,
    'changes', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                  'station_id', st.id, 'name', st.name, 'commune', u.code, 'from_status', c.from_status,
                  'hq_status', c.hq_status, 'changed_at', c.changed_at) ORDER BY c.changed_at DESC), '[]'::jsonb)
                  FROM st_changes c JOIN st ON st.id = c.station_id LEFT JOIN admin_unit u ON u.id = st.unit_id)),
  'serious', (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.occurred_at DESC, s.number DESC), '[]'::jsonb)
                FROM serious s),
  'incidents_generated', coalesce((SELECT bool_or(is_generated) FROM inc), false)
)
"""  # noqa: S608 - the only interpolations are the scope conditions of this module, never client input

UNITS_SQL = ("SELECT id, code, name FROM admin_unit WHERE era = '2025' AND kind = ANY(%(kinds)s) "
             "AND code = ANY(%(codes)s) ORDER BY code")


def _check_times(at: datetime | None, since: datetime | None, until: datetime | None) -> datetime:
    for name, value in (("at", at), ("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise bad_parameter(f"{name} needs a UTC offset (e.g. 2025-09-01T07:00:00+07:00)", name)
    if since is not None and until is not None and since > until:
        raise bad_parameter(f"since ({since.isoformat()}) is after until ({until.isoformat()})", "since")
    # The periods end at ``at``; with only a window the window's end is the moment the figures are read at.
    return at or until or datetime.now(UTC)


def _units(rows: list[tuple[int, str, str]], codes: list[str], caller: Caller) -> list[int] | None:
    found = {r[1]: r for r in rows}
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise bad_parameter(f"no commune of 2025 has the code {', '.join(unknown)}", "commune", unknown=unknown)
    allowed = communes_for(caller, ACTION)
    if allowed is not None:
        outside = [found[c] for c in codes if found[c][0] not in allowed]
        if outside:
            names = ", ".join(f"{r[2]} ({r[1]})" for r in outside)
            raise forbidden(f"{names} lies outside your communes", unit_code=outside[0][1])
    return [found[c][0] for c in codes]


def _params(caller: Caller, at: datetime, since: datetime | None, until: datetime | None,
            units: list[int] | None, latest: int, stale_hours: int | None) -> dict[str, Any]:
    if not 1 <= latest <= LATEST_MAX:
        raise bad_parameter(f"latest must be between 1 and {LATEST_MAX}", "latest")
    return {"at": at, "since": since, "until": until, "windowed": since is not None or until is not None,
            "units": units, "stale_hours": stale_hours or get_settings().situation_stale_hours,
            "serious_rank": SERIOUS_RANK,
            "latest": latest, "stale_list": LATEST_MAX, "change_days": STATION_CHANGE_DAYS,
            **scope_params(caller, ACTION)}


def _shape(doc: dict[str, Any], at: datetime, since: datetime | None, until: datetime | None,
           codes: list[str] | None) -> dict[str, Any]:
    # jsonb keeps its keys in its own order: the periods go out in theirs.
    doc["incidents"] = {k: doc["incidents"][k] for k in PERIODS if k in doc["incidents"]}
    return {"at": at.isoformat(), "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None, "communes": codes, **doc}


def _codes(communes: list[str] | None) -> list[str] | None:
    if not communes:
        return None
    return sorted({c.strip() for c in communes if c.strip()}) or None


def situation(conn: psycopg.Connection, caller: Caller, at: datetime | None = None, since: datetime | None = None,
              until: datetime | None = None, communes: list[str] | None = None, latest: int = 10,
              stale_hours: int | None = None) -> dict[str, Any]:
    """The situation as of ``at`` (default: now, or ``until``) within the caller's communes (``communes``: 2025
    codes narrowing them); see the module's docstring for every figure. ``stale_hours``: default
    SITMAP_SITUATION_STALE_HOURS (the API passes its app's settings)."""
    when = _check_times(at, since, until)
    codes = _codes(communes)
    units = _units(conn.execute(UNITS_SQL, {"kinds": _KINDS, "codes": codes}).fetchall(), codes, caller) \
        if codes else None
    doc = conn.execute(SITUATION_SQL, _params(caller, when, since, until, units, latest, stale_hours)).fetchone()[0]
    return _shape(doc, when, since, until, codes)


async def situation_async(conn: psycopg.AsyncConnection, caller: Caller, at: datetime | None = None,
                          since: datetime | None = None, until: datetime | None = None,
                          communes: list[str] | None = None, latest: int = 10,
                          stale_hours: int | None = None) -> dict[str, Any]:
    """``situation`` on an asynchronous connection (the API's)."""
    when = _check_times(at, since, until)
    codes = _codes(communes)
    units = None
    if codes:
        cur = await conn.execute(UNITS_SQL, {"kinds": _KINDS, "codes": codes})
        units = _units(await cur.fetchall(), codes, caller)
    cur = await conn.execute(SITUATION_SQL, _params(caller, when, since, until, units, latest, stale_hours))
    doc = (await cur.fetchone())[0]
    return _shape(doc, when, since, until, codes)


__all__ = ["ACTION", "PERIODS", "AGE_BUCKETS", "SERIOUS_RANK", "situation", "situation_async"]
