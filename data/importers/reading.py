"""Read an input file into rows with a geometry: GeoJSON, Shapefile (zipped or not), GeoPackage, CSV, and
OpenStreetMap extracts (.osm, .osm.pbf: the 'lines' layer of GDAL's OSM driver).

Text must be UTF-8. A file that is not is refused with the place where decoding fails: guessing another
encoding silently turns Vietnamese names into mojibake that nobody notices until a search fails.
Rows are numbered from 1, the first feature (or the first data line of a CSV, i.e. line 2).
"""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from data.importers.report import ImportReport

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "kinh_do", "kinhdo", "kinh độ")
LAT_NAMES = ("lat", "latitude", "y", "vi_do", "vido", "vĩ độ")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom")
BOM = b"\xef\xbb\xbf"
# OSM tags the importers read (roads): GDAL's default osmconf.ini makes a few of them fields and packs the
# rest into 'other_tags' (hstore text); each of these becomes a column unless it already is one.
OSM_TAGS = ("highway", "name", "ref", "maxspeed", "oneway", "junction", "incline")
_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')
_HSTORE_ESCAPE = re.compile(r"\\(.)")


class FileRejected(Exception):
    """The file as a whole cannot be read; the rejection is already in the report."""


@dataclass
class Source:
    frame: gpd.GeoDataFrame  # attribute columns as text (or None), "geometry", index = row number from 1
    format: str
    lon_field: str = "geometry"
    lat_field: str = "geometry"
    declared_crs: Any = None
    rejected_rows: set[int] = field(default_factory=set)  # rows already rejected: later checks skip them
    # Each row's geometry as it would be with x and y swapped in the file's own CRS, in EPSG:4326 (set by
    # crs.to_wgs84): a point far outside the province whose swap lands inside had its axes swapped.
    swapped: dict[int, Any] = field(default_factory=dict)


def read_source(path: Path, report: ImportReport) -> Source:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _read_zip(path, report)
    if suffix == ".csv" or suffix == ".txt":
        return _read_csv(path, report)
    if suffix == ".xlsx":
        return _read_xlsx(path, report)
    if suffix in (".geojson", ".json"):
        _check_utf8_text(path.read_bytes(), report, feature_pattern=rb'"type"\s*:\s*"Feature"')
        return _read_ogr(path, "GeoJSON", report)
    if suffix == ".shp":
        _check_dbf_utf8(path, report)
        return _read_ogr(path, "Shapefile", report, encoding="UTF-8")
    if suffix in (".osm", ".pbf"):
        return _read_osm(path, report)
    if suffix == ".gpkg":
        # GeoPackage text is UTF-8 by specification (SQLite TEXT); invalid bytes surface as a read error below.
        return _read_ogr(path, "GeoPackage", report)
    report.reject(None, None, f"unsupported file type '{path.suffix}': use .geojson, .shp (or a .zip holding "
                              f"one), .gpkg, .csv or .xlsx with lon/lat columns, or an OpenStreetMap extract "
                              f"(.osm, .osm.pbf)")
    raise FileRejected


def _read_zip(path: Path, report: ImportReport) -> Source:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
        readable = [n for n in names if Path(n).suffix.lower() in (".shp", ".geojson", ".json", ".gpkg", ".csv")]
        if len(readable) != 1:
            found = ", ".join(readable) or "none"
            report.reject(None, None, f"a .zip must hold exactly one dataset (a .shp with its .dbf/.shx/.prj, or "
                                      f"one .geojson/.gpkg/.csv); found: {found}")
            raise FileRejected
        with tempfile.TemporaryDirectory(prefix="sitmap-import-") as tmp:
            zf.extractall(tmp, members=names)
            # Everything is read into memory here, so the extracted copy can go.
            return read_source(Path(tmp) / readable[0], report)


def _read_ogr(path: Path, driver: str, report: ImportReport, **kwargs: Any) -> Source:
    layer = kwargs.pop("layer", None)
    if driver == "GeoPackage":
        layers = [str(name) for name, _geom_type in pyogrio.list_layers(path)]
        if not layers:
            report.reject(None, None, "the GeoPackage holds no layer")
            raise FileRejected
        layer = layers[0]
        if len(layers) > 1:
            report.warnings.append(f"the GeoPackage holds {len(layers)} layers ({', '.join(layers)}); "
                                   f"read the first, '{layer}'")
    try:
        frame = pyogrio.read_dataframe(path, layer=layer, **kwargs)
    except UnicodeDecodeError as exc:
        report.reject(None, None, f"text is not UTF-8 ({exc.reason} at byte {exc.start} of a value): "
                                  f"save the file as UTF-8")
        raise FileRejected from exc
    except Exception as exc:  # noqa: BLE001 - GDAL's own message says what is wrong with the file
        report.reject(None, None, f"cannot read the file as {driver}: {exc}")
        raise FileRejected from exc
    declared = frame.crs
    frame = _as_text_columns(frame)
    return Source(frame=frame, format=driver, declared_crs=declared)


def _read_osm(path: Path, report: ImportReport) -> Source:
    """The ways of an OpenStreetMap extract as lines, with the tags of OSM_TAGS as columns.

    Only the 'lines' layer is read: GDAL puts closed ways tagged as areas and relations in other layers."""
    try:
        driver = pyogrio.read_info(path, layer="lines")["driver"]
    except Exception as exc:  # noqa: BLE001 - GDAL's own message says what is wrong with the file
        report.reject(None, None, f"cannot read the file as an OpenStreetMap extract: {exc}")
        raise FileRejected from exc
    if driver != "OSM":
        report.reject(None, None, f"a {path.suffix} file must be an OpenStreetMap extract (.osm XML or .osm.pbf); "
                                  f"GDAL reads this one as {driver}")
        raise FileRejected
    source = _read_ogr(path, "OSM", report, layer="lines")
    frame = source.frame
    packed = frame.pop("other_tags") if "other_tags" in frame.columns else None
    if packed is not None:
        tags = [osm_tags(t) for t in packed]
        for key in OSM_TAGS:
            if key not in frame.columns:
                frame[key] = pd.Series([t.get(key) for t in tags], index=frame.index, dtype=object)
    report.notes.append(f"OpenStreetMap extract: {len(frame)} way(s) read from the 'lines' layer")
    return source


def osm_tags(packed: str | None) -> dict[str, str]:
    """GDAL's 'other_tags' text ``"oneway"=>"yes","maxspeed"=>"50"`` as a dict (values stripped)."""
    if not packed:
        return {}
    return {_unescape(k): _unescape(v).strip() for k, v in _HSTORE_PAIR.findall(packed)}


def _unescape(text: str) -> str:
    return _HSTORE_ESCAPE.sub(r"\1", text)


def _as_text_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Attributes as stripped text: codes keep their leading zeros only if the file stored them as text."""
    geometry = frame.geometry.copy()
    data = {str(col).strip(): [text(v) for v in frame[col]] for col in frame.columns if col != frame.geometry.name}
    out = gpd.GeoDataFrame(pd.DataFrame(data, dtype=object), geometry=geometry.values, crs=frame.crs)
    out.index = range(1, len(out) + 1)
    return out


def text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    s = str(value).strip()
    return s or None


def _read_xlsx(path: Path, report: ImportReport) -> Source:
    """The first sheet of a spreadsheet, read as the CSV it would be saved as (first row: the header)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl's message says what is wrong with the file
        report.reject(None, None, f"cannot read the file as an .xlsx spreadsheet: {exc}")
        raise FileRejected from exc
    sheet = book.worksheets[0]
    if len(book.worksheets) > 1:
        report.warnings.append(f"the spreadsheet has {len(book.worksheets)} sheets; read the first, '{sheet.title}'")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for cells in sheet.iter_rows(values_only=True):
        writer.writerow(["" if c is None else (text(c) or "") for c in cells])
    book.close()
    with tempfile.TemporaryDirectory(prefix="sitmap-xlsx-") as tmp:
        as_csv = Path(tmp) / (path.stem + ".csv")
        as_csv.write_text(buffer.getvalue(), encoding="utf-8")
        source = _read_csv(as_csv, report)
    source.format = "XLSX"
    return source


def _read_csv(path: Path, report: ImportReport) -> Source:
    raw = path.read_bytes()
    _check_utf8_text(raw, report, feature_pattern=None)
    content = raw[len(BOM):] if raw.startswith(BOM) else raw
    decoded = content.decode("utf-8")
    first_line = decoded.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    rows = list(csv.reader(io.StringIO(decoded, newline=""), delimiter=delimiter))
    if not rows:
        report.reject(None, None, "the CSV file is empty")
        raise FileRejected
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    lowered = {h.lower(): h for h in header}
    lon = next((lowered[n] for n in LON_NAMES if n in lowered), None)
    lat = next((lowered[n] for n in LAT_NAMES if n in lowered), None)
    wkt = next((lowered[n] for n in WKT_NAMES if n in lowered), None)
    if not (lon and lat) and not wkt:
        report.reject(None, None, f"no longitude/latitude columns: name them 'lon' and 'lat' (or longitude/lng/x "
                                  f"and latitude/y), or give a 'wkt' column; the header has: {', '.join(header)}")
        raise FileRejected
    data: dict[str, list[str | None]] = {h: [] for h in header}
    geoms: list[Any] = []
    for number, cells in enumerate(body, start=1):
        cells = cells + [""] * (len(header) - len(cells))
        record = {h: (c.strip() or None) for h, c in zip(header, cells, strict=False)}
        for h in header:
            data[h].append(record[h])
        geoms.append(_csv_geometry(number, record, lon, lat, wkt, report))
    frame = gpd.GeoDataFrame(pd.DataFrame(data, dtype=object), geometry=gpd.GeoSeries(geoms).values, crs=None)
    frame.index = range(1, len(frame) + 1)
    report.notes.append(f"CSV read with '{delimiter}' as separator" + (f", coordinates from '{lon}'/'{lat}'"
                                                                       if lon and lat else f", geometry from '{wkt}'"))
    # A CSV cannot say its CRS; a .prj of the same name beside it (WKT or e.g. 'EPSG:3405') can, as for a shapefile.
    prj = path.with_suffix(".prj")
    declared = prj.read_text("utf-8").strip() if prj.exists() else None
    if declared:
        report.notes.append(f"CRS of the CSV taken from {prj.name}")
    return Source(frame=frame, format="CSV", lon_field=lon or wkt or "", lat_field=lat or wkt or "",
                  declared_crs=declared)


def _csv_geometry(row: int, record: dict[str, str | None], lon: str | None, lat: str | None, wkt: str | None,
                  report: ImportReport) -> Any:
    if lon and lat and (record.get(lon) or record.get(lat)):
        x, y = parse_number(record.get(lon)), parse_number(record.get(lat))
        for name, value, parsed in ((lon, record.get(lon), x), (lat, record.get(lat), y)):
            if parsed is None and value:
                report.reject(row, name, f"'{value}' is not a number (decimal degrees, e.g. 103.0165)")
        if x is None or y is None:
            return None  # an empty or unparseable coordinate: reported as empty geometry unless already rejected
        return shapely.Point(x, y)
    if wkt and record.get(wkt):
        try:
            return shapely.from_wkt(record[wkt])
        except shapely.errors.GEOSException as exc:
            report.reject(row, wkt, f"not a WKT geometry: {exc}")
    return None


def parse_number(value: str | None) -> float | None:
    """A number as people type it in Vietnamese spreadsheets: '21,3856' with a decimal comma is 21.3856."""
    if value is None:
        return None
    s = value.strip().replace("\u00a0", "").replace(" ", "")
    if "," in s and "." not in s:
        s = s.replace(",", ".")
    try:
        number = float(s)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _check_utf8_text(raw: bytes, report: ImportReport, feature_pattern: bytes | None) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        if feature_pattern is None:
            row: int | None = line - 1 if line > 1 else None  # line 1 is the CSV header
            field = None
        else:
            row = len(re.findall(feature_pattern, raw[:exc.start])) or None
            field = None
        report.reject(row, field, f"not UTF-8: byte {exc.start} (0x{raw[exc.start]:02x}, line {line}, column {col}) "
                                  f"is not valid UTF-8; re-save the file as UTF-8 (Excel: 'CSV UTF-8')")
        raise FileRejected from exc


def _check_dbf_utf8(shp: Path, report: ImportReport) -> None:
    """Decode every text cell of the .dbf as UTF-8 and name the first bad record and field of each kind."""
    dbf = next((p for p in (shp.with_suffix(".dbf"), shp.with_suffix(".DBF")) if p.exists()), None)
    if dbf is None:
        report.reject(None, None, f"{shp.name} has no .dbf file beside it (attributes missing)")
        raise FileRejected
    raw = dbf.read_bytes()
    count, header_len, record_len = struct.unpack("<IHH", raw[4:12])
    fields: list[tuple[str, int, int]] = []  # name, offset in record, length
    offset, pos = 1, 32  # each record starts with its deletion flag
    while pos + 32 <= header_len and raw[pos] != 0x0D:
        name = raw[pos:pos + 11].split(b"\x00", 1)[0].decode("ascii", "replace")
        length = raw[pos + 16]
        if chr(raw[pos + 11]) == "C":
            length += raw[pos + 17] * 256  # long character fields use the decimal-count byte as a high byte
        fields.append((name, offset, length))
        offset += length
        pos += 32
    cpg = shp.with_suffix(".cpg")
    declared = cpg.read_text("ascii", "replace").strip() if cpg.exists() else None
    bad = 0
    for record in range(count):
        start = header_len + record * record_len
        for name, off, length in fields:
            cell = raw[start + off:start + off + length]
            try:
                cell.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad += 1
                hint = f" (the .cpg declares '{declared}')" if declared and "utf" not in declared.lower() else ""
                report.reject(record + 1, name, f"not UTF-8{hint}: byte {start + off + exc.start} of {dbf.name} "
                                                f"(0x{cell[exc.start]:02x}) is not valid UTF-8; re-save the "
                                                f"attributes as UTF-8")
    if bad:
        raise FileRejected
