"""The importers against a real PostGIS: every format, VN-2000, repairs, and each kind of rejection.

Input files are generated here, into tmp_path, from the reference boundaries, so each is visibly what it
claims to be. The database gets the province outline and the 45 units of 2025 through the communes importer
itself (test_reference_units_load_and_reimport_as_updates) and, for the other tests, a template made once
the same way.
"""

from __future__ import annotations

import csv
import os
import subprocess
import unicodedata
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import psycopg
import pytest
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import LineString, Point, Polygon

from data.importers import ImportRejected, run_import
from geo.crs import VN2000_TOWGS84
from tests.conftest import clone_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "data" / "reference"
GEOD = Geod(ellps="WGS84")
FORMATS = ("geojson", "shp", "shp.zip", "gpkg", "csv", "csv-bom-semicolon")
TABLES = ("admin_unit", "settlement", "road_edge", "station", "station_status_history", "patrol_point")


# --- fixtures and helpers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_units() -> gpd.GeoDataFrame:
    return gpd.read_file(REF / "communes-2025.geojson").set_index("code", drop=False)


def load_reference(url: str) -> list:
    return [run_import(url, "communes", REF / "province.geojson"),
            run_import(url, "communes", REF / "communes-2025.geojson")]


@pytest.fixture(scope="module")
def units_template(cluster, schema_template) -> str:
    name = "importers_units_template"
    drop_database(cluster, name)
    url = clone_database(cluster, schema_template, name)
    load_reference(url)
    yield name
    drop_database(cluster, name)


@pytest.fixture
def db(cluster, units_template) -> str:
    """A private database holding the province and the 45 units of 2025 (loaded by the communes importer)."""
    url = clone_database(cluster, units_template)
    yield url
    drop_database(cluster, url.split("/")[-1].split("?")[0])


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def query(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def write(frame: gpd.GeoDataFrame, fmt: str, tmp_path: Path, stem: str = "data") -> Path:
    """Write ``frame`` as ``fmt``; CSV carries points as lon/lat and other geometries as WKT."""
    with warnings.catch_warnings():
        # Shapefiles cut long field names and some test files have no CRS on purpose.
        warnings.simplefilter("ignore")
        return _write(frame, fmt, tmp_path, stem)


def _write(frame: gpd.GeoDataFrame, fmt: str, tmp_path: Path, stem: str) -> Path:
    if fmt == "geojson":
        path = tmp_path / f"{stem}.geojson"
        frame.to_file(path, driver="GeoJSON")
    elif fmt in ("shp", "shp.zip"):
        folder = tmp_path / f"{stem}_shp"
        folder.mkdir()
        path = folder / f"{stem}.shp"
        frame.to_file(path, driver="ESRI Shapefile", encoding="UTF-8")
        if fmt == "shp.zip":
            zipped = tmp_path / f"{stem}.zip"
            with zipfile.ZipFile(zipped, "w") as zf:
                for part in folder.iterdir():
                    zf.write(part, part.name)
            path = zipped
    elif fmt == "gpkg":
        path = tmp_path / f"{stem}.gpkg"
        frame.to_file(path, driver="GPKG", layer=stem)
    else:
        semicolon = fmt == "csv-bom-semicolon"
        path = tmp_path / f"{stem}.csv"
        table = frame.drop(columns="geometry").astype(object).where(frame.notna(), "")
        if (frame.geom_type == "Point").all():
            # A Vietnamese spreadsheet: ';' between cells and a decimal comma.
            fmt_num = (lambda x: f"{x:.7f}".replace(".", ",")) if semicolon else (lambda x: f"{x:.7f}")
            table["lon"] = [fmt_num(p.x) for p in frame.geometry]
            table["lat"] = [fmt_num(p.y) for p in frame.geometry]
        else:
            table["wkt"] = [g.wkt for g in frame.geometry]
        with open(path, "w", encoding="utf-8-sig" if semicolon else "utf-8", newline="") as f:
            w = csv.writer(f, delimiter=";" if semicolon else ",")
            w.writerow(table.columns)
            w.writerows(table.itertuples(index=False))
    return path


def inside(units: gpd.GeoDataFrame, code: str, dx: float = 0.0, dy: float = 0.0) -> Point:
    p = units.loc[code].geometry.representative_point()
    return Point(p.x + dx, p.y + dy)


def rejected(exc: pytest.ExceptionInfo[ImportRejected]) -> dict[tuple[int | None, str | None], str]:
    return {(r.row, r.field): r.reason for r in exc.value.rejections}


def find(rejections: dict, row: int | None, text: str) -> tuple:
    hits = [(k, reason) for k, reason in rejections.items() if k[0] == row and text in reason]
    assert hits, f"no rejection of row {row} mentioning {text!r}: {rejections}"
    return hits[0]


# --- communes -------------------------------------------------------------------------------------------

def test_reference_units_load_and_reimport_as_updates(empty_db: str) -> None:
    before = query(empty_db, "SELECT sum(version) FROM data_version WHERE table_name = 'admin_unit'")[0][0]
    province, communes = load_reference(empty_db)
    assert province.inserted == {"admin_unit": 1} and communes.inserted == {"admin_unit": 45}
    rows = query(empty_db, "SELECT kind, count(*), count(parent_id), bool_and(ST_IsValid(geom)) FROM admin_unit "
                           "WHERE era = '2025' GROUP BY kind ORDER BY kind")
    by_kind = {k: (n, parents, valid) for k, n, parents, valid in rows}
    assert by_kind["province"] == (1, 0, True)
    assert by_kind["commune"][0] + by_kind["ward"][0] == 45
    # Every unit's parent is the province found by containment in the database, not a hard-coded one.
    assert by_kind["commune"][1] == by_kind["commune"][0] and by_kind["ward"][1] == by_kind["ward"][0]
    name, ascii_name, area = query(empty_db, "SELECT name, name_ascii, area_km2 FROM admin_unit "
                                             "WHERE code = '03127'")[0]
    assert name == "Phường Điện Biên Phủ" and ascii_name == "phuong dien bien phu"
    measured = query(empty_db, "SELECT ST_Area(geom::geography) / 1e6 FROM admin_unit WHERE code = '03127'")[0][0]
    assert area == pytest.approx(measured, rel=1e-3)
    assert query(empty_db, "SELECT sum(version) FROM data_version WHERE table_name = 'admin_unit'")[0][0] > before
    again = run_import(empty_db, "communes", REF / "communes-2025.geojson")
    assert again.inserted == {"admin_unit": 0} and again.updated == {"admin_unit": 45}
    assert counts(empty_db)["admin_unit"] == 46


def check_communes(db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    picked = reference_units.loc[["03127", "03151"], ["code", "name", "kind", "geometry"]].reset_index(drop=True)
    picked["name"] = picked["name"] + " (sửa)"
    picked["population"] = [49205, 18208]
    picked["area_km2"] = [round(GEOD.geometry_area_perimeter(g)[0] / 1e6, 2) for g in picked.geometry]
    report = run_import(db, "communes", write(picked, fmt, tmp_path))
    assert report.updated == {"admin_unit": 2} and report.inserted == {"admin_unit": 0}
    rows = query(db, "SELECT code, name, population FROM admin_unit WHERE code IN ('03127', '03151') ORDER BY code")
    assert rows == [("03127", "Phường Điện Biên Phủ (sửa)", 49205), ("03151", "Phường Mường Lay (sửa)", 18208)]
    assert counts(db)["admin_unit"] == 46


def test_invalid_polygon_is_repaired_and_reported(db: str, tmp_path: Path, reference_units) -> None:
    c = inside(reference_units, "03158")
    d = 0.01
    bowtie = Polygon([(c.x - d, c.y - d), (c.x + d, c.y + d), (c.x + d, c.y - d), (c.x - d, c.y + d)])
    assert not bowtie.is_valid
    frame = gpd.GeoDataFrame({"code": ["99901"], "name": ["Xã Thử Nghiệm"], "kind": ["commune"]},
                             geometry=[bowtie], crs=4326)
    report = run_import(db, "communes", write(frame, "geojson", tmp_path))
    assert report.inserted == {"admin_unit": 1}
    assert len(report.repairs) == 1 and "row 1" in report.repairs[0] and "Self-intersection" in report.repairs[0]
    valid, parts, area = query(db, "SELECT ST_IsValid(geom), ST_NumGeometries(geom), ST_Area(geom) "
                                   "FROM admin_unit WHERE code = '99901'")[0]
    assert valid and parts == 2  # the bow-tie's two triangles
    assert area == pytest.approx(2 * d * d, rel=1e-6)


def test_commune_rejections_write_nothing(db: str, tmp_path: Path, reference_units) -> None:
    c = inside(reference_units, "03158")
    square = shapely.box(c.x - 0.01, c.y - 0.01, c.x + 0.01, c.y + 0.01)
    true_area = GEOD.geometry_area_perimeter(square)[0] / 1e6
    line_like = Polygon([(c.x, c.y), (c.x + 0.01, c.y), (c.x + 0.02, c.y), (c.x, c.y)])  # no area at all
    far = shapely.box(105.80, 21.00, 105.82, 21.02)  # Hà Nội, far outside the province
    frame = gpd.GeoDataFrame({
        "code": ["99901", "99902", "99901", "99904", None, "99906", "99907"],
        "name": ["Xã Một", "Xã Hai", "Xã Ba", None, "Xã Năm", "Xã Sáu", "Xã Bảy"],
        "kind": ["commune", "commune", "commune", "commune", "commune", "hamlet", "commune"],
        "area_km2": [round(true_area, 2), round(true_area * 1.2, 2), None, None, None, None, None],
    }, geometry=[square, square, square, square, square, line_like, far], crs=4326)
    frame.loc[1, "geometry"] = square
    path = write(frame, "gpkg", tmp_path)
    before = counts(db)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "communes", path)
    r = rejected(exc)
    key, reason = find(r, 2, "differs from the polygon's area")
    assert key == (2, "area_km2") and float(reason.split("by ")[1].split(" %")[0]) == pytest.approx(20, abs=0.3)
    find(r, 3, "duplicate unit code '99901': row 1 has it too")
    assert find(r, 4, "missing name")[0] == (4, "name")
    assert find(r, 5, "missing code")[0] == (5, "code")
    key, reason = find(r, 6, "unknown kind 'hamlet'")
    assert key == (6, "kind") and "commune (Xã / Commune)" in reason and "ward (Phường / Ward)" in reason
    find(r, 6, "cannot be repaired")
    key, reason = find(r, 7, "outside the province")
    assert key == (7, "geometry") and " km from the outline of Tỉnh Điện Biên" in reason
    km = float(reason.split(": ")[1].split(" km")[0])
    assert 150 < km < 400
    assert (1, "code") not in r  # the good first row is not blamed
    assert counts(db) == before
    text = exc.value.report()
    assert "nothing was written" in text and "row 3, field 'code': duplicate unit code" in text


def test_communes_need_a_code_column(db: str, tmp_path: Path, reference_units) -> None:
    frame = gpd.GeoDataFrame({"name": ["Xã Mường Nhé"]}, geometry=[reference_units.loc["03160"].geometry], crs=4326)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "communes", write(frame, "geojson", tmp_path))
    assert "matched by code, never by name" in exc.value.report()


# --- villages, stations, patrol points: every format -------------------------------------------------------

def check_villages(db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    frame = gpd.GeoDataFrame({
        "name": ["Bản Na Sang", "Thôn Đồi Cao", "Bản Huổi Lóng"],
        "kind": ["ban", "thon", None],  # the third takes its kind from the name's prefix
        "population": [312, 145, 98],
        "unit_code": ["03127", None, None],
    }, geometry=[inside(reference_units, "03127"), inside(reference_units, "03151"),
                 inside(reference_units, "03160")], crs=4326)
    report = run_import(db, "villages", write(frame, fmt, tmp_path))
    assert report.inserted == {"settlement": 3}
    rows = query(db, "SELECT s.name, s.name_ascii, s.kind, s.population, u.code, ST_X(s.geom), ST_Y(s.geom) "
                     "FROM settlement s JOIN admin_unit u ON u.id = s.unit_id ORDER BY s.id")
    assert [r[:5] for r in rows] == [("Bản Na Sang", "ban na sang", "ban", 312, "03127"),
                                     ("Thôn Đồi Cao", "thon doi cao", "thon", 145, "03151"),
                                     ("Bản Huổi Lóng", "ban huoi long", "ban", 98, "03160")]
    for (x, y), p in zip([r[5:] for r in rows], frame.geometry, strict=True):
        assert GEOD.inv(x, y, p.x, p.y)[2] < 0.05


def check_stations(db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    frame = gpd.GeoDataFrame({
        "code": ["CAX-03127", "CAX-03160"],
        "name": ["Công an phường Điện Biên Phủ", "Công an xã Mường Nhé"],
        "kind": ["commune_police", "Công an xã/phường"],  # the code or its Vietnamese label
        "hq_status": ["independent", "shared"],
        "officers": [42, 17],
        "valid_from": ["2025-07-01", "2025-07-01"],
    }, geometry=[inside(reference_units, "03127"), inside(reference_units, "03160")], crs=4326)
    report = run_import(db, "stations", write(frame, fmt, tmp_path))
    assert report.inserted["station"] == 2 and report.inserted["station_status_history"] == 2
    rows = query(db, "SELECT s.code, s.kind, s.hq_status, s.officers, u.code, s.valid_from::text FROM station s "
                     "JOIN admin_unit u ON u.id = s.unit_id ORDER BY s.code")
    assert rows == [("CAX-03127", "commune_police", "independent", 42, "03127", "2025-07-01"),
                    ("CAX-03160", "commune_police", "shared", 17, "03160", "2025-07-01")]
    # A second import with a changed status updates the station and records the change.
    frame["hq_status"] = ["independent", "under_construction"]
    again = run_import(db, "stations", write(frame, fmt, tmp_path, stem="again"))
    assert again.updated["station"] == 2 and again.inserted["station_status_history"] == 1
    assert query(db, "SELECT hq_status, version FROM station WHERE code = 'CAX-03160'") == [("under_construction", 2)]


def check_patrol_points(db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    frame = gpd.GeoDataFrame({
        "name": ["Chốt Km 12", "Hòm thư bản Na Sang"],
        "kind": ["checkpoint", "tip_mailbox"],
        "visit_interval_hours": [24, 168],
        "commune_code": ["03151", None],
    }, geometry=[inside(reference_units, "03151"), inside(reference_units, "03127", 0.001)], crs=4326)
    report = run_import(db, "patrol-points", write(frame, fmt, tmp_path))
    assert report.inserted == {"patrol_point": 2}
    rows = query(db, "SELECT p.name, p.kind, p.visit_interval_hours, u.code FROM patrol_point p "
                     "JOIN admin_unit u ON u.id = p.unit_id ORDER BY p.id")
    assert rows == [("Chốt Km 12", "checkpoint", 24, "03151"), ("Hòm thư bản Na Sang", "tip_mailbox", 168, "03127")]
    # The same file again: the points are already there, so it is refused and nothing is doubled.
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "patrol-points", write(frame, fmt, tmp_path, stem="again"))
    find(rejected(exc), 1, "already in the database")
    find(rejected(exc), 2, "already in the database")
    assert counts(db)["patrol_point"] == 2


# --- roads ------------------------------------------------------------------------------------------------

def road_frame(units) -> gpd.GeoDataFrame:
    c = inside(units, "03127")
    main = LineString([(c.x - 0.01, c.y), (c.x + 0.01, c.y)])  # two vertices: the T meets it between them
    side = LineString([(c.x, c.y + 0.00002), (c.x, c.y + 0.01)])  # ends ~2 m from the main road
    spur = LineString([(c.x + 0.01, c.y), (c.x + 0.015, c.y + 0.005)])  # starts at the main road's end
    return gpd.GeoDataFrame({"ref": ["QL12", None, None], "name": ["Quốc lộ 12", "Đường bản", "Đường mòn"],
                             "road_class": ["national", "village_track", "footpath"]},
                            geometry=[main, side, spur], crs=4326)


def check_roads(db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    from data.settings import get_settings
    from geo.road_costs import class_speeds

    speeds = class_speeds(get_settings())
    frame = road_frame(reference_units)
    report = run_import(db, "roads", write(frame, fmt, tmp_path))
    # The main road is split where the side road meets it: 2 + 1 + 1 edges on 5 nodes.
    assert report.inserted == {"road_edge": 4}
    edges = query(db, "SELECT source, target, road_class, length_m, cost_s, reverse_cost_s, "
                      "ST_Length(geom::geography) FROM road_edge ORDER BY id")
    nodes = {n for e in edges for n in e[:2]}
    assert len(nodes) == 5
    for _s, _t, cls, length, cost, reverse, measured in edges:
        assert length == pytest.approx(measured, rel=1e-3)
        assert cost == pytest.approx(length / (speeds[cls] / 3.6)) and reverse == cost
    total_main = sum(e[3] for e in edges if e[2] == "national")
    assert total_main == pytest.approx(GEOD.geometry_length(frame.geometry[0]), rel=1e-3)
    components = query(db, "SELECT count(DISTINCT component) FROM pgr_connectedComponents("
                           "'SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost "
                           "FROM road_edge')")
    assert components == [(1,)]


def test_roads_join_the_graph_already_in_the_database(db: str, tmp_path: Path, reference_units) -> None:
    frame = road_frame(reference_units)
    run_import(db, "roads", write(frame, "geojson", tmp_path))
    end = frame.geometry[2].coords[-1]
    extension = gpd.GeoDataFrame({"road_class": ["commune"]},
                                 geometry=[LineString([end, (end[0] + 0.01, end[1])])], crs=4326)
    report = run_import(db, "roads", write(extension, "geojson", tmp_path, stem="ext"))
    assert "joined to nodes already in the database" in " ".join(report.notes)
    components = query(db, "SELECT count(DISTINCT component) FROM pgr_connectedComponents("
                           "'SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost "
                           "FROM road_edge')")
    assert components == [(1,)]


def test_road_rejections_write_nothing(db: str, tmp_path: Path, reference_units) -> None:
    c = inside(reference_units, "03127")
    frame = gpd.GeoDataFrame({"road_class": ["highway", "commune", "commune"]},
                             geometry=[LineString([(c.x, c.y), (c.x + 0.01, c.y)]), None,
                                       LineString([(105.8, 21.0), (105.81, 21.0)])], crs=4326)
    before = counts(db)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "roads", write(frame, "gpkg", tmp_path))
    r = rejected(exc)
    key, reason = find(r, 1, "unknown road class 'highway'")
    assert "national (Quốc lộ / National road)" in reason and "footpath" in reason
    find(r, 2, "empty geometry")
    find(r, 3, "outside the province")
    assert counts(db) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_kind_in_every_format(db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    """Each importer with a good file of this format, one after the other in one database (one clone per format
    keeps the suite quick on a shared two-core machine)."""
    for check in (check_communes, check_villages, check_stations, check_patrol_points, check_roads):
        folder = tmp_path / check.__name__
        folder.mkdir()
        check(db, fmt, folder, reference_units)
    # Planner statistics exist for what was imported (without them joins over fresh tables are nested scans).
    for table in ("settlement", "station", "patrol_point", "road_edge"):
        assert query(db, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = %s",
                     (table,))[0][0] > 0, table


# --- coordinate systems -------------------------------------------------------------------------------------

ARCSEC = np.pi / (180 * 3600)


def wgs84_to_vn2000_geodetic(lon: float, lat: float) -> tuple[float, float]:
    """Independent of PROJ's datum handling: the official 7 parameters (position vector) inverted by hand."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    lam, phi = np.radians(lon), np.radians(lat)
    n = a / np.sqrt(1 - e2 * np.sin(phi) ** 2)
    xyz = np.array([n * np.cos(phi) * np.cos(lam), n * np.cos(phi) * np.sin(lam), n * (1 - e2) * np.sin(phi)])
    tx, ty, tz, rx, ry, rz, s = (float(p) for p in VN2000_TOWGS84.split(","))
    rx, ry, rz = rx * ARCSEC, ry * ARCSEC, rz * ARCSEC
    rot = np.array([[1, -rz, ry], [rz, 1, -rx], [-ry, rx, 1]])
    vn = np.linalg.solve((1 + s * 1e-6) * rot, xyz - np.array([tx, ty, tz]))
    lam = np.arctan2(vn[1], vn[0])
    p = np.hypot(vn[0], vn[1])
    phi = np.arctan2(vn[2], p * (1 - e2))
    for _ in range(10):
        n = a / np.sqrt(1 - e2 * np.sin(phi) ** 2)
        phi = np.arctan2(vn[2] + e2 * n * np.sin(phi), p)
    return float(np.degrees(lam)), float(np.degrees(phi))


def to_grid(lon: float, lat: float, grid: str) -> tuple[float, float]:
    """VN-2000 geodetic -> grid coordinates with the bare projection (no datum step involved)."""
    vlon, vlat = wgs84_to_vn2000_geodetic(lon, lat)
    return Transformer.from_crs(CRS.from_proj4("+proj=longlat +ellps=WGS84"), CRS.from_proj4(grid),
                                always_xy=True).transform(vlon, vlat)


UTM48 = "+proj=utm +zone=48 +ellps=WGS84 +units=m +no_defs"
TM3_103 = "+proj=tmerc +lat_0=0 +lon_0=103 +k=0.9999 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs"
TM3_103_UNKNOWN_DATUM = (
    'PROJCS["VN2000_DienBien_TM3",GEOGCS["GCS_unknown",DATUM["D_unknown",SPHEROID["WGS84",6378137.0,'
    '298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",103.0],'
    'PARAMETER["Scale_Factor",0.9999],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]')


def vn2000_stations(units, grid: str) -> tuple[gpd.GeoDataFrame, list[Point]]:
    expected = [inside(units, "03127"), inside(units, "03160")]
    xy = [Point(*to_grid(p.x, p.y, grid)) for p in expected]
    frame = gpd.GeoDataFrame({"code": ["S1", "S2"], "name": ["Trạm 1", "Trạm 2"], "kind": ["commune_police"] * 2,
                              "hq_status": ["independent"] * 2}, geometry=xy)
    return frame, expected


def assert_lands_on(db: str, expected: list[Point], metres: float = 3.0) -> None:
    got = query(db, "SELECT ST_X(geom), ST_Y(geom) FROM station ORDER BY code")
    for (x, y), p in zip(got, expected, strict=True):
        assert GEOD.inv(x, y, p.x, p.y)[2] < metres


@pytest.mark.parametrize("fmt", ["shp", "csv"])
def test_vn2000_utm48n_lands_on_wgs84(db: str, fmt: str, tmp_path: Path, reference_units) -> None:
    frame, expected = vn2000_stations(reference_units, UTM48)
    path = write(frame.set_crs(3405), fmt, tmp_path)
    if fmt == "csv":
        path.with_suffix(".prj").write_text("EPSG:3405")  # a CSV states its CRS in a .prj beside it
    report = run_import(db, "stations", path)
    assert report.inserted["station"] == 2 and not report.warnings
    assert "VN-2000 / UTM zone 48N" in " ".join(report.notes)
    assert_lands_on(db, expected)
    # The datum shift matters: read as if the grid were WGS84, the first point would be ~200+ m away.
    naive = Transformer.from_crs(32648, 4326, always_xy=True).transform(frame.geometry[0].x, frame.geometry[0].y)
    assert GEOD.inv(*naive, expected[0].x, expected[0].y)[2] > 150


def test_vn2000_tm3_with_towgs84_geopackage(db: str, tmp_path: Path, reference_units) -> None:
    crs = CRS.from_proj4(TM3_103.replace("+units", f"+towgs84={VN2000_TOWGS84} +units"))
    frame, expected = vn2000_stations(reference_units, TM3_103)
    report = run_import(db, "stations", write(frame.set_crs(crs), "gpkg", tmp_path))
    assert not report.warnings
    assert_lands_on(db, expected)


def test_vn2000_without_datum_shift_is_shifted_and_warned(db: str, tmp_path: Path, reference_units) -> None:
    frame, expected = vn2000_stations(reference_units, TM3_103)
    path = write(frame, "shp", tmp_path)
    path.with_suffix(".prj").write_text(TM3_103_UNKNOWN_DATUM)
    report = run_import(db, "stations", path)
    warning = " ".join(report.warnings)
    assert "declares no datum shift" in warning and f"+towgs84={VN2000_TOWGS84}" in warning
    metres_off = float(warning.split("about ")[1].split(" m off")[0])
    assert 150 < metres_off < 400
    assert_lands_on(db, expected)


def test_no_crs_in_degrees_is_assumed_wgs84(db: str, tmp_path: Path, reference_units) -> None:
    frame = gpd.GeoDataFrame({"name": ["Bản Một"], "kind": ["ban"]}, geometry=[inside(reference_units, "03127")])
    report = run_import(db, "villages", write(frame, "shp", tmp_path))
    assert any("no CRS declared" in w and "EPSG:4326" in w for w in report.warnings)
    assert counts(db)["settlement"] == 1


def test_no_crs_in_metres_is_rejected(db: str, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["Bản Một"], "kind": ["ban"]}, geometry=[Point(500000.0, 2365000.0)])
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "villages", write(frame, "shp", tmp_path))
    assert "declares no coordinate reference system" in exc.value.report() and "EPSG:3405" in exc.value.report()


# --- point rejections -----------------------------------------------------------------------------------------

def test_village_rejections_write_nothing(db: str, tmp_path: Path, reference_units) -> None:
    good = inside(reference_units, "03127")
    path = tmp_path / "villages.csv"
    rows = [
        ["name", "kind", "population", "unit_code", "geonameid", "lon", "lat"],
        ["Bản Tốt", "ban", "100", "03127", "1", f"{good.x}", f"{good.y}"],       # 1: fine
        ["Bản Đảo", "ban", "100", "", "", f"{good.y}", f"{good.x}"],             # 2: lat/lon swapped
        ["Bản Xa", "ban", "100", "", "", "105.8542", "21.0285"],                 # 3: Hà Nội
        ["", "ban", "100", "", "", f"{good.x}", f"{good.y + 0.001}"],             # 4: no name
        ["Xóm Lạ", "xom", "100", "", "", f"{good.x}", f"{good.y + 0.002}"],       # 5: unknown kind
        ["Bản Trống", "ban", "100", "", "", "", ""],                             # 6: no coordinates
        ["Bản Trùng", "ban", "100", "", "1", f"{good.x}", f"{good.y + 0.003}"],   # 7: geonameid of row 1
        ["Bản Mã Sai", "ban", "100", "99999", "", f"{good.x}", f"{good.y + 0.004}"],  # 8: unknown unit code
        ["Bản Số", "ban", "nhiều", "", "", f"{good.x}", f"{good.y + 0.005}"],     # 9: population not a number
    ]
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    before = counts(db)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "villages", path)
    r = rejected(exc)
    key, reason = find(r, 2, "outside ±90")
    assert key == (2, "lat") and "look swapped" in reason
    key, reason = find(r, 3, "outside the province")
    assert key == (3, "lon/lat") and "km from the outline" in reason
    assert 200 < float(reason.split(": ")[1].split(" km")[0]) < 450
    assert find(r, 4, "missing name")[0] == (4, "name")
    key, reason = find(r, 5, "unknown kind 'xom'")
    assert key == (5, "kind") and "thon (Thôn / Hamlet (thôn))" in reason
    assert find(r, 6, "empty geometry")[0] == (6, "lon/lat")
    assert find(r, 7, "duplicate geonameid '1': row 1 has it too")[0] == (7, "geonameid")
    assert find(r, 8, "unit code '99999' is not a unit of era 2025")[0] == (8, "unit_code")
    assert find(r, 9, "'nhiều' is not a number")[0] == (9, "population")
    assert not [k for k in r if k[0] == 1]
    assert counts(db) == before


def test_swapped_axes_in_a_projected_file_are_named(db: str, tmp_path: Path, reference_units) -> None:
    frame, _expected = vn2000_stations(reference_units, UTM48)
    frame.loc[1, "geometry"] = Point(frame.geometry[1].y, frame.geometry[1].x)  # northing first, as surveyors write
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "stations", write(frame.set_crs(3405), "gpkg", tmp_path))
    r = rejected(exc)
    key, reason = find(r, 2, "swapped")
    assert key == (2, "geometry") and "swapped it lies inside" in reason
    assert len(r) == 1 and counts(db)["station"] == 0


def test_station_and_patrol_point_rejections(db: str, tmp_path: Path, reference_units) -> None:
    p = inside(reference_units, "03127")
    stations = gpd.GeoDataFrame({"code": ["A", "A"], "name": ["Trạm A", "Trạm B"],
                                 "kind": ["commune_police", "commune_police"], "hq_status": ["rented", "shared"]},
                                geometry=[p, Point(p.x, p.y + 0.001)], crs=4326)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "stations", write(stations, "geojson", tmp_path, stem="st"))
    r = rejected(exc)
    key, reason = find(r, 1, "unknown headquarters status 'rented'")
    assert key == (1, "hq_status") and "under_construction" in reason
    assert find(r, 2, "duplicate station code 'A'")[0] == (2, "code")
    points = gpd.GeoDataFrame({"name": ["Chốt 1", "Chốt 2"], "kind": ["checkpoint", "roadblock"],
                               "visit_interval_hours": [None, "12"], "station_code": ["NONE", None]},
                              geometry=[p, Point(p.x, p.y + 0.001)], crs=4326)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "patrol-points", write(points, "csv", tmp_path, stem="pp"))
    r = rejected(exc)
    find(r, 1, "missing visit interval")
    find(r, 1, "station code 'NONE' is not in the database")
    key, reason = find(r, 2, "unknown patrol point kind 'roadblock'")
    assert "self_governing_model" in reason
    assert counts(db)["station"] == 0 and counts(db)["patrol_point"] == 0


# --- encodings ------------------------------------------------------------------------------------------------

def legacy(text: str) -> bytes:
    """Vietnamese as Windows-1258 writes it (base letter + combining tone mark): not UTF-8."""
    return unicodedata.normalize("NFD", text).encode("cp1258")


def test_csv_not_utf8_is_rejected_with_its_place(db: str, tmp_path: Path, reference_units) -> None:
    p = inside(reference_units, "03127")
    text = f"name,kind,lon,lat\nBan Mot,ban,{p.x},{p.y}\nBản Hai,ban,{p.x},{p.y + 0.001}\n"
    path = tmp_path / "cp1258.csv"
    path.write_bytes(legacy(text))
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "villages", path)
    (rejection,) = exc.value.rejections
    offset = legacy(text).index(legacy("Bản")) + 2  # 'B', 'a', then the combining hook
    assert rejection.row == 2 and "not UTF-8" in rejection.reason
    assert f"byte {offset} " in rejection.reason and "line 3" in rejection.reason
    assert counts(db)["settlement"] == 0


def test_shapefile_not_utf8_names_record_and_field(db: str, tmp_path: Path, reference_units) -> None:
    frame = gpd.GeoDataFrame({"name": ["Ban Mot", "Ban Hai"], "kind": ["ban", "ban"]},
                             geometry=[inside(reference_units, "03127"), inside(reference_units, "03151")], crs=4326)
    path = write(frame, "shp", tmp_path)
    dbf = path.with_suffix(".dbf")
    raw = dbf.read_bytes()
    dbf.write_bytes(raw.replace(b"Ban Hai", legacy("Đan Hai")))  # a legacy-encoded cell of the same length
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "villages", path)
    (rejection,) = exc.value.rejections
    assert (rejection.row, rejection.field) == (2, "name") and "not UTF-8" in rejection.reason


def test_geojson_not_utf8_is_rejected(db: str, tmp_path: Path) -> None:
    path = tmp_path / "latin.geojson"
    body = ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Ban"}, '
            '"geometry": {"type": "Point", "coordinates": [103.0, 21.4]}}, {"type": "Feature", "properties": '
            '{"name": "Bản"}, "geometry": {"type": "Point", "coordinates": [103.0, 21.41]}}]}')
    path.write_bytes(legacy(body))
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "villages", path)
    (rejection,) = exc.value.rejections
    assert rejection.row == 2 and "not UTF-8" in rejection.reason


# --- the command line -------------------------------------------------------------------------------------------

def test_cli_exit_status(db: str, tmp_path: Path, reference_units) -> None:
    sitmap = ROOT / ".venv" / "bin" / "sitmap"
    env = {**os.environ, "DATABASE_URL": db}
    good = gpd.GeoDataFrame({"name": ["Bản Một"], "kind": ["ban"]}, geometry=[inside(reference_units, "03127")],
                            crs=4326)
    ok = subprocess.run([sitmap, "import", "villages", write(good, "geojson", tmp_path, "good")], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "settlement: 1 inserted, 0 updated" in ok.stdout
    bad = good.assign(kind=["xom"])
    refused = subprocess.run([sitmap, "import", "villages", write(bad, "geojson", tmp_path, "bad")], env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "row 1, field 'kind': unknown kind 'xom'" in refused.stderr and "nothing was written" in refused.stderr
    assert counts(db)["settlement"] == 1
