"""Road import into a routable graph, against a real PostGIS with pgRouting: class speeds from settings, one-way
roads, OSM-style tags (highway, maxspeed, oneway, incline), the terrain factor, the report of disconnected
pieces, and an OpenStreetMap extract (tests/data/roads.osm) replacing the demo's generated roads.

Expected times are computed here from the coordinates (pyproj's geodesic) and the speeds, not read back from
the importer's own arithmetic.
"""

from __future__ import annotations

import re
import shutil
import struct
import zlib
from pathlib import Path
from xml.etree import ElementTree

import geopandas as gpd
import psycopg
import pytest
from pydantic import ValidationError
from pyproj import Geod
from shapely.geometry import LineString

from data.importers import ImportRejected, run_import
from data.settings import Settings, get_settings
from tests.conftest import clone_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
OSM = ROOT / "tests" / "data" / "roads.osm"
GEOD = Geod(ellps="WGS84")
X, Y = 103.05, 21.42  # inside Điện Biên province, near Điện Biên Phủ
EDGES = "SELECT id, source, target, cost_s AS cost, reverse_cost_s AS reverse_cost FROM road_edge"


@pytest.fixture(scope="module")
def province_template(cluster, schema_template) -> str:
    name = "road_import_province_template"
    drop_database(cluster, name)
    url = clone_database(cluster, schema_template, name)
    run_import(url, "communes", ROOT / "data" / "reference" / "province.geojson")
    yield name
    drop_database(cluster, name)


@pytest.fixture
def db(cluster, province_template) -> str:
    """A private database holding only the province outline (imports check that roads lie inside it)."""
    url = clone_database(cluster, province_template)
    yield url
    drop_database(cluster, url.split("/")[-1].split("?")[0])


@pytest.fixture
def env(monkeypatch):
    """Set SITMAP_ variables for one test; the cached settings are dropped before and after."""
    get_settings.cache_clear()
    yield monkeypatch.setenv
    monkeypatch.undo()
    get_settings.cache_clear()


def query(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def geojson(tmp_path: Path, rows: list[dict], stem: str = "roads") -> Path:
    frame = gpd.GeoDataFrame([{k: v for k, v in r.items() if k != "geometry"} for r in rows],
                             geometry=[r["geometry"] for r in rows], crs=4326)
    path = tmp_path / f"{stem}.geojson"
    frame.to_file(path, driver="GeoJSON")
    return path


def metres(*lonlat: tuple[float, float]) -> float:
    lons, lats = zip(*lonlat, strict=True)
    return GEOD.line_length(lons, lats)


def seconds(length: float, kmh: float) -> float:
    return length / (kmh / 3.6)


def node_at(url: str, lon: float, lat: float) -> int:
    found = query(url, "SELECT DISTINCT n FROM (SELECT source n, ST_StartPoint(geom) p FROM road_edge UNION ALL "
                       "SELECT target, ST_EndPoint(geom) FROM road_edge) e "
                       "WHERE ST_DWithin(p, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 1e-7)", (lon, lat))
    assert len(found) == 1, (lon, lat, found)
    return found[0][0]


def travel_s(url: str, a: int, b: int) -> float | None:
    rows = query(url, "SELECT agg_cost FROM pgr_dijkstra(%s, %s::bigint, %s::bigint, directed => true) "
                      "WHERE edge = -1", (EDGES, a, b))
    return rows[0][0] if rows else None


# --- speeds are settings ---------------------------------------------------------------------------------

def test_class_speeds_come_from_settings(db: str, tmp_path: Path, env) -> None:
    env("SITMAP_ROAD_SPEED_COMMUNE_KMH", "20")
    env("SITMAP_ROAD_SPEED_FOOTPATH_KMH", "3.5")
    a, b, c = (X, Y), (X + 0.01, Y), (X + 0.01, Y + 0.01)
    run_import(db, "roads", geojson(tmp_path, [{"road_class": "commune", "geometry": LineString([a, b])},
                                               {"road_class": "footpath", "geometry": LineString([b, c])}]))
    got = dict(query(db, "SELECT road_class, cost_s FROM road_edge"))
    assert got["commune"] == pytest.approx(seconds(metres(a, b), 20), rel=1e-4)
    assert got["footpath"] == pytest.approx(seconds(metres(b, c), 3.5), rel=1e-4)


def test_a_speed_setting_must_be_positive(env) -> None:
    env("SITMAP_ROAD_SPEED_NATIONAL_KMH", "0")
    with pytest.raises(ValidationError, match="road_speed_national_kmh"):
        Settings()


# --- one-way roads ---------------------------------------------------------------------------------------

def test_oneway_tags_set_the_closed_direction_to_minus_one(db: str, tmp_path: Path) -> None:
    p = [(X + 0.01 * i, Y) for i in range(7)]
    ways = [("yes", None), ("-1", None), ("no", None), (None, None), (None, "roundabout"), ("true", None)]
    rows = [{"highway": "residential", "oneway": oneway, "junction": junction, "name": f"w{i}",
             "geometry": LineString([p[i], p[i + 1]])} for i, (oneway, junction) in enumerate(ways)]
    run_import(db, "roads", geojson(tmp_path, rows))
    got = {name: (cost, rev) for name, cost, rev in query(db, "SELECT name, cost_s, reverse_cost_s FROM road_edge")}
    leg = seconds(metres(p[0], p[1]), 30)
    assert got["w0"] == (pytest.approx(leg, rel=1e-3), -1)          # yes: along the drawing only
    assert got["w1"] == (-1, pytest.approx(leg, rel=1e-3))          # -1: against the drawing only
    assert got["w2"][0] == got["w2"][1] == pytest.approx(leg, rel=1e-3)
    assert got["w3"][0] == got["w3"][1] > 0                          # no tag: two-way
    assert got["w4"][1] == -1                                        # roundabouts are one-way in OSM
    assert got["w5"][1] == -1
    # pgRouting sees it: along w0 from its start, but not back.
    start, end = node_at(db, *p[0]), node_at(db, *p[1])
    assert travel_s(db, start, end) == pytest.approx(leg, rel=1e-3)
    assert travel_s(db, end, start) is None


# --- OSM-style tags --------------------------------------------------------------------------------------

def test_highway_values_map_to_classes_and_maxspeed_caps_the_class_speed(db: str, tmp_path: Path) -> None:
    p = [(X + 0.01 * i, Y) for i in range(9)]
    tags = [("primary", "30 mph"), ("secondary", "50 km/h"), ("tertiary", "20"), ("track", "walk"),
            ("footway", None), ("motorway_link", None), ("construction", None), (None, None)]
    rows = [{"highway": hw, "maxspeed": ms, "name": f"w{i}", "geometry": LineString([p[i], p[i + 1]])}
            for i, (hw, ms) in enumerate(tags)]
    report = run_import(db, "roads", geojson(tmp_path, rows))
    got = {n: (cls, speed) for n, cls, speed in query(db, "SELECT name, road_class, speed_kmh FROM road_edge")}
    assert got["w0"] == ("national", pytest.approx(30 * 1.609344))   # 48.3 km/h: under the class's 50
    assert got["w1"] == ("provincial", 40)                            # a limit never raises the class speed
    assert got["w2"] == ("commune", 20)
    assert got["w3"] == ("village_track", 15)
    assert got["w4"] == ("footpath", 4)
    assert got["w5"][0] == "national"
    assert "w6" not in got and "w7" not in got
    text = report.summary()
    assert "2 line(s) skipped" in text and "construction 1" in text and "no highway tag 1" in text
    assert "maxspeed not understood on 1 line(s) (row 4 'walk')" in text


def test_road_class_column_or_highway_tag_is_required(db: str, tmp_path: Path) -> None:
    path = geojson(tmp_path, [{"name": "x", "geometry": LineString([(X, Y), (X + 0.01, Y)])}])
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "roads", path)
    assert "no road class" in exc.value.report() and "'highway' tag" in exc.value.report()


def test_a_file_without_any_road_is_refused_and_keeps_the_graph(db: str, tmp_path: Path) -> None:
    run_import(db, "roads", geojson(tmp_path, [{"road_class": "commune",
                                                "geometry": LineString([(X, Y), (X + 0.01, Y)])}], stem="first"))
    path = geojson(tmp_path, [{"highway": "proposed", "geometry": LineString([(X, Y), (X, Y + 0.01)])}])
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "roads", path)
    assert "holds no road to import (proposed 1)" in exc.value.report()
    assert query(db, "SELECT count(*) FROM road_edge") == [(1,)]


# --- terrain factor --------------------------------------------------------------------------------------

def test_terrain_factor_from_slope_factor_incline_or_elevation(db: str, tmp_path: Path) -> None:
    p = [(X + 0.01 * i, Y) for i in range(5)]
    leg = metres(p[0], p[1])
    climb = 0.1 * leg  # a 10 % grade, climbing
    rows = [
        {"road_class": "commune", "name": "given", "slope_factor": 1.3, "geometry": LineString([p[0], p[1]])},
        {"road_class": "commune", "name": "incline", "incline": "-12%", "geometry": LineString([p[1], p[2]])},
        {"road_class": "commune", "name": "3d", "geometry": LineString([(*p[2], 500.0), (*p[3], 500.0 + climb)])},
        {"road_class": "commune", "name": "flat", "geometry": LineString([p[3], p[4]])},
    ]
    report = run_import(db, "roads", geojson(tmp_path, rows))
    got = {n: (f, s) for n, f, s in query(db, "SELECT name, slope_factor, speed_kmh FROM road_edge")}
    # Defaults: speed / (1 + 6 × grade).
    assert got["given"] == (pytest.approx(1.3), pytest.approx(30 / 1.3))
    assert got["incline"] == (pytest.approx(1.72), pytest.approx(30 / 1.72))
    assert got["3d"] == (pytest.approx(1.6, rel=1e-3), pytest.approx(30 / 1.6, rel=1e-3))
    assert got["flat"] == (1.0, 30)
    assert "terrain factor from slope_factor on 1 line(s), incline on 1 line(s), elevation on 1 line(s)" \
        in report.summary()


# --- topology and its report -----------------------------------------------------------------------------

def test_disconnected_pieces_are_reported_with_their_rows_and_place(db: str, tmp_path: Path) -> None:
    a, b, c = (X, Y), (X + 0.02, Y), (X + 0.02, Y + 0.02)
    near_b = (b[0] + 0.00002, b[1])  # ~2 m from b: snapped to it
    x = (X + 0.01, Y)  # a vertex of both the national road and the track: an X junction that joins them
    piece = [(X + 0.1, Y + 0.05), (X + 0.101, Y + 0.05)]
    rows = [{"road_class": "national", "geometry": LineString([a, x, b])},
            {"road_class": "commune", "geometry": LineString([near_b, c])},
            {"road_class": "village_track", "geometry": LineString([(x[0], Y - 0.01), x, (x[0], Y + 0.01)])},
            {"road_class": "footpath", "geometry": LineString(piece)}]
    report = run_import(db, "roads", geojson(tmp_path, rows))
    # national split at the crossing (2) + commune (1) + track split at the crossing (2) + footpath (1)
    assert report.inserted == {"road_edge": 6}
    warning = next(w for w in report.warnings if "connected piece" in w)
    m = re.match(r"road graph: 2 connected piece\(s\), 6 edge\(s\), ([\d.]+) km; the largest holds ([\d.]+)% "
                 r"of the length \(5 edge\(s\)\)", warning)
    assert m, warning
    main = metres(a, b) + metres(b, c) + 2 * metres((x[0], Y - 0.01), x)
    total = main + metres(*piece)
    assert float(m.group(1)) == pytest.approx(total / 1000, abs=0.01)
    assert float(m.group(2)) == pytest.approx(100 * main / total, abs=0.1)
    mid = ((piece[0][0] + piece[1][0]) / 2, (piece[0][1] + piece[1][1]) / 2)
    assert f"1 edge(s), {metres(*piece) / 1000:.2f} km near {mid[0]:.5f}, {mid[1]:.5f} (row 4)" in warning
    pieces = query(db, f"SELECT count(DISTINCT component) FROM pgr_connectedComponents('{EDGES}')")
    assert pieces == [(2,)]


def test_one_piece_is_a_note_not_a_warning(db: str, tmp_path: Path) -> None:
    report = run_import(db, "roads", geojson(tmp_path, [{"road_class": "commune",
                                                         "geometry": LineString([(X, Y), (X + 0.01, Y)])}]))
    assert any(n.startswith("road graph: 1 connected piece(s), 1 edge(s)") for n in report.notes)
    assert not any("connected piece" in w for w in report.warnings)


# --- OpenStreetMap extracts ------------------------------------------------------------------------------

# The nodes of tests/data/roads.osm.
NODE = {1: (103.05, 21.42), 2: (103.06, 21.42), 3: (103.07, 21.42), 4: (103.06, 21.41), 5: (103.06, 21.43),
        6: (103.07, 21.43), 7: (103.10, 21.45), 8: (103.101, 21.451)}


def check_osm_graph(url: str, report) -> None:
    assert report.inserted == {"road_edge": 7}  # ways 100 and 101 split at their shared node 2
    rows = query(url, "SELECT ref, name, road_class, speed_kmh, cost_s, reverse_cost_s, is_generated FROM road_edge")
    assert {r[2] for r in rows} == {"national", "commune", "village_track", "footpath"}
    assert not any(r[6] for r in rows)
    assert {(r[0], r[1], r[3]) for r in rows if r[2] == "national"} == {("QL279", "Quốc lộ 279", 30)}  # maxspeed
    assert sum(r[5] == -1 for r in rows) == 1 and sum(r[4] == -1 for r in rows) == 0  # way 102 is one-way
    n = {k: node_at(url, *xy) for k, xy in NODE.items()}
    primary = seconds(metres(NODE[1], NODE[2]), 30)
    # 1 -> 6: primary to 2, residential to 5, one-way tertiary to 6 (all at 30 km/h).
    there = primary + seconds(metres(NODE[2], NODE[5]), 30) + seconds(metres(NODE[5], NODE[6]), 30)
    # 6 -> 1: not against the one-way; the track (15 km/h) to 3, then the primary back through 2.
    back = seconds(metres(NODE[6], NODE[3]), 15) + seconds(metres(NODE[3], NODE[2], NODE[1]), 30)
    assert travel_s(url, n[1], n[6]) == pytest.approx(there, abs=0.5)
    assert travel_s(url, n[6], n[1]) == pytest.approx(back, abs=0.5)
    assert travel_s(url, n[1], n[7]) is None  # way 104 is a piece of its own
    text = report.summary()
    assert "OpenStreetMap extract: 7 way(s) read" in text
    assert "2 line(s) skipped" in text and "construction 1" in text and "no highway tag 1" in text
    assert "road graph: 2 connected piece(s)" in text and "(way 104)" in text


def test_osm_extract_replaces_the_demo_roads_and_routes(demo_db_rw: str) -> None:
    generated = query(demo_db_rw, "SELECT count(*) FROM road_edge WHERE is_generated")[0][0]
    assert generated > 1000
    report = run_import(demo_db_rw, "roads", OSM)
    assert f"the {generated} generated (demo) road edge(s) were replaced" in report.summary()
    check_osm_graph(demo_db_rw, report)


def test_osm_tags_configured_as_fields_read_the_same(db: str, tmp_path: Path, monkeypatch) -> None:
    import pyogrio

    # A user's osmconf.ini that makes maxspeed, oneway and ref fields instead of leaving them in other_tags.
    default = Path(pyogrio.__file__).parent / "gdal_data" / "osmconf.ini"
    conf = tmp_path / "osmconf.ini"
    text = default.read_text()
    fields = "attributes=name,highway,waterway,aerialway,barrier,man_made,railway"
    assert text.count(fields) == 1
    conf.write_text(text.replace(fields, "attributes=name,highway,ref,maxspeed,oneway"))
    monkeypatch.setenv("OSM_CONFIG_FILE", str(conf))
    assert set(pyogrio.read_dataframe(OSM, layer="lines").columns) >= {"maxspeed", "oneway", "ref"}
    check_osm_graph(db, run_import(db, "roads", OSM))


def test_osm_pbf_extract_reads_the_same(db: str, tmp_path: Path) -> None:
    pbf = tmp_path / "roads.osm.pbf"
    osm_to_pbf(OSM, pbf)
    check_osm_graph(db, run_import(db, "roads", pbf))


def test_a_pbf_that_is_not_osm_is_refused(db: str, tmp_path: Path) -> None:
    fake = tmp_path / "roads.osm.pbf"
    shutil.copy(ROOT / "data" / "reference" / "province.geojson", fake)
    with pytest.raises(ImportRejected) as exc:
        run_import(db, "roads", fake)
    assert "OpenStreetMap extract" in exc.value.report()


# --- a minimal .osm.pbf writer (so the PBF reader is tested on the same ways as roads.osm) -----------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _packed(number: int, values: list[int]) -> bytes:
    return _field(number, b"".join(_varint(v) for v in values))


def _blob(kind: str, message: bytes) -> bytes:
    blob = _field(2, len(message)) + _field(3, zlib.compress(message))
    header = _field(1, kind.encode()) + _field(3, len(blob))
    return struct.pack(">I", len(header)) + header + blob


def osm_to_pbf(osm: Path, pbf: Path) -> None:
    """Write the nodes and ways of an .osm XML file as an OSM PBF file (plain nodes, zlib blobs; the format of
    wiki.openstreetmap.org/wiki/PBF_Format)."""
    root = ElementTree.parse(osm).getroot()
    strings = [""]

    def sid(s: str) -> int:
        if s not in strings:
            strings.append(s)
        return strings.index(s)

    def tags(el) -> bytes:
        kv = [(sid(t.get("k")), sid(t.get("v"))) for t in el.findall("tag")]
        return _packed(2, [k for k, _ in kv]) + _packed(3, [v for _, v in kv]) if kv else b""

    nodes = b"".join(_field(1, _field(1, _zigzag(int(n.get("id")))) + tags(n)
                            + _field(8, _zigzag(round(float(n.get("lat")) * 1e7)))
                            + _field(9, _zigzag(round(float(n.get("lon")) * 1e7))))
                     for n in root.findall("node"))
    ways = b""
    for w in root.findall("way"):
        refs = [int(nd.get("ref")) for nd in w.findall("nd")]
        deltas = [_zigzag(r - p) for r, p in zip(refs, [0, *refs[:-1]], strict=True)]
        ways += _field(3, _field(1, int(w.get("id"))) + tags(w) + _packed(8, deltas))
    table = b"".join(_field(1, s.encode()) for s in strings)
    block = _field(1, table) + _field(2, nodes) + _field(2, ways)
    header = _field(4, b"OsmSchema-V0.6") + _field(16, b"sitmap tests")
    pbf.write_bytes(_blob("OSMHeader", header) + _blob("OSMData", block))
