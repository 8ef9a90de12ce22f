"""Row checks that need no database: columns, geometry types and repair, names, vocabulary, numbers, areas."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date
from typing import Any

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from data import vocab
from data.importers.reading import Source, parse_number
from data.importers.report import ImportReport
from geo.geodesic import area_km2

AREA_TOLERANCE = 0.05  # a stated area may differ from the polygon's by at most 5 %


def column(source: Source, *names: str) -> str | None:
    """The file's column for the first of ``names`` present (case-insensitive), or None."""
    lowered = {str(c).lower(): str(c) for c in source.frame.columns if c != "geometry"}
    found = next((lowered[n] for n in names if n in lowered), None)
    if found is None and source.format == "Shapefile":
        # dBase cuts field names to 10 characters: 'visit_interval_hours' arrives as 'visit_inte'.
        found = next((lowered[n[:10]] for n in names if len(n) > 10 and n[:10] in lowered), None)
    return found


def rows(source: Source) -> Iterable[tuple[int, dict[str, Any], BaseGeometry | None]]:
    """Rows not yet rejected: (row number, attributes, geometry)."""
    frame = source.frame
    attrs = [c for c in frame.columns if c != "geometry"]
    for row, geom, values in zip(frame.index, frame.geometry, frame[attrs].itertuples(index=False), strict=True):
        if row not in source.rejected_rows:
            yield int(row), dict(zip(attrs, values, strict=True)), geom


def required_text(report: ImportReport, row: int, record: dict[str, Any], col: str | None, what: str,
                  hint: str) -> str | None:
    value = record.get(col) if col else None
    if not value:
        report.reject(row, col or what, f"missing {what}: {hint}")
        return None
    return unicodedata.normalize("NFC", str(value))


def term(report: ImportReport, row: int, field: str, value: str | None, terms: tuple[vocab.Term, ...],
         what: str) -> str | None:
    """The vocabulary code for ``value``, given as the code or its Vietnamese or English label."""
    if not value:
        report.reject(row, field, f"missing {what}; valid values: {valid_list(terms)}")
        return None
    key = unicodedata.normalize("NFC", value).strip().casefold()
    for t in terms:
        if key in (t.code.casefold(), t.vi.casefold(), t.en.casefold()):
            return t.code
    report.reject(row, field, f"unknown {what} '{value}'; valid values: {valid_list(terms)}")
    return None


def term_from_name_prefix(name: str, terms: tuple[vocab.Term, ...]) -> str | None:
    """'Xã Mường Nhé' -> 'commune': the Vietnamese label a name starts with (longest label first)."""
    folded = unicodedata.normalize("NFC", name).casefold()
    for t in sorted(terms, key=lambda t: -len(t.vi)):
        if folded.startswith(t.vi.casefold() + " "):
            return t.code
    return None


def valid_list(terms: tuple[vocab.Term, ...]) -> str:
    return ", ".join(f"{t.code} ({t.vi} / {t.en})" for t in terms)


def optional_number(report: ImportReport, row: int, record: dict[str, Any], col: str | None, *,
                    integer: bool = False, positive: bool = False) -> float | int | None:
    raw = record.get(col) if col else None
    if raw is None:
        return None
    number = parse_number(str(raw))
    if number is None:
        report.reject(row, col, f"'{raw}' is not a number")
        return None
    if number < 0 or (positive and number == 0):
        report.reject(row, col, f"{raw} must be {'greater than zero' if positive else 'zero or more'}")
        return None
    if integer:
        if not float(number).is_integer():
            report.reject(row, col, f"{raw} must be a whole number")
            return None
        return int(number)
    return number


def optional_date(report: ImportReport, row: int, record: dict[str, Any], col: str | None) -> date | None:
    raw = record.get(col) if col else None
    if raw is None:
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        report.reject(row, col, f"'{raw}' is not a date; write it as YYYY-MM-DD")
        return None


def duplicates(report: ImportReport, values: dict[int, str], field: str, what: str) -> None:
    """Reject every repeat of a value within the file, naming the row that had it first."""
    first: dict[str, int] = {}
    for row, value in sorted(values.items()):
        if value in first:
            report.reject(row, field, f"duplicate {what} '{value}': row {first[value]} has it too")
        else:
            first[value] = row


def point(report: ImportReport, source: Source, row: int, geom: BaseGeometry | None) -> Point | None:
    if geom is None or geom.is_empty:
        report.reject(row, _geom_field(source), "empty geometry: the row has no coordinates")
        return None
    geom = shapely.force_2d(geom)
    if geom.geom_type == "MultiPoint" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    if geom.geom_type != "Point":
        report.reject(row, "geometry", f"expected a point, found a {geom.geom_type}")
        return None
    return geom


def lines(report: ImportReport, source: Source, row: int, geom: BaseGeometry | None) -> list[LineString] | None:
    if geom is None or geom.is_empty:
        report.reject(row, _geom_field(source), "empty geometry: the row has no coordinates")
        return None
    geom = shapely.force_2d(geom)
    parts = list(geom.geoms) if geom.geom_type == "MultiLineString" else [geom]
    if any(p.geom_type != "LineString" for p in parts):
        report.reject(row, "geometry", f"expected a line, found a {geom.geom_type}")
        return None
    kept = [p for p in parts if not p.is_empty and p.length > 0]
    if not kept:
        report.reject(row, "geometry", "the line has no length (all its points coincide)")
        return None
    return kept


def polygon(report: ImportReport, source: Source, row: int, geom: BaseGeometry | None,
            label: str) -> MultiPolygon | None:
    """A valid MultiPolygon; invalid input is repaired with make_valid (keeping polygonal parts) and reported."""
    if geom is None or geom.is_empty:
        report.reject(row, _geom_field(source), "empty geometry: the row has no polygon")
        return None
    geom = shapely.force_2d(geom)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        report.reject(row, "geometry", f"expected a polygon, found a {geom.geom_type}")
        return None
    if not geom.is_valid:
        why = shapely.is_valid_reason(geom)
        repaired = polygonal_part(shapely.make_valid(geom))
        if repaired is None:
            report.reject(row, "geometry", f"invalid polygon ({why}) that cannot be repaired: repairing it leaves "
                                           f"no area; redraw the boundary")
            return None
        change = abs(area_km2(repaired) - area_km2(geom.buffer(0)))
        report.repairs.append(f"row {row} ({label}): invalid polygon ({why}) repaired with make_valid, "
                              f"polygonal parts kept ({change:.3f} km² changed)")
        geom = repaired
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def polygonal_part(geom: BaseGeometry) -> MultiPolygon | None:
    parts: list[Polygon] = []
    stack = [geom]
    while stack:
        g = stack.pop()
        if isinstance(g, Polygon):
            if not g.is_empty and g.area > 0:
                parts.append(g)
        elif hasattr(g, "geoms"):
            stack.extend(g.geoms)
    if not parts:
        return None
    merged = shapely.union_all(parts)
    merged = merged if isinstance(merged, MultiPolygon) else MultiPolygon([merged])
    return merged if merged.is_valid and not merged.is_empty else None


def stated_area(report: ImportReport, row: int, col: str | None, stated: float | None, geom: MultiPolygon) -> None:
    if stated is None:
        return
    actual = area_km2(geom)
    if actual == 0 or abs(stated - actual) / actual > AREA_TOLERANCE:
        diff = (stated - actual) / actual * 100 if actual else float("inf")
        report.reject(row, col, f"stated area {stated:g} km² differs from the polygon's area {actual:.2f} km² by "
                                f"{diff:+.1f} % (more than {AREA_TOLERANCE:.0%}): check the area or the boundary")


def _geom_field(source: Source) -> str:
    if source.lon_field == source.lat_field:
        return source.lon_field
    return f"{source.lon_field}/{source.lat_field}"
