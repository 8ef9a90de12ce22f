"""Past incidents from a CSV or .xlsx file of cases: stored with source 'import', all or nothing, idempotent.

Each row's id is a uuid5 of the file's case number (or, without one, of the row's content), so importing the
same file again stores nothing twice. occurred_at is Asia/Ho_Chi_Minh local time unless it carries an offset
(ISO 8601 or dd/mm/yyyy [HH:MM[:SS]]). A given commune code must be the code of the commune that held the
point at that time: for a time of the 2025 era the one ``sitmap_commune_at`` (the incident insert trigger)
answers, for an earlier era the commune-level unit of that era holding the point.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import shapely

from data import vocab
from data.importers import locate
from data.importers import validation as v
from data.importers.reading import Source
from data.importers.report import ImportReport

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
NAMESPACE = uuid.UUID("5d1e2f5a-6c1b-4f0e-9a57-0c3d6e1b2a40")  # the ids of imported cases (never change it)
SOURCE = "import"
DEFAULT_STATUS = "closed"  # a file of past cases: a case without a status is taken as finished
_VN_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
assert SOURCE in vocab.codes(vocab.INCIDENT_SOURCES) and DEFAULT_STATUS in vocab.codes(vocab.INCIDENT_STATUSES)


@dataclass
class CaseRow:
    row: int
    id: uuid.UUID
    values: dict[str, Any]
    geom: Any
    unit_code: str | None
    body_hash: str


@dataclass
class Plan:
    rows: list[CaseRow]

    def __len__(self) -> int:
        return len(self.rows)


def parse_time(raw: str) -> datetime | None:
    """'25/12/2023 14:30' (local), '2023-12-25T14:30:00+07:00', '2023-12-25 14:30' (local) -> aware datetime."""
    s = raw.strip()
    m = _VN_DATE.fullmatch(s)
    try:
        if m:
            d, mo, y, h, mi, sec = m.groups()
            return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0), tzinfo=LOCAL)
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=LOCAL)


def prepare(conn: psycopg.Connection, source: Source, report: ImportReport, era: str) -> Plan:
    col = {f: v.column(source, f) for f in ("case_number", "category", "severity", "occurred_at", "status",
                                            "description", "reporter_name", "unit_code")}
    now = datetime.now(UTC)
    out: list[CaseRow] = []
    ids: dict[int, str] = {}
    for row, rec, geom in v.rows(source):
        category = v.term(report, row, col["category"] or "category", rec.get(col["category"] or ""),
                          vocab.INCIDENT_CATEGORIES, "category")
        severity = v.term(report, row, col["severity"] or "severity", rec.get(col["severity"] or ""),
                          vocab.INCIDENT_SEVERITIES, "severity")
        status = (v.term(report, row, col["status"], rec[col["status"]], vocab.INCIDENT_STATUSES, "status")
                  if col["status"] and rec.get(col["status"]) else DEFAULT_STATUS)
        raw_time = rec.get(col["occurred_at"]) if col["occurred_at"] else None
        occurred = parse_time(raw_time) if raw_time else None
        if raw_time is None:
            report.reject(row, col["occurred_at"] or "occurred_at", "missing occurred_at: when the case happened, "
                                                                    "e.g. 25/12/2023 14:30")
        elif occurred is None:
            report.reject(row, col["occurred_at"], f"'{raw_time}' is not a time: write dd/mm/yyyy HH:MM (local "
                                                   f"time) or ISO 8601 with an offset")
        elif occurred > now:
            report.reject(row, col["occurred_at"], f"{raw_time} is in the future")
            occurred = None
        pt = v.point(report, source, row, geom)
        if not (category and severity and status and occurred and pt):
            continue
        text = {f: rec.get(col[f]) if col[f] else None for f in ("description", "reporter_name")}
        case = rec.get(col["case_number"]) if col["case_number"] else None
        canon = {"category": category, "severity": severity, "status": status,
                 "occurred_at": occurred.astimezone(UTC).isoformat(), "lon": round(pt.x, 7), "lat": round(pt.y, 7),
                 **text}
        body = json.dumps(canon, sort_keys=True, ensure_ascii=False)
        key = f"case:{case}" if case else f"row:{body}"
        ids[row] = case or f"{category}, {severity}, {raw_time}, {pt.x:.5f} {pt.y:.5f}"
        out.append(CaseRow(row, uuid.uuid5(NAMESPACE, key), {**canon, "occurred_at": occurred}, pt,
                           rec.get(col["unit_code"]) if col["unit_code"] else None,
                           hashlib.sha256(body.encode()).hexdigest()))
    v.duplicates(report, ids, col["case_number"] or "row", "case" if col["case_number"] else "row content")
    prov_era = locate.province_era(conn, "2025", report)
    field_name = source.lon_field if source.lon_field == source.lat_field else f"{source.lon_field}/{source.lat_field}"
    outside = locate.check_inside_province(conn, report, prov_era, {c.row: c.geom for c in out}, field_name,
                                           source.swapped)
    out = [c for c in out if c.row not in outside]
    _check_communes(conn, report, out, col["unit_code"] or "unit_code", field_name)
    _check_existing(conn, report, out)
    return Plan(out)


_HOLDER = """
SELECT t.ord, e.code AS era,
       CASE WHEN e.code = '2025' THEN (SELECT code FROM admin_unit WHERE id = sitmap_commune_at(t.g, t.at))
            ELSE (SELECT u.code FROM admin_unit u
                   WHERE u.era = e.code AND """ + vocab.kinds_sql("u.kind", vocab.COMMUNE_LEVEL_KINDS) + """
                     AND ST_Intersects(u.geom, t.g) ORDER BY u.id LIMIT 1) END AS holder,
       EXISTS (SELECT 1 FROM admin_unit u WHERE u.era = e.code AND u.kind <> 'province') AS era_has_units,
       (SELECT code FROM admin_unit WHERE id = sitmap_commune_at(t.g, t.at)) AS now_holder,
       (SELECT string_agg(u.era, ', ') FROM admin_unit u WHERE u.code = t.given) AS given_eras
  FROM (SELECT ord, ST_GeomFromWKB(w, 4326) AS g, at, given
          FROM unnest(%(w)s::bytea[], %(at)s::timestamptz[], %(given)s::text[]) WITH ORDINALITY
               AS x(w, at, given, ord)) t
  LEFT JOIN admin_era e ON (t.at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date
                           BETWEEN coalesce(e.valid_from, '-infinity'::date) AND coalesce(e.valid_to, 'infinity'::date)
 ORDER BY t.ord
"""  # noqa: S608 - the kinds come from data/vocab.py


def _check_communes(conn: psycopg.Connection, report: ImportReport, cases: list[CaseRow], code_field: str,
                    point_field: str) -> None:
    if not cases:
        return
    result = conn.execute(_HOLDER, {"w": [shapely.to_wkb(c.geom) for c in cases],
                                    "at": [c.values["occurred_at"] for c in cases],
                                    "given": [c.unit_code for c in cases]}).fetchall()
    for (_ord, era, holder, era_has_units, now_holder, given_eras), c in zip(result, cases, strict=True):
        when = c.values["occurred_at"].astimezone(LOCAL).strftime("%d/%m/%Y %H:%M")
        if now_holder is None:
            report.reject(c.row, point_field, "the point lies in no commune of 2025 (the incident could not be "
                                              "filed under one): check the coordinates")
            continue
        if not c.unit_code:
            continue
        if era is None:
            report.reject(c.row, code_field, f"no administrative era covers {when}: the commune code cannot be "
                                             f"checked; leave it empty")
            continue
        expected = holder if era_has_units else now_holder
        if not era_has_units:
            report.warnings.append(f"row {c.row}: the database has no units of era {era}; its code was checked "
                                   f"against the commune of 2025")
        if c.unit_code != expected:
            of = f" ('{c.unit_code}' is a code of era {given_eras})" if given_eras else " (no unit has that code)"
            report.reject(c.row, code_field, f"commune code '{c.unit_code}' is not the commune that held the point "
                                             f"on {when}: that was {expected or 'none'} (era {era}){of}; fix the "
                                             f"code or leave it empty")


def _check_existing(conn: psycopg.Connection, report: ImportReport, cases: list[CaseRow]) -> None:
    """A case already imported with the same content is skipped; with other content it is a conflict."""
    found = dict(conn.execute("SELECT id, body_hash FROM incident WHERE id = ANY(%s)",
                              [[c.id for c in cases]]).fetchall()) if cases else {}
    numbers = dict(conn.execute("SELECT id, number FROM incident WHERE id = ANY(%s)",
                                [list(found)]).fetchall()) if found else {}
    for c in cases:
        if c.id in found and found[c.id] != c.body_hash:
            report.reject(c.row, "row", f"this case was imported before (incident number {numbers[c.id]}) with other "
                                        f"values; a correction is made on the incident itself, not by re-importing")
    skipped = sum(1 for c in cases if c.id in found)
    if skipped:
        report.notes.append(f"{skipped} case(s) already imported with the same values: skipped")
    cases[:] = [c for c in cases if c.id not in found]


def write(conn: psycopg.Connection, plan: Plan, report: ImportReport, era: str, bar) -> None:
    for c in plan.rows:
        val = c.values
        conn.execute(
            """
            WITH ins AS (
              INSERT INTO incident (id, category, severity, occurred_at, source, status, description, reporter_name,
                                    body_hash, geom)
              VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, 4326)) RETURNING id, version, status)
            INSERT INTO incident_history (incident_id, user_id, version, from_status, to_status, changes)
            SELECT id, NULL, version, NULL, status, jsonb_build_object('imported', %s::text) FROM ins
            """, [c.id, val["category"], val["severity"], val["occurred_at"], SOURCE, val["status"],
                  val["description"], val["reporter_name"], c.body_hash, shapely.to_wkb(c.geom), report.path.name])
        bar.update(1)
    report.count("incident", len(plan.rows))
    report.count("incident_history", len(plan.rows))
