"""Period reports: the province's (or one commune's) figures for a month, a quarter or a year, as tables.

``parse_period`` reads ``2025-09`` (a month), ``2025-Q3`` (a quarter) or ``2025`` (a year) in local time
(Asia/Ho_Chi_Minh). ``build`` computes every table in SQL within the caller's communes (``report.read`` of
data/permissions.py) and the commune asked for: (a) incidents by commune x category x severity, (b) the same
counts a year before and the change, (c) clearance within N days per category, (d) response times per commune
from the stored ``sitmap analyze responses`` run, (e) patrol visits against the schedule, (f) administrative-
procedure figures as reported (``service_stat``), (g) the situation panel's open incidents and overdue patrol
points at the period's end (data/ops/situation.py), and, only when asked by a caller with ``personal.read``,
(h) the serious incidents with description and reporter (that read is audited). ``write_xlsx`` writes one
sheet per table (Vietnamese headings, English beneath, frozen headers, numbers as numbers) and a chart sheet;
``write_csv`` writes one table as CSV or all of them as a zip of CSVs.

Synchronous: the CLI calls it directly, the API in a worker thread (api/analysis_runner.py).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import psycopg

from data import vocab
from data.ops import audit
from data.ops.errors import OpsError, forbidden
from data.permissions import Caller, communes_for, may

ACTION = "report.read"
TZ_NAME = "Asia/Ho_Chi_Minh"
TZ = ZoneInfo(TZ_NAME)
FORMATS = ("xlsx", "csv")
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_CLEARANCE_DAYS = 366
SERIOUS = "serious"  # the details list: this severity or worse (data.vocab.INCIDENT_SEVERITIES is ordered)
GENERATED_NOTE = ("Dữ liệu minh họa: đường giao thông và vụ việc là dữ liệu tạo ra, không phải số liệu thực / "
                  "Demo data: the roads and incidents are generated, not real figures")
PATROL_DUE_NOTE = ("Số lượt tuần tra phải thực hiện = số giờ của kỳ (đến thời điểm hiện tại) / chu kỳ (giờ) của "
                   "mỗi điểm theo sitmap_patrol_due (ca trực: mỗi ca một lượt mỗi ngày) / Visits due = the period's "
                   "hours (up to now) / each point's interval in hours as sitmap_patrol_due gives it at the "
                   "period's end (named shifts: one visit per shift a day)")


class ReportInputError(OpsError):
    """A period, commune, format or option that is not one: 422 from the API, exit status 2 from the CLI."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(422, "Invalid report request", f"{parameter}: {detail}", "invalid-report-request",
                         parameter=parameter)
        self.parameter = parameter


# ----------------------------------------------------------------------------------------------- the period
@dataclass(frozen=True)
class Period:
    label: str  # as asked: 2025-09 | 2025-Q3 | 2025
    kind: str  # month | quarter | year
    start: datetime  # aware, local midnight, inclusive
    end: datetime  # aware, local midnight, exclusive

    def year_before(self) -> Period:
        return Period(_shift_label(self.label), self.kind, self.start.replace(year=self.start.year - 1),
                      self.end.replace(year=self.end.year - 1))

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(days=1)).date()


def _shift_label(label: str) -> str:
    return str(int(label[:4]) - 1) + label[4:]


_PERIOD = re.compile(r"(?P<y>\d{4})(?:-(?:(?P<m>\d{2})|[Qq](?P<q>[1-4])))?")


def parse_period(text: str | None) -> Period:
    """``2025-09``, ``2025-Q3`` or ``2025`` as local (Asia/Ho_Chi_Minh) bounds; anything else is refused."""
    raw = (text or "").strip()
    found = _PERIOD.fullmatch(raw)
    example = "a month 2025-09, a quarter 2025-Q3 or a year 2025"
    if not found:
        raise ReportInputError("period", f"{raw[:40]!r} is not {example}")
    year = int(found["y"])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ReportInputError("period", f"the year {year} is outside {MIN_YEAR}-{MAX_YEAR}")
    if found["m"]:
        month = int(found["m"])
        if not 1 <= month <= 12:
            raise ReportInputError("period", f"{raw!r}: the month must be 01-12 ({example})")
        start, months, kind, label = date(year, month, 1), 1, "month", f"{year}-{month:02d}"
    elif found["q"]:
        q = int(found["q"])
        start, months, kind, label = date(year, 3 * q - 2, 1), 3, "quarter", f"{year}-Q{q}"
    else:
        start, months, kind, label = date(year, 1, 1), 12, "year", str(year)
    m = start.month - 1 + months
    end = date(start.year + m // 12, m % 12 + 1, 1)
    return Period(label, kind, datetime(start.year, start.month, 1, tzinfo=TZ), datetime(end.year, end.month, 1,
                                                                                          tzinfo=TZ))


def parse_format(text: str | None) -> str:
    value = (text or "").strip().lower()
    if value not in FORMATS:
        raise ReportInputError("format", f"{(text or '')[:20]!r} is not one of {', '.join(FORMATS)}")
    return value


def check_clearance_days(days: int) -> int:
    if not 1 <= days <= MAX_CLEARANCE_DAYS:
        raise ReportInputError("clearance_days", f"{days} is not a number of days between 1 and "
                                                 f"{MAX_CLEARANCE_DAYS}")
    return days


# ------------------------------------------------------------------------------------------------ the tables
@dataclass(frozen=True)
class Column:
    key: str  # the CSV heading and the English name of the column in code
    vi: str
    en: str
    kind: str = "text"  # text | int | float | pct | date | datetime
    terms: tuple[vocab.Term, ...] | None = None  # values are codes of this vocabulary (labels in the workbook)


@dataclass
class Table:
    key: str  # the CSV file's name in the zip
    sheet: str  # the sheet's (Vietnamese) name, at most 31 characters
    title_vi: str
    title_en: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    period: Period
    commune: str  # a commune code or "all"
    scope_label: str  # for people: the commune's name, or the province / the caller's communes
    clearance_days: int
    tables: list[Table]
    notes: list[str]
    generated: bool  # the incidents or roads of the database are generated (the demo)
    created_at: datetime

    def table(self, key: str) -> Table:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)

    @property
    def filename_stem(self) -> str:
        return f"sitmap-report-{self.period.label}-{self.commune}"


COMMUNE_CODE = Column("commune_code", "Mã xã", "Commune code")
COMMUNE_NAME = Column("commune", "Xã, phường", "Commune")
CATEGORY = Column("category", "Loại vụ việc", "Category", terms=vocab.INCIDENT_CATEGORIES)
SEVERITY = Column("severity", "Mức độ", "Severity", terms=vocab.INCIDENT_SEVERITIES)

COMMUNES_SQL = f"""
SELECT id, code, name FROM admin_unit
 WHERE era = '2025' AND {vocab.kinds_sql("kind", vocab.COMMUNE_LEVEL_KINDS)}
"""  # noqa: S608 (vocabulary constants)
SCOPE = "(%(all)s OR {col} = ANY(%(units)s::int[]))"
CAT_RANK = vocab.rank_sql("i.category", vocab.INCIDENT_CATEGORIES)
SEV_RANK = vocab.rank_sql("i.severity", vocab.INCIDENT_SEVERITIES)

INCIDENTS_SQL = f"""
SELECT u.code, u.name, i.category, i.severity, count(*)::int
  FROM incident i JOIN admin_unit u ON u.id = i.unit_id
 WHERE i.occurred_at >= %(start)s AND i.occurred_at < %(end)s AND {SCOPE.format(col="i.unit_id")}
 GROUP BY u.code, u.name, i.category, i.severity, {CAT_RANK}, {SEV_RANK}
 ORDER BY u.code, {CAT_RANK}, {SEV_RANK}
"""  # noqa: S608 (trusted fragments)

YOY_SQL = f"""
SELECT code, name, category, severity, now_n, before_n, now_n - before_n,
       CASE WHEN before_n > 0 THEN round(100.0 * (now_n - before_n) / before_n, 1)::float8 END
  FROM (SELECT u.code, u.name, i.category, i.severity, {CAT_RANK} AS cr, {SEV_RANK} AS sr,
               (count(*) FILTER (WHERE i.occurred_at >= %(start)s AND i.occurred_at < %(end)s))::int AS now_n,
               (count(*) FILTER (WHERE i.occurred_at >= %(pstart)s AND i.occurred_at < %(pend)s))::int AS before_n
          FROM incident i JOIN admin_unit u ON u.id = i.unit_id
         WHERE ((i.occurred_at >= %(start)s AND i.occurred_at < %(end)s)
                OR (i.occurred_at >= %(pstart)s AND i.occurred_at < %(pend)s))
           AND {SCOPE.format(col="i.unit_id")}
         GROUP BY u.code, u.name, i.category, i.severity, cr, sr) g
 ORDER BY code, cr, sr
"""  # noqa: S608 (trusted fragments)

# Closed: the first time the incident's history took it to "closed" (a reopened case keeps its first closing).
CLEARANCE_SQL = f"""
WITH inc AS (
  SELECT i.category, {CAT_RANK} AS cr, i.occurred_at,
         (SELECT min(h.at) FROM incident_history h WHERE h.incident_id = i.id AND h.to_status = 'closed') AS closed_at
    FROM incident i
   WHERE i.occurred_at >= %(start)s AND i.occurred_at < %(end)s AND {SCOPE.format(col="i.unit_id")}
)
SELECT category, count(*)::int, (count(closed_at))::int,
       (count(*) FILTER (WHERE closed_at <= occurred_at + make_interval(days => %(days)s)))::int,
       round(100.0 * count(*) FILTER (WHERE closed_at <= occurred_at + make_interval(days => %(days)s))
             / count(*), 1)::float8
  FROM inc GROUP BY category, cr ORDER BY cr
"""  # noqa: S608 (trusted fragments)

RESPONSES_SQL = f"""
SELECT u.code, u.name, count(*)::int, count(r.response_min)::int,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY r.response_min))::numeric, 1)::float8,
       round((percentile_cont(0.9) WITHIN GROUP (ORDER BY r.response_min))::numeric, 1)::float8,
       bool_or(run.roads_generated)
  FROM travel_response r JOIN travel_run run ON run.id = r.run_id AND run.analysis = 'responses'
  JOIN admin_unit u ON u.id = r.unit_id
 WHERE r.occurred_at >= %(start)s AND r.occurred_at < %(end)s AND {SCOPE.format(col="r.unit_id")}
 GROUP BY u.code, u.name ORDER BY u.code
"""  # noqa: S608 (trusted fragments)
RESPONSE_RUN_SQL = "SELECT params, roads_generated, note FROM travel_run WHERE analysis = 'responses'"

# The schedule in force at the period's end (or now, for the current period) gives each point's interval (named
# shifts: each shift once a day); a point with several schedules owes the visits of each. Visits: accepted
# check-ins within the period.
PATROLS_SQL = f"""
WITH due AS (
  SELECT d.unit_id, d.patrol_point_id, d.interval_hours, cardinality(s.shifts) AS shifts_n
    FROM sitmap_patrol_due(%(due_at)s) d LEFT JOIN patrol_schedule s ON s.id = d.schedule_id
   WHERE {SCOPE.format(col="d.unit_id")}
), visits AS (
  SELECT p.unit_id, count(*)::int AS n
    FROM patrol_visit v JOIN patrol_point p ON p.id = v.patrol_point_id
   WHERE v.accepted AND v.visited_at >= %(start)s AND v.visited_at < %(due_at)s AND {SCOPE.format(col="p.unit_id")}
   GROUP BY p.unit_id
), per_unit AS (
  SELECT unit_id, count(DISTINCT patrol_point_id)::int AS points,
         sum(CASE WHEN interval_hours > 0 THEN floor(%(hours)s / interval_hours)
                  WHEN shifts_n > 0 THEN floor(%(hours)s / 24 * shifts_n) ELSE 0 END)::int AS due_n
    FROM due GROUP BY unit_id
)
SELECT u.code, u.name, pu.points, coalesce(v.n, 0), pu.due_n,
       CASE WHEN pu.due_n > 0 THEN round(100.0 * coalesce(v.n, 0) / pu.due_n, 1)::float8 END
  FROM per_unit pu JOIN admin_unit u ON u.id = pu.unit_id LEFT JOIN visits v ON v.unit_id = pu.unit_id
 ORDER BY u.code
"""  # noqa: S608 (trusted fragments)

PROCEDURES_SQL = f"""
SELECT u.code, u.name, s.agency, s.period_start, s.period_end, s.received, s.online, s.in_person, s.early,
       s.on_time, s.on_time_or_early, s.overdue, s.in_progress, s.source
  FROM service_stat s JOIN admin_unit u ON u.id = s.unit_id
 WHERE s.period_start <= %(last_day)s AND coalesce(s.period_end, s.period_start) >= %(first_day)s
   AND {SCOPE.format(col="s.unit_id")}
 ORDER BY u.code, s.agency, s.period_start
"""  # noqa: S608 (trusted fragments)

DETAILS_SQL = f"""
SELECT i.id::text, i.number, (i.occurred_at AT TIME ZONE '{TZ_NAME}'), u.code, u.name, i.category, i.severity,
       i.status, i.description, i.reporter_name
  FROM incident i JOIN admin_unit u ON u.id = i.unit_id
 WHERE i.occurred_at >= %(start)s AND i.occurred_at < %(end)s AND {SCOPE.format(col="i.unit_id")}
   AND {SEV_RANK} >= %(min_rank)s
 ORDER BY i.occurred_at, i.number
"""  # noqa: S608 (trusted fragments)

GENERATED_SQL = f"""
SELECT EXISTS (SELECT 1 FROM incident i WHERE i.is_generated AND {SCOPE.format(col="i.unit_id")}),
       EXISTS (SELECT 1 FROM road_edge WHERE is_generated)
"""  # noqa: S608 (trusted fragments)


@dataclass(frozen=True)
class Scope:
    units: frozenset[int] | None  # None: the whole province
    commune: str  # the code asked for, or "all"
    label: str

    def params(self) -> dict[str, Any]:
        return {"all": self.units is None, "units": sorted(self.units or ())}


def resolve_scope(conn: psycopg.Connection, caller: Caller | None, commune: str | None) -> Scope:
    """The communes of the report: ``commune`` (a 2025 commune code, 422 if there is none, 403 outside the
    caller's communes) or "all" (the province, or all the caller's communes). ``caller`` None: the local CLI."""
    allowed = communes_for(caller, ACTION) if caller is not None else None
    code = (commune or "all").strip()
    if code.lower() == "all":
        if allowed is None:
            return Scope(None, "all", "Toàn tỉnh / The whole province")
        names = [r[2] for r in conn.execute(COMMUNES_SQL + " AND id = ANY(%s) ORDER BY code",  # noqa: S608
                                            [sorted(allowed)]).fetchall()]
        return Scope(frozenset(allowed), "all", ", ".join(names) or "(không có xã / no commune)")
    row = conn.execute(COMMUNES_SQL + " AND code = %s", [code]).fetchone()  # noqa: S608
    if row is None:
        raise ReportInputError("commune", f"there is no commune of 2025 with the code {code[:40]!r}; give a commune "
                                          "code (the code of the communes layer) or all")
    if allowed is not None and row[0] not in allowed:
        raise forbidden(f"the commune {row[2]} ({row[1]}) is outside your communes", unit_code=row[1])
    return Scope(frozenset({row[0]}), row[1], f"{row[2]} ({row[1]})")


def _incidents(conn: psycopg.Connection, q: dict[str, Any]) -> Table:
    rows = [list(r) for r in conn.execute(INCIDENTS_SQL, q).fetchall()]
    return Table("incidents", "Vụ việc", "Vụ việc theo xã, loại và mức độ",
                 "Incidents by commune, category and severity",
                 [COMMUNE_CODE, COMMUNE_NAME, CATEGORY, SEVERITY, Column("incidents", "Số vụ", "Incidents", "int")],
                 rows)


def _year_on_year(conn: psycopg.Connection, q: dict[str, Any], before: Period) -> Table:
    rows = [list(r) for r in conn.execute(YOY_SQL, q).fetchall()]
    return Table("year_on_year", "So sánh cùng kỳ", f"So sánh với cùng kỳ năm trước ({before.label})",
                 f"Against the same period a year before ({before.label})",
                 [COMMUNE_CODE, COMMUNE_NAME, CATEGORY, SEVERITY,
                  Column("incidents", "Số vụ kỳ này", "Incidents this period", "int"),
                  Column("incidents_year_before", "Số vụ cùng kỳ", "Incidents a year before", "int"),
                  Column("change", "Tăng/giảm (vụ)", "Change (incidents)", "int"),
                  Column("change_pct", "Tăng/giảm (%)", "Change (%)", "pct")], rows,
                 ["Tăng/giảm (%) để trống khi cùng kỳ không có vụ nào / Change (%) is empty when the year before "
                  "had none"])


def _clearance(conn: psycopg.Connection, q: dict[str, Any], days: int) -> Table:
    rows = [list(r) for r in conn.execute(CLEARANCE_SQL, q).fetchall()]
    return Table("clearance", "Giải quyết", f"Vụ việc kết thúc trong {days} ngày",
                 f"Incidents closed within {days} days",
                 [CATEGORY, Column("incidents", "Số vụ", "Incidents", "int"),
                  Column("closed", "Đã kết thúc", "Closed", "int"),
                  Column("closed_within", f"Kết thúc trong {days} ngày", f"Closed within {days} days", "int"),
                  Column("closed_within_pct", f"Tỷ lệ trong {days} ngày (%)", f"Share within {days} days (%)",
                         "pct")], rows,
                 [f"Kết thúc: lần đầu chuyển sang trạng thái 'closed'; trong {days} ngày kể từ khi xảy ra / Closed: "
                  f"the first change to status 'closed', within {days} days of occurring"])


def _responses(conn: psycopg.Connection, q: dict[str, Any], period: Period) -> Table:
    rows = []
    for r in conn.execute(RESPONSES_SQL, q).fetchall():
        rows.append([*r[:6], "Đường giao thông là dữ liệu tạo ra / roads are generated" if r[6] else ""])
    notes = ["Thời gian di chuyển bằng đường bộ từ trụ sở công an xã đang hoạt động ngày xảy ra vụ việc (lần chạy "
             "đã lưu của sitmap analyze responses) / Travel by road from the commune station in service on the "
             "incident's day (the stored run of sitmap analyze responses)"]
    run = conn.execute(RESPONSE_RUN_SQL).fetchone()
    if run is None:
        notes.append("Chưa có lần chạy nào: chạy sitmap analyze refresh / No stored run: run sitmap analyze refresh")
    else:
        since, until = run[0].get("since"), run[0].get("until")
        if since and until and (datetime.fromisoformat(since) > period.start
                                or datetime.fromisoformat(until) < period.end):
            notes.append(f"Lần chạy đã lưu chỉ gồm vụ việc từ {since[:10]} đến {until[:10]} / The stored run covers "
                         f"the incidents from {since[:10]} to {until[:10]} only")
        if run[1]:
            notes.append(run[2] or GENERATED_NOTE)
    return Table("responses", "Thời gian phản ứng", "Thời gian di chuyển đến hiện trường (phút)",
                 "Response travel time (minutes)",
                 [COMMUNE_CODE, COMMUNE_NAME, Column("incidents", "Số vụ", "Incidents", "int"),
                  Column("with_trip", "Có đường đi", "With a road trip", "int"),
                  Column("median_min", "Trung vị (phút)", "Median (minutes)", "float"),
                  Column("p90_min", "Phân vị 90 (phút)", "90th percentile (minutes)", "float"),
                  Column("note", "Ghi chú", "Note")], rows, notes)


def _patrols(conn: psycopg.Connection, q: dict[str, Any], period: Period, now: datetime) -> Table:
    due_at = min(period.end, max(period.start, now))
    hours = (due_at - period.start).total_seconds() / 3600
    rows = [list(r) for r in conn.execute(PATROLS_SQL, {**q, "due_at": due_at, "hours": hours}).fetchall()]
    notes = [PATROL_DUE_NOTE]
    if due_at < period.end:
        notes.append(f"Kỳ chưa kết thúc: tính đến {due_at.astimezone(TZ):%d/%m/%Y %H:%M} / The period has not "
                     f"ended: counted up to {due_at.astimezone(TZ):%Y-%m-%d %H:%M}")
    return Table("patrols", "Tuần tra", "Lượt tuần tra so với lịch", "Patrol visits against the schedule",
                 [COMMUNE_CODE, COMMUNE_NAME, Column("points", "Số điểm", "Patrol points", "int"),
                  Column("visits", "Lượt đã thực hiện", "Visits done", "int"),
                  Column("visits_due", "Lượt phải thực hiện", "Visits due", "int"),
                  Column("visits_pct", "Tỷ lệ (%)", "Share (%)", "pct")], rows, notes)


def _procedures(conn: psycopg.Connection, q: dict[str, Any]) -> Table:
    rows = [list(r) for r in conn.execute(PROCEDURES_SQL, q).fetchall()]
    notes = ["Số liệu như được báo cáo, không điều chỉnh (có thể không khớp tổng) / Figures as reported, not "
             "adjusted (they need not add up)"]
    if not rows:
        notes.append("Không có số liệu thủ tục hành chính được báo cáo cho kỳ này / No administrative-procedure "
                     "figures were reported for this period")
    n = "int"
    return Table("procedures", "Thủ tục hành chính", "Hồ sơ thủ tục hành chính (như báo cáo)",
                 "Administrative-procedure dossiers (as reported)",
                 [COMMUNE_CODE, COMMUNE_NAME, Column("agency", "Cơ quan", "Agency", terms=vocab.SERVICE_AGENCIES),
                  Column("period_start", "Từ ngày", "From", "date"), Column("period_end", "Đến ngày", "To", "date"),
                  Column("received", "Tiếp nhận", "Received", n), Column("online", "Trực tuyến", "Online", n),
                  Column("in_person", "Trực tiếp", "In person", n), Column("early", "Trước hạn", "Early", n),
                  Column("on_time", "Đúng hạn", "On time", n),
                  Column("on_time_or_early", "Đúng và trước hạn", "On time or early", n),
                  Column("overdue", "Quá hạn", "Overdue", n),
                  Column("in_progress", "Đang giải quyết", "In progress", n),
                  Column("source", "Nguồn", "Source")], rows, notes)


def _details(conn: psycopg.Connection, q: dict[str, Any]) -> tuple[Table, list[str]]:
    found = conn.execute(DETAILS_SQL, {**q, "min_rank": vocab.codes(vocab.INCIDENT_SEVERITIES).index(SERIOUS) + 1}
                         ).fetchall()
    table = Table("serious_incidents", "Vụ nghiêm trọng", "Vụ việc nghiêm trọng trở lên (thông tin cá nhân)",
                  "Serious incidents or worse (personal details)",
                  [Column("number", "Số", "Number", "int"), Column("occurred_at", "Thời điểm", "Occurred at",
                                                                   "datetime"),
                   COMMUNE_CODE, COMMUNE_NAME, CATEGORY, SEVERITY,
                   Column("status", "Trạng thái", "Status", terms=vocab.INCIDENT_STATUSES),
                   Column("description", "Mô tả", "Description"), Column("reporter", "Người báo", "Reporter")],
                  [list(r[1:]) for r in found],
                  ["Có thông tin cá nhân: việc đọc được ghi nhật ký / Holds personal details: this read is audited"])
    return table, [r[0] for r in found]


AGES = {"lt_24h": ("Dưới 24 giờ", "Under 24 h"), "d1_3": ("1–3 ngày", "1–3 days"),
        "d3_7": ("3–7 ngày", "3–7 days"), "gt_7d": ("Trên 7 ngày", "Over 7 days")}


def _situation(conn: psycopg.Connection, caller: Caller | None, scope: Scope, period: Period,
               now: datetime) -> Table:
    """The situation panel's figures (data/ops/situation.py, the one source of them) at the period's end:
    open incidents by status and by age, patrol points overdue by commune."""
    from data.ops.situation import situation

    at = min(period.end, now)
    who = caller or Caller(None, "cli", "admin")
    doc = situation(conn, who, at=at, communes=[scope.commune] if scope.commune != "all" else None)
    status_vi = {t.code: t.vi for t in vocab.INCIDENT_STATUSES}
    status_en = {t.code: t.en for t in vocab.INCIDENT_STATUSES}
    rows: list[list[Any]] = []
    for code in vocab.codes(vocab.INCIDENT_STATUSES):
        if code in doc["open"]["by_status"]:
            rows.append(["Vụ việc chưa kết thúc theo trạng thái / Open incidents by status", code,
                         f"{status_vi[code]} / {status_en[code]}", doc["open"]["by_status"][code], None])
    for code, (vi, en) in AGES.items():
        rows.append(["Vụ việc chưa kết thúc theo thời gian tồn đọng / Open incidents by age", code, f"{vi} / {en}",
                     doc["open"]["by_age"].get(code, 0), None])
    rows.append(["Vụ việc chưa kết thúc / Open incidents", "total", "Tổng / Total", doc["open"]["total"], None])
    for c in doc["patrols"]["by_commune"]:
        rows.append(["Điểm tuần tra quá hạn theo xã / Overdue patrol points by commune", c["commune"],
                     c["commune_name"], c["overdue"], c["points"]])
    return Table("situation", "Tình hình cuối kỳ", f"Tình hình lúc {at.astimezone(TZ):%d/%m/%Y %H:%M}",
                 f"The situation at {at.astimezone(TZ):%Y-%m-%d %H:%M}",
                 [Column("section", "Mục", "Section"), Column("key", "Mã", "Code"), Column("item", "Nội dung", "Item"),
                  Column("count", "Số lượng", "Count", "int"), Column("of_points", "Trên tổng số điểm",
                                                                    "Of patrol points", "int")], rows,
                 ["Như bảng tình hình trên bản đồ (data/ops/situation.py) tại cuối kỳ; trạng thái vụ việc là trạng "
                  "thái hiện nay / As the map's situation panel (data/ops/situation.py) at the period's end; the "
                  "incidents' statuses are today's"])


def build(conn: psycopg.Connection, caller: Caller | None, period: Period, commune: str | None = "all", *,
          clearance_days: int = 7, with_details: bool = False, actor: tuple[int | None, str] | None = None,
          remote_addr: str | None = None, now: datetime | None = None) -> Report:
    """Every table of the report. ``caller`` None is the local CLI (province-wide, and it may read details);
    ``actor`` (user id, name) is who the audit row of a details read names (the caller's by default)."""
    check_clearance_days(clearance_days)
    if with_details and caller is not None and not may(caller, "personal.read"):
        raise forbidden("the serious-incident details hold personal details: your role may not read them")
    scope = resolve_scope(conn, caller, commune)
    now = now or datetime.now(TZ)
    before = period.year_before()
    q = {**scope.params(), "start": period.start, "end": period.end, "pstart": before.start, "pend": before.end,
         "days": clearance_days, "first_day": period.first_day, "last_day": period.last_day}
    tables = [_incidents(conn, q), _year_on_year(conn, q, before), _clearance(conn, q, clearance_days),
              _responses(conn, q, period), _patrols(conn, q, period, now), _procedures(conn, q),
              _situation(conn, caller, scope, period, now)]
    incidents_generated, roads_generated = conn.execute(GENERATED_SQL, q).fetchone()
    generated = bool(incidents_generated or roads_generated)
    notes = [GENERATED_NOTE] if generated else []
    if with_details:
        table, ids = _details(conn, q)
        tables.append(table)
        who = actor or ((caller.user_id, caller.username) if caller is not None else (None, "cli"))
        body = {"count": len(ids), "ids": ids[:audit.MAX_IDS], "period": period.label, "commune": scope.commune}
        conn.execute(audit.INSERT_SQL, (who[0], who[1], "report.read_personal",
                                        f"report:{period.label}:{scope.commune}", remote_addr, json.dumps(body)))
    return Report(period, scope.commune, scope.label, clearance_days, tables, notes, generated, now)


# -------------------------------------------------------------------------------------------- the workbook
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHART_COMMUNES = 15  # the chart shows the communes with the most incidents; the sheet "Vụ việc" has them all


def _cell_value(col: Column, value: Any, lang: str = "vi") -> Any:
    if value is None:
        return None
    if col.terms is not None:
        for t in col.terms:
            if t.code == value:
                return t.vi if lang == "vi" else t.en
        return value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(TZ).replace(tzinfo=None)  # a spreadsheet has no time zones: local time
    return value


NUMBER_FORMATS = {"int": "#,##0", "float": "0.0", "pct": "0.0", "date": "dd/mm/yyyy", "datetime": "dd/mm/yyyy hh:mm"}


def _info_rows(report: Report) -> list[tuple[str, str, Any]]:
    p = report.period
    rows: list[tuple[str, str, Any]] = [
        ("Báo cáo", "Report", "Báo cáo định kỳ / Period report (sitmap)"),
        ("Kỳ báo cáo", "Period", f"{p.label}: {p.first_day:%d/%m/%Y} – {p.last_day:%d/%m/%Y} ({TZ_NAME})"),
        ("Phạm vi", "Scope", report.scope_label),
        ("Cùng kỳ năm trước", "The same period a year before", p.year_before().label),
        ("Số ngày kết thúc", "Clearance days", report.clearance_days),
        ("Lập lúc", "Made at", report.created_at.astimezone(TZ).replace(tzinfo=None, microsecond=0)),
    ]
    rows += [("Ghi chú", "Note", n) for n in report.notes]
    for t in report.tables:
        rows += [(t.sheet, t.title_en, n) for n in t.notes]
    return rows


def _sheet(book: Any, name: str, headings: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]],
           formats: Sequence[str | None]) -> Any:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = book.create_sheet(name)
    ws.append([h[0] for h in headings])
    ws.append([h[1] for h in headings])
    fill = PatternFill("solid", fgColor="DDE6F0")
    for c in ws[1]:
        c.font, c.fill = Font(bold=True), fill
    for c in ws[2]:
        c.font, c.fill = Font(italic=True, color="555555"), fill
    for row in rows:
        ws.append(list(row))
    widths = [max(len(str(h[0])), len(str(h[1]))) for h in headings]
    for r in ws.iter_rows(min_row=3):
        for i, c in enumerate(r):
            if formats[i] and c.value is not None:
                c.number_format = formats[i]
            widths[i] = max(widths[i], len(str(c.value)) if c.value is not None else 0)
    for i, w in enumerate(widths):
        ws.column_dimensions[get_column_letter(i + 1)].width = min(max(w + 2, 8), 60)
    ws.freeze_panes = "A3"  # both heading rows stay in view
    return ws


def _chart(book: Any, report: Report) -> None:
    from openpyxl.chart import BarChart, Reference, Series

    per: dict[tuple[str, str], dict[str, int]] = {}
    for code, name, cat, _sev, n in report.table("incidents").rows:
        per.setdefault((code, name), {}).setdefault(cat, 0)
        per[(code, name)][cat] += n
    cats = [t for t in vocab.INCIDENT_CATEGORIES if any(t.code in v for v in per.values())]
    top = sorted(per, key=lambda k: (-sum(per[k].values()), k[0]))[:CHART_COMMUNES]
    headings = [("Xã, phường", "Commune")] + [(t.vi, t.en) for t in cats]
    rows = [[name, *[per[(code, name)].get(t.code, 0) for t in cats]] for code, name in top]
    ws = _sheet(book, "Biểu đồ", headings, rows, [None] + ["#,##0"] * len(cats))
    if not rows or not cats:
        ws.cell(row=3, column=1, value="Không có vụ việc trong kỳ / No incidents in the period")
        return
    chart = BarChart()
    chart.type, chart.grouping, chart.overlap = "col", "stacked", 100
    chart.title = (f"Vụ việc theo loại, theo xã ({report.period.label}) / Incidents by category per commune"
                   + (" — dữ liệu tạo ra / generated data" if report.generated else ""))
    chart.y_axis.title, chart.x_axis.title = "Số vụ / Incidents", "Xã / Commune"
    # Row 2 holds the English headings, so each series is its column from row 3, titled in both languages.
    for i, t in enumerate(cats):
        values = Reference(ws, min_col=i + 2, min_row=3, max_row=len(rows) + 2)
        chart.series.append(Series(values, title=f"{t.vi} / {t.en}"))
    chart.set_categories(Reference(ws, min_col=1, min_row=3, max_row=len(rows) + 2))
    chart.height, chart.width = 12, 26
    ws.add_chart(chart, f"{chr(ord('A') + len(cats) + 2)}3" if len(cats) < 22 else "A20")


def write_xlsx(report: Report, target: str | Path | IO[bytes]) -> None:
    """The workbook: an information sheet, one sheet per table, and the chart sheet."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    info = _info_rows(report)
    _sheet(book, "Thông tin", [("Mục", "Item"), ("Mục (tiếng Anh)", "Item (English)"), ("Nội dung", "Value")],
           info, [None, None, None])
    for t in report.tables:
        ws = _sheet(book, t.sheet, [(c.vi, c.en) for c in t.columns],
                    [[_cell_value(c, v) for c, v in zip(t.columns, row, strict=True)] for row in t.rows],
                    [NUMBER_FORMATS.get(c.kind) for c in t.columns])
        ws.sheet_properties.tabColor = "1F4E79"
    _chart(book, report)
    book.properties.title = f"sitmap {report.period.label} {report.commune}"
    book.save(target)


# ---------------------------------------------------------------------------------------------------- CSV
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
ZIP_MEDIA_TYPE = "application/zip"


def table_keys(report: Report) -> list[str]:
    return [t.key for t in report.tables]


def _csv_text(table: Table) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([c.key for c in table.columns])
    for row in table.rows:
        w.writerow(["" if v is None else _csv_value(v) for v in row])
    return out.getvalue()


def _csv_value(v: Any) -> Any:
    if isinstance(v, datetime):
        return (v.astimezone(TZ) if v.tzinfo else v).isoformat()
    return v


def write_csv(report: Report, target: str | Path | IO[bytes], table: str | None = None) -> str:
    """``table`` given: that table as one CSV (UTF-8 with a byte-order mark, which spreadsheets need to read
    Vietnamese; codes and English column keys). Otherwise a zip of every table's CSV and notes.txt. Returns
    the media type written."""
    if table is not None:
        if table not in table_keys(report):
            raise ReportInputError("table", f"{table[:40]!r} is not one of {', '.join(table_keys(report))}")
        data, media = ("\ufeff" + _csv_text(report.table(table))).encode("utf-8"), CSV_MEDIA_TYPE
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for t in report.tables:
                z.writestr(f"{t.key}.csv", "\ufeff" + _csv_text(t))
            z.writestr("notes.txt", "\n".join(f"{a} / {b}: {v}" for a, b, v in _info_rows(report)) + "\n")
        data, media = buf.getvalue(), ZIP_MEDIA_TYPE
    if isinstance(target, (str, Path)):
        Path(target).write_bytes(data)
    else:
        target.write(data)
    return media
