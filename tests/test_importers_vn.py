"""The official Vietnamese column names, --columns, --dry-run and the reject report, against a real PostGIS.

The official-style files are generated here from the reference boundaries with the column names of the
national administrative-unit files (MA_XA, TEN_XA, MA_HUYEN, MA_TINH, DAN_SO, DIEN_TICH)."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest

from data.importers import ImportRejected, run_import
from data.importers.columns import key
from tests.test_importers import GEOD, REF, ROOT, counts, query, rejected, write

CODES = ["03127", "03151", "03334"]


@pytest.fixture(scope="module")
def reference_units() -> gpd.GeoDataFrame:
    return gpd.read_file(REF / "communes-2025.geojson").set_index("code", drop=False)


@pytest.fixture
def province_db(empty_db: str) -> str:
    """A database holding only the province outline (code 11), loaded by the importer."""
    run_import(empty_db, "communes", REF / "province.geojson")
    return empty_db


def official(units: gpd.GeoDataFrame, codes: list[str] = CODES) -> gpd.GeoDataFrame:
    picked = units.loc[codes].reset_index(drop=True)
    return gpd.GeoDataFrame({
        "MA_XA": picked["code"], "TEN_XA": picked["name"], "MA_HUYEN": ["094"] * len(picked),
        "TEN_HUYEN": ["Thành phố Điện Biên Phủ"] * len(picked), "MA_TINH": ["11"] * len(picked),
        "TEN_TINH": ["Tỉnh Điện Biên"] * len(picked), "DAN_SO": [1000 * (i + 1) for i in range(len(picked))],
        "DIEN_TICH": [round(abs(GEOD.geometry_area_perimeter(g)[0]) / 1e6, 2) for g in picked.geometry],
    }, geometry=picked.geometry.values, crs=4326)


def units_of(db: str, codes: list[str]) -> list[tuple]:
    return query(db, "SELECT code, name, population, round(stated_area_km2::numeric, 2)::float FROM admin_unit "
                     "WHERE era = '2025' AND code = ANY(%s) ORDER BY code", [codes])


def table_checksum(db: str) -> tuple:
    return query(db, "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) "
                     "FROM admin_unit t")[0]


def test_key_folds_case_diacritics_and_separators() -> None:
    assert len({key(n) for n in ("ma_xa", "MA_XA", "Mã xã", "MaXa", "mã_xã", "MÃ XÃ")}) == 1
    assert key("Tên xã") == key("TEN_XA") != key("ma_xa")


@pytest.mark.parametrize("fmt", ["geojson", "shp.zip"])
def test_official_commune_file_is_recognised(province_db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    frame = official(reference_units)
    report = run_import(province_db, "communes", write(frame, fmt, tmp_path))
    assert report.inserted == {"admin_unit": len(CODES)}
    expected = sorted(zip(frame["MA_XA"], frame["TEN_XA"], frame["DAN_SO"], frame["DIEN_TICH"], strict=True))
    assert units_of(province_db, CODES) == expected
    assert report.columns["code"] == "MA_XA" and report.columns["population"] == "DAN_SO"
    # Each unit's parent is the province holding it (MA_HUYEN names a district, which 2025 does not have).
    parents = query(province_db, "SELECT DISTINCT p.code FROM admin_unit c JOIN admin_unit p ON p.id = c.parent_id "
                                 "WHERE c.code = ANY(%s)", [CODES])
    assert parents == [("11",)]


def test_vietnamese_headers_with_diacritics(province_db: str, tmp_path: Path, reference_units) -> None:
    frame = official(reference_units, CODES[:1]).rename(columns={"MA_XA": "Mã xã", "TEN_XA": "Tên xã",
                                                                 "DAN_SO": "Dân số"})
    run_import(province_db, "communes", write(frame, "geojson", tmp_path))
    assert units_of(province_db, CODES[:1]) == [(CODES[0], frame["Tên xã"][0], frame["Dân số"][0],
                                                 frame["DIEN_TICH"][0])]


def test_another_province_is_refused(province_db: str, tmp_path: Path, reference_units) -> None:
    frame = official(reference_units)
    frame.loc[1, "MA_TINH"] = "12"
    before = table_checksum(province_db)
    with pytest.raises(ImportRejected) as exc:
        run_import(province_db, "communes", write(frame, "geojson", tmp_path))
    reasons = rejected(exc)
    assert list(reasons) == [(2, "MA_TINH")] and "'12'" in reasons[(2, "MA_TINH")] and "11" in reasons[(2, "MA_TINH")]
    assert table_checksum(province_db) == before


def test_two_columns_for_one_field_is_an_error_naming_both(province_db: str, tmp_path: Path,
                                                           reference_units) -> None:
    frame = official(reference_units).assign(ma_dvhc=lambda f: f["MA_XA"])
    with pytest.raises(ImportRejected) as exc:
        run_import(province_db, "communes", write(frame, "geojson", tmp_path))
    reason = rejected(exc)[(None, "code")]
    assert "'MA_XA'" in reason and "'ma_dvhc'" in reason and "--columns code=" in reason
    # Choosing one with --columns settles it.
    run_import(province_db, "communes", write(frame, "geojson", tmp_path, "chosen"), column_map={"code": "ma_dvhc"})
    assert [r[0] for r in units_of(province_db, CODES)] == CODES


def test_columns_map_any_other_names(province_db: str, tmp_path: Path, reference_units) -> None:
    frame = official(reference_units).rename(columns={"MA_XA": "SO_HIEU", "TEN_XA": "TEN_GOI"})
    path = write(frame, "geojson", tmp_path)
    with pytest.raises(ImportRejected) as exc:
        run_import(province_db, "communes", path)
    assert (None, "code") in rejected(exc)
    run_import(province_db, "communes", path, column_map={"code": "SO_HIEU", "name": "TEN_GOI"})
    assert [(c, n) for c, n, *_ in units_of(province_db, CODES)] == sorted(zip(frame["SO_HIEU"], frame["TEN_GOI"],
                                                                               strict=True))


def test_columns_errors_list_the_valid_names(province_db: str, tmp_path: Path, reference_units) -> None:
    path = write(official(reference_units), "geojson", tmp_path)
    with pytest.raises(ImportRejected) as exc:
        run_import(province_db, "communes", path, column_map={"kode": "MA_XA", "name": "NO_SUCH"})
    reasons = rejected(exc)
    assert "valid fields: code, name" in reasons[(None, "kode")]
    assert "MA_XA" in reasons[(None, "name")] and "NO_SUCH" in reasons[(None, "name")]


def test_dry_run_reports_and_writes_nothing(province_db: str, tmp_path: Path, reference_units) -> None:
    path = write(official(reference_units), "geojson", tmp_path)
    before = table_checksum(province_db)
    dry = run_import(province_db, "communes", path, dry_run=True)
    assert table_checksum(province_db) == before
    assert dry.dry_run and "nothing was written" in dry.summary()
    real = run_import(province_db, "communes", path)
    assert dry.inserted == real.inserted == {"admin_unit": len(CODES)}
    assert table_checksum(province_db)[0] == before[0] + len(CODES)


def sitmap(db: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ROOT / ".venv" / "bin" / "sitmap", "import", *args], env={**os.environ, "DATABASE_URL": db},
                          capture_output=True, text=True, timeout=120)


def test_cli_dry_run_exit_status_and_reject_report(province_db: str, tmp_path: Path, reference_units) -> None:
    frame = official(reference_units)
    good = write(frame, "geojson", tmp_path, "good")
    before = table_checksum(province_db)
    ok = sitmap(province_db, "communes", str(good), "--dry-run")
    assert ok.returncode == 0, ok.stderr
    assert "dry run" in ok.stdout and f"admin_unit: {len(CODES)} inserted" in ok.stdout
    frame["DAN_SO"] = frame["DAN_SO"].astype(object)
    frame.loc[0, "DAN_SO"] = "nhiều"
    frame.loc[2, "MA_TINH"] = "12"
    bad = write(frame, "geojson", tmp_path, "bad")
    refused = sitmap(province_db, "communes", str(bad), "--dry-run", "--reject-report")
    assert refused.returncode == 2 and "DAN_SO" in refused.stderr
    assert table_checksum(province_db) == before
    with open(tmp_path / "bad.geojson.rejects.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["field"], r["value"]) for r in rows] == [("1", "DAN_SO", "nhiều"), ("3", "MA_TINH", "12")]
    assert all(r["reason"] for r in rows)
    wrong = sitmap(province_db, "communes", str(good), "--columns", "code")
    assert wrong.returncode == 2 and "field=COLUMN" in wrong.stderr
    assert counts(province_db)["admin_unit"] == before[0]


# --- over HTTP ------------------------------------------------------------------------------------------------

def stations_csv(tmp_path: Path, rows: list[tuple[str, str, float, float]]) -> bytes:
    path = tmp_path / "tram.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["MA_TRAM", "Tên trạm", "loai", "tru_so", "kinh_do", "vi_do"])
        for code, name, lon, lat in rows:
            w.writerow([code, name, "commune_police", "shared", lon, lat])
    return path.read_bytes()


def test_http_import_for_admins(world, make_client, tmp_path: Path) -> None:
    from tests.opsworld import IN_A, IN_B

    client = make_client(world.url)
    body = stations_csv(tmp_path, [("CA-X1", "Công an Xã Một", IN_A[0] + 0.01, IN_A[1]),
                                   ("CA-X2", "Công an Xã Hai", IN_B[0] + 0.01, IN_B[1])])
    url = "/imports/stations"
    files = {"file": ("Trạm 2026.csv", body, "text/csv")}
    stations = "SELECT code, name, unit_id FROM station WHERE code LIKE 'CA-X%%' ORDER BY code"

    refused = client.post(url, headers=world.headers("commander"), files=files)
    assert refused.status_code == 403
    dry = client.post(url, headers=world.headers("admin"), files=files, data={"dry_run": "true"})
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["inserted"]["station"] == 2
    assert query(world.url, stations) == []

    done = client.post(url, headers=world.headers("admin"), files=files)
    assert done.status_code == 200, done.text
    assert done.json()["file"] == "Trạm 2026.csv" and done.json()["columns"]["code"] == "MA_TRAM"
    assert query(world.url, stations) == [("CA-X1", "Công an Xã Một", world.unit_a),
                                          ("CA-X2", "Công an Xã Hai", world.unit_b)]
    audits = query(world.url, "SELECT username, detail->>'file', (detail->>'rows')::int FROM audit_log "
                              "WHERE action = 'data.import'")
    assert audits == [("admin", "Trạm 2026.csv", 2)]
    events = query(world.url, "SELECT layer, payload->'inserted'->>'station' FROM event WHERE kind = 'import'")
    assert events == [("stations", "2")]

    bad = stations_csv(tmp_path, [("CA-X3", "Công an ngoài tỉnh", 105.8, 21.0)])
    rejected_ = client.post(url, headers=world.headers("admin"), files={"file": ("xa.csv", bad, "text/csv")})
    assert rejected_.status_code == 422
    errors = rejected_.json()["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(1, "kinh_do/vi_do")] and "outside" in errors[0]["reason"]
    assert query(world.url, "SELECT count(*) FROM station WHERE code = 'CA-X3'") == [(0,)]
    unknown = client.post(url, headers=world.headers("admin"), files=files, data={"columns": "kode=MA_TRAM"})
    assert unknown.status_code == 422 and "valid fields" in unknown.text
