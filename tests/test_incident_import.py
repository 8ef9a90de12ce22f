"""Importing past incidents from CSV and .xlsx: vocabulary labels, Vietnamese dates, the era of the commune
code, all or nothing, idempotence, against the two-commune world of tests/opsworld.py plus one commune of the
era before 2025 covering commune A's ground."""

from __future__ import annotations

import csv
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import psycopg
import pytest

from data import vocab
from data.importers import ImportRejected, run_import
from data.importers.report import rejects_path
from tests.opsworld import IN_A, IN_B, UNIT_A

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
HEADER = ["Số vụ", "Loại vụ việc", "Mức độ", "Thời gian", "kinh_do", "vi_do", "Mô tả", "Người báo", "Mã xã"]


@pytest.fixture
def db(world) -> str:
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("INSERT INTO admin_unit (era, code, name, name_ascii, kind, geom) VALUES ('pre2025', 'P001', "
                     "'Xã Cũ', 'xa cu', 'commune', ST_GeomFromText(%s, 4326))", [UNIT_A])
    return world.url


def label(terms: tuple[vocab.Term, ...], code: str, lang: str) -> str:
    t = next(t for t in terms if t.code == code)
    return getattr(t, lang)


def cases() -> list[list[str]]:
    """Four past cases: categories and severities given as code, Vietnamese label and English label."""
    return [
        ["HS-1", label(vocab.INCIDENT_CATEGORIES, "drugs", "vi"), "serious", "25/12/2023 14:30",
         str(IN_A[0]), str(IN_A[1]), "Tàng trữ trái phép", "Nguyễn Văn A", "P001"],
        ["HS-2", "theft", label(vocab.INCIDENT_SEVERITIES, "administrative", "en"), "2026-01-05T08:00:00+07:00",
         str(IN_B[0]), str(IN_B[1]), "", "", "T002"],
        ["HS-3", "Theft", label(vocab.INCIDENT_SEVERITIES, "less_serious", "vi"), "03/02/2024",
         str(IN_B[0]), str(IN_B[1]), "", "", ""],
        ["HS-4", "drugs", "serious", "2025-08-01 09:15", str(IN_A[0]), str(IN_A[1]), "", "", "T001"],
    ]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for r in rows:
        # A spreadsheet holds times as dates and coordinates as numbers, not as text.
        when = datetime.strptime(r[3], "%d/%m/%Y %H:%M") if "/" in r[3] and ":" in r[3] else r[3]
        sheet.append([r[0], r[1], r[2], when, float(r[4]), float(r[5]), *r[6:]])
    book.save(path)
    return path


def stored(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT i.category, i.severity, i.source, i.status, i.occurred_at, u.code, i.description, "
            "i.reporter_name FROM incident i LEFT JOIN admin_unit u ON u.id = i.unit_id "
            "ORDER BY i.occurred_at").fetchall()


def expected_rows() -> list[tuple]:
    def at(text: str) -> datetime:
        for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=HCM)
            except ValueError:
                pass
        return datetime.fromisoformat(text)
    codes = {"HS-1": ("drugs", "serious"), "HS-2": ("theft", "administrative"), "HS-3": ("theft", "less_serious"),
             "HS-4": ("drugs", "serious")}
    # The incidents are filed under the commune of 2025 holding the point (the insert trigger), whatever the era.
    unit = {"HS-1": "T001", "HS-2": "T002", "HS-3": "T002", "HS-4": "T001"}
    out = [(*codes[r[0]], "import", "closed", at(r[3]), unit[r[0]], r[6] or None, r[7] or None) for r in cases()]
    return sorted(out, key=lambda r: r[4])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_past_cases_import_and_reimport_is_a_no_op(db: str, fmt: str, tmp_path: Path) -> None:
    path = (write_csv if fmt == "csv" else write_xlsx)(tmp_path / f"vu_viec.{fmt}", cases())
    report = run_import(db, "incidents", path)
    assert report.inserted["incident"] == 4
    assert stored(db) == expected_rows()
    with psycopg.connect(db) as conn:
        history = conn.execute("SELECT count(*) FROM incident_history h JOIN incident i ON i.id = h.incident_id "
                               "WHERE i.source = 'import'").fetchone()[0]
    assert history == 4
    again = run_import(db, "incidents", path)
    assert again.inserted["incident"] == 0 and any("already imported" in n for n in again.notes)
    assert len(stored(db)) == 4


def test_era_future_and_outside_are_rejected_and_nothing_written(db: str, tmp_path: Path) -> None:
    rows = cases()
    rows[0][8] = "T001"  # a 2025 code for a case of 2023: the commune then was P001
    rows[1][8] = "T001"  # the wrong commune of the right era: the point is in T002
    rows[2][3] = "01/01/2099 10:00"  # the future
    rows[3][4], rows[3][5] = "105.8", "21.0"  # Hà Nội: outside the province
    path = write_csv(tmp_path / "sai.csv", rows)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "incidents", path)
    found = {(r.row, r.field): r.reason for r in exc.value.rejections}
    assert set(found) == {(1, "Mã xã"), (2, "Mã xã"), (3, "Thời gian"), (4, "kinh_do/vi_do")}
    assert "P001 (era pre2025)" in found[(1, "Mã xã")] and "era 2025" in found[(1, "Mã xã")]
    assert "T002 (era 2025)" in found[(2, "Mã xã")]
    assert "future" in found[(3, "Thời gian")] and "outside" in found[(4, "kinh_do/vi_do")]
    assert stored(db) == []
    report_file = exc.value.import_report.write_rejects_csv(rejects_path(path))
    with open(report_file, encoding="utf-8-sig", newline="") as f:
        listed = [(r["row"], r["field"], r["value"]) for r in csv.DictReader(f)]
    assert listed == [("1", "Mã xã", "T001"), ("2", "Mã xã", "T001"), ("3", "Thời gian", "01/01/2099 10:00"),
                      ("4", "kinh_do/vi_do", "")]


def test_dry_run_and_ids_are_stable(db: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "vu.csv", cases())
    dry = run_import(db, "incidents", path, dry_run=True)
    assert dry.inserted["incident"] == 4 and stored(db) == []
    run_import(db, "incidents", path)
    from data.importers.incidents import NAMESPACE

    with psycopg.connect(db) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM incident")}
    assert ids == {uuid.uuid5(NAMESPACE, f"case:HS-{n}") for n in range(1, 5)}
    changed = cases()
    changed[0][6] = "Mô tả khác"
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "incidents", write_csv(tmp_path / "khac.csv", changed))
    assert [(r.row, r.field) for r in exc.value.rejections] == [(1, "row")]
