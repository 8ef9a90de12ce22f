"""Period reports (data/ops/reports.py, `sitmap report`, GET /reports) on the two-commune world of
tests/opsworld.py with incidents of 2025-Q3 and of 2024-Q3, their closings, stored response times, patrol
visits and reported procedure figures: the workbook written by the CLI and by the API is re-read with openpyxl
(the sheets, frozen headings, numeric cells, the chart) and its figures compared with independent SQL and
Python; bad inputs are 422 / exit status 2; a commune commander gets only their commune, an officer 403; the
serious-incident details are audited."""

from __future__ import annotations

import csv
import io
import os
import random
import subprocess
import sys
import uuid
import zipfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import openpyxl
import psycopg
import pytest

from data import vocab
from data.ops import reports
from tests.opsworld import IN_A, IN_B

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
Q3 = (datetime(2025, 7, 1, tzinfo=HCM), datetime(2025, 10, 1, tzinfo=HCM))
Q3_BEFORE = (datetime(2024, 7, 1, tzinfo=HCM), datetime(2024, 10, 1, tzinfo=HCM))
TABLE_SHEETS = ["Vụ việc", "So sánh cùng kỳ", "Giải quyết", "Thời gian phản ứng", "Tuần tra", "Thủ tục hành chính",
                "Tình hình cuối kỳ"]
LABEL = {t.code: t.vi for t in (*vocab.INCIDENT_CATEGORIES, *vocab.INCIDENT_SEVERITIES)}


def sitmap(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, timeout=300)


def _incident(conn: psycopg.Connection, rnd: random.Random, start: datetime, end: datetime,
              where: tuple[float, float]) -> tuple[uuid.UUID, datetime]:
    iid = uuid.uuid4()
    at = start + timedelta(seconds=rnd.randrange(int((end - start).total_seconds())))
    cat = rnd.choice(["drugs", "theft", "traffic"])
    sev = rnd.choice(["administrative", "less_serious", "serious", "very_serious"])
    conn.execute("INSERT INTO incident (id, category, severity, occurred_at, status, description, reporter_name, "
                 "geom) VALUES (%s, %s, %s, %s, 'new', %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
                 (iid, cat, sev, at, f"mô tả {iid.hex[:6]}", "Nguyễn Văn B", where[0] + rnd.uniform(-0.05, 0.05),
                  where[1] + rnd.uniform(-0.05, 0.05)))
    return iid, at


@pytest.fixture
def db(world) -> str:
    """Incidents in 2025-Q3 (30 in A, 20 in B) and 2024-Q3 (15 in A, 10 in B), a third of them closed after
    some days, a response-times run over the 2025 ones, visits at A's point and two procedure reports."""
    rnd = random.Random(16)
    with psycopg.connect(world.url, autocommit=True) as conn:
        run = conn.execute("INSERT INTO travel_run (analysis, params, roads_generated, note) VALUES ('responses', "
                           "'{\"since\": \"2025-01-01T00:00:00+07:00\", \"until\": \"2026-01-01T00:00:00+07:00\"}', "
                           "true, 'roads generated') RETURNING id").fetchone()[0]
        for (start, end), n_a, n_b in ((Q3, 30, 20), (Q3_BEFORE, 15, 10)):
            for where, n in ((IN_A, n_a), (IN_B, n_b)):
                for k in range(n):
                    iid, at = _incident(conn, rnd, start, end, where)
                    if k % 3 == 0:
                        conn.execute("UPDATE incident SET status = 'closed' WHERE id = %s", (iid,))
                        conn.execute("INSERT INTO incident_history (incident_id, at, version, from_status, to_status) "
                                     "VALUES (%s, %s, 2, 'new', 'closed')", (iid, at + timedelta(days=k % 12)))
                    if start == Q3[0] and k % 5 != 4:
                        conn.execute("INSERT INTO travel_response (run_id, incident_id, unit_id, occurred_at, "
                                     "response_min, geom) SELECT %s, id, unit_id, occurred_at, %s, geom FROM incident "
                                     "WHERE id = %s", (run, None if k == 1 else round(rnd.uniform(3, 60), 2), iid))
        for day in range(0, 92, 2):  # every other day at A's point; one refused visit that must not count
            conn.execute("INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted) VALUES (%s, %s, true)",
                         (world.point_a, Q3[0] + timedelta(days=day, hours=9)))
        conn.execute("INSERT INTO patrol_visit (patrol_point_id, visited_at, accepted) VALUES (%s, %s, false)",
                     (world.point_a, Q3[0] + timedelta(days=3)))
        conn.execute("INSERT INTO service_stat (unit_id, agency, period_start, period_end, received, online, "
                     "on_time, overdue) VALUES (%s, 'peoples_committee', '2025-07-01', '2025-09-30', 120, 80, 100, 3),"
                     " (%s, 'police', '2024-07-01', '2024-09-30', 50, 10, 40, 1)", (world.unit_a, world.unit_a))
    return world.url


def sql_counts(url: str, start: datetime, end: datetime, code: str | None = None) -> Counter:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT u.code, i.category, i.severity FROM incident i JOIN admin_unit u ON "
                            "u.id = i.unit_id WHERE i.occurred_at >= %s AND i.occurred_at < %s "
                            "AND (%s::text IS NULL OR u.code = %s)", (start, end, code, code)).fetchall()
    return Counter((r[0], LABEL[r[1]], LABEL[r[2]]) for r in rows)


def data_rows(ws) -> list[tuple]:
    return [r for r in ws.iter_rows(min_row=3, values_only=True) if any(v is not None for v in r)]


def check_workbook(path_or_bytes, url: str, code: str | None = None) -> openpyxl.Workbook:
    book = openpyxl.load_workbook(io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes)
    assert book.sheetnames == ["Thông tin", *TABLE_SHEETS, "Biểu đồ"]
    for name in book.sheetnames:
        assert book[name].freeze_panes == "A3", name
    inc = book["Vụ việc"]
    assert [c.value for c in inc[1]] == ["Mã xã", "Xã, phường", "Loại vụ việc", "Mức độ", "Số vụ"]
    assert [c.value for c in inc[2]] == ["Commune code", "Commune", "Category", "Severity", "Incidents"]
    assert all(c.data_type == "n" and isinstance(c.value, int) for c in inc["E"][2:])
    got = Counter({(r[0], r[2], r[3]): r[4] for r in data_rows(inc)})
    assert got == sql_counts(url, *Q3, code) and sum(got.values()) > 0
    yoy = book["So sánh cùng kỳ"]
    now, before = sql_counts(url, *Q3, code), sql_counts(url, *Q3_BEFORE, code)
    for r in data_rows(yoy):
        key = (r[0], r[2], r[3])
        assert (r[4], r[5], r[6]) == (now[key], before[key], now[key] - before[key]), r
        assert r[7] == (round(100 * (now[key] - before[key]) / before[key], 1) if before[key] else None), r
    assert {(r[0], r[2], r[3]) for r in data_rows(yoy)} == {k for k, v in (now + before).items() if v}
    chart = book["Biểu đồ"]
    assert len(chart._charts) == 1 and chart._charts[0].series
    info = " ".join(str(c.value) for row in book["Thông tin"].iter_rows() for c in row if c.value)
    assert "2025-Q3" in info and "2024-Q3" in info
    return book


def test_period_parser_months_quarters_years_and_refusals() -> None:
    p = reports.parse_period("2025-Q3")
    assert (p.start, p.end, p.kind) == (*Q3, "quarter")
    assert p.year_before().label == "2024-Q3" and p.year_before().start == Q3_BEFORE[0]
    m = reports.parse_period("2025-12")
    assert (m.start, m.end) == (datetime(2025, 12, 1, tzinfo=HCM), datetime(2026, 1, 1, tzinfo=HCM))
    y = reports.parse_period(" 2024 ")
    assert (y.start, y.end, y.last_day.isoformat()) == (datetime(2024, 1, 1, tzinfo=HCM),
                                                        datetime(2025, 1, 1, tzinfo=HCM), "2024-12-31")
    for bad in ("2025-13", "2025-Q5", "2025-9", "Q3-2025", "1899", "", "2025-09-01", "x"):
        with pytest.raises(reports.ReportInputError) as exc:
            reports.parse_period(bad)
        assert exc.value.status == 422 and exc.value.parameter == "period"


def test_cli_workbook_matches_sql(db: str, tmp_path: Path) -> None:
    out = tmp_path / "q3.xlsx"
    run = sitmap(db, "report", "--period", "2025-Q3", "--commune", "all", "--format", "xlsx", "--output", str(out))
    assert run.returncode == 0, run.stderr
    book = check_workbook(out, db)
    # Clearance per category, computed here from the rows.
    with psycopg.connect(db) as conn:
        inc = conn.execute("SELECT i.category, i.occurred_at, (SELECT min(at) FROM incident_history h WHERE "
                           "h.incident_id = i.id AND h.to_status = 'closed') FROM incident i WHERE i.occurred_at "
                           ">= %s AND i.occurred_at < %s", Q3).fetchall()
        resp = conn.execute("SELECT u.code, r.response_min FROM travel_response r JOIN admin_unit u ON "
                            "u.id = r.unit_id").fetchall()
    clear = {r[0]: r[1:] for r in data_rows(book["Giải quyết"])}
    for cat in {r[0] for r in inc}:
        mine = [r for r in inc if r[0] == cat]
        within = sum(1 for r in mine if r[2] is not None and r[2] <= r[1] + timedelta(days=7))
        assert clear[LABEL[cat]] == (len(mine), sum(1 for r in mine if r[2]), within,
                                     round(100 * within / len(mine), 1))
    # Response times: numpy's linear percentile is percentile_cont.
    for row in data_rows(book["Thời gian phản ứng"]):
        mins = [m for c, m in resp if c == row[0] and m is not None]
        assert row[2:6] == (len([1 for c, _ in resp if c == row[0]]), len(mins),
                            round(float(np.percentile(mins, 50)), 1), round(float(np.percentile(mins, 90)), 1))
        assert "generated" in row[6]
    # Patrols: A's point every 24 h over 92 days, visited every other day (the refused visit not counted).
    patrols = {r[0]: r[2:] for r in data_rows(book["Tuần tra"])}
    assert patrols["T001"] == (1, 46, 92, 50.0) and patrols["T002"] == (1, 0, 92, 0.0)
    proc = data_rows(book["Thủ tục hành chính"])
    assert len(proc) == 1 and proc[0][0] == "T001" and proc[0][5:9] == (120, 80, None, None)
    assert isinstance(proc[0][5], int)
    # The situation panel's figures at the period's end: open incidents (today's statuses) and overdue points.
    with psycopg.connect(db) as conn:
        still_open = conn.execute("SELECT count(*) FROM incident WHERE status <> 'closed' AND occurred_at <= %s",
                                  (Q3[1],)).fetchone()[0]
    situation = {(r[0].split(" / ")[1], r[1]): r[3:] for r in data_rows(book["Tình hình cuối kỳ"])}
    assert situation[("Open incidents", "total")] == (still_open, None) and still_open > 0
    assert situation[("Open incidents by status", "new")] == (still_open, None)
    assert sum(v[0] for k, v in situation.items() if k[0] == "Open incidents by age") == still_open
    assert situation[("Overdue patrol points by commune", "T001")] == (1, 1)
    assert situation[("Overdue patrol points by commune", "T002")] == (1, 1)
    assert "Vụ nghiêm trọng" not in book.sheetnames


@pytest.mark.parametrize("args, parameter", [
    (["--period", "2025-Q5"], "period"), (["--period", "2025-13"], "period"),
    (["--period", "2025-Q3", "--commune", "X999"], "commune"), (["--period", "2025", "--format", "pdf"], "format"),
    (["--period", "2025", "--table", "incidents"], "table"), (["--period", "2025", "--clearance-days", "0"],
                                                              "clearance_days")])
def test_cli_bad_inputs_exit_2(db: str, tmp_path: Path, args: list[str], parameter: str) -> None:
    out = tmp_path / "bad.xlsx"
    run = sitmap(db, "report", *args, "--output", str(out))
    assert run.returncode == 2 and parameter in run.stderr and not out.exists(), (run.returncode, run.stderr)


def test_api_workbook_scope_and_refusals(db: str, world, make_client) -> None:
    client = make_client(db)
    r = client.get("/reports", params={"period": "2025-Q3", "commune": "all", "format": "xlsx"},
                   headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == reports.XLSX_MEDIA_TYPE
    assert r.headers["content-disposition"] == 'attachment; filename="sitmap-report-2025-Q3-all.xlsx"'
    check_workbook(r.content, db)
    # A commune commander: "all" is their commune only; another commune is 403.
    r = client.get("/reports", params={"period": "2025-Q3"}, headers=world.headers("commander_a"))
    assert r.status_code == 200, r.text
    book = check_workbook(r.content, db, "T001")
    assert {row[0] for s in TABLE_SHEETS[:2] + ["Tuần tra"] for row in data_rows(book[s])} == {"T001"}
    r = client.get("/reports", params={"period": "2025-Q3", "commune": "T002"}, headers=world.headers("commander_a"))
    assert r.status_code == 403 and "outside your communes" in r.json()["detail"]
    r = client.get("/reports", params={"period": "2025-Q3", "commune": "T002"}, headers=world.headers("commander"))
    assert r.status_code == 200
    check_workbook(r.content, db, "T002")
    for who in ("officer_a", "planner"):
        r = client.get("/reports", params={"period": "2025-Q3"}, headers=world.headers(who))
        assert r.status_code == 403 and r.json()["type"].endswith("forbidden-role"), r.text
    assert client.get("/reports", params={"period": "2025-Q3"}).status_code == 401
    admin = world.headers("admin")
    for params, parameter in (({"period": "2025-Q7"}, "period"), ({}, "period"),
                              ({"period": "2025", "commune": "NOPE"}, "commune"),
                              ({"period": "2025", "format": "docx"}, "format"),
                              ({"period": "2025", "table": "incidents"}, "table"),
                              ({"period": "2025", "format": "csv", "table": "nope"}, "table"),
                              ({"period": "2025", "clearance_days": "400"}, "clearance_days")):
        r = client.get("/reports", params=params, headers=admin)
        assert r.status_code == 422 and r.json()["parameter"] == parameter, (params, r.status_code, r.text)


def test_api_csv_zip_and_one_table(db: str, world, make_client) -> None:
    client = make_client(db)
    admin = world.headers("admin")
    r = client.get("/reports", params={"period": "2025-Q3", "format": "csv"}, headers=admin)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].endswith('sitmap-report-2025-Q3-all.zip"')
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert set(z.namelist()) == {"incidents.csv", "year_on_year.csv", "clearance.csv", "responses.csv",
                                 "patrols.csv", "procedures.csv", "situation.csv", "notes.txt"}
    assert "generated" in z.read("notes.txt").decode()
    rows = list(csv.DictReader(io.StringIO(z.read("incidents.csv").decode("utf-8-sig"))))
    got = Counter({(r["commune_code"], LABEL[r["category"]], LABEL[r["severity"]]): int(r["incidents"])
                   for r in rows})
    assert got == sql_counts(db, *Q3)
    r = client.get("/reports", params={"period": "2025-Q3", "format": "csv", "table": "patrols"}, headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    patrols = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [(p["commune_code"], p["visits"], p["visits_due"]) for p in patrols] == [("T001", "46", "92"),
                                                                                 ("T002", "0", "92")]
    r = client.get("/reports/options", headers=world.headers("commander_a"))
    assert r.json()["allowed"] is True and [c["code"] for c in r.json()["communes"]] == ["T001"]
    r = client.get("/reports/options", headers=world.headers("officer_a"))
    assert r.status_code == 200 and r.json() == {**r.json(), "allowed": False, "communes": []}


def _audit_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT username, target, detail FROM audit_log WHERE action = 'report.read_personal' "
                            "ORDER BY id").fetchall()


def test_details_are_personal_and_audited(db: str, world, make_client, tmp_path: Path) -> None:
    client = make_client(db)
    r = client.get("/reports", params={"period": "2025-Q3"}, headers=world.headers("admin"))
    assert r.status_code == 200 and _audit_rows(db) == []
    r = client.get("/reports", params={"period": "2025-Q3", "commune": "T001", "details": "true"},
                   headers=world.headers("commander_a"))
    assert r.status_code == 200, r.text
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    rows = data_rows(book["Vụ nghiêm trọng"])
    with psycopg.connect(db) as conn:
        want = conn.execute("SELECT i.number, i.description FROM incident i JOIN admin_unit u ON u.id = i.unit_id "
                            "WHERE u.code = 'T001' AND i.severity IN ('serious', 'very_serious') AND i.occurred_at "
                            ">= %s AND i.occurred_at < %s ORDER BY i.occurred_at", Q3).fetchall()
    assert [(row[0], row[7]) for row in rows] == [tuple(w) for w in want] and want
    assert all(row[8] == "Nguyễn Văn B" and isinstance(row[1], datetime) for row in rows)
    audits = _audit_rows(db)
    assert len(audits) == 1 and audits[0][0] == "commander_a" and audits[0][1] == "report:2025-Q3:T001"
    assert audits[0][2]["count"] == len(want)
    run = sitmap(db, "report", "--period", "2025-Q3", "--with-details", "--output", str(tmp_path / "d.xlsx"))
    assert run.returncode == 0, run.stderr
    audits = _audit_rows(db)
    assert len(audits) == 2 and audits[1][0].startswith("cli:") and audits[1][1] == "report:2025-Q3:all"
    # Without details, a commune commander's workbook names no reporter.
    r = client.get("/reports", params={"period": "2025-Q3"}, headers=world.headers("commander_a"))
    text = " ".join(str(c.value) for ws in openpyxl.load_workbook(io.BytesIO(r.content)).worksheets
                    for row in ws.iter_rows() for c in row if c.value)
    assert "Nguyễn Văn B" not in text and "mô tả" not in text
