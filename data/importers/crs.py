"""Bring coordinates from whatever CRS the file declares to EPSG:4326, with VN-2000 handled explicitly.

A custom proj string or WKT for a VN-2000 TM-3 zone often carries no datum shift at all (geo/crs.py says why
that matters), and PROJ then silently treats it as WGS84 ("ballpark"). We detect that, add the official
7-parameter shift and say so.
"""

from __future__ import annotations

import warnings

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.transformer import TransformerGroup

from data.importers.reading import FileRejected, Source
from data.importers.report import ImportReport
from geo.crs import VN2000_DATUM_NAMES, VN2000_TOWGS84, WGS84
from geo.geodesic import distance_m


def to_wgs84(source: Source, report: ImportReport) -> None:
    """Reproject ``source.frame`` in place to EPSG:4326, or reject the file when its CRS cannot be known."""
    frame = source.frame
    declared = source.declared_crs
    if declared is None:
        _assume_degrees(source, report)
        return
    try:
        crs = CRS.from_user_input(declared)
    except Exception as exc:  # noqa: BLE001 - PROJ's message names what it could not parse
        report.reject(None, None, f"the file's CRS cannot be understood: {exc}")
        raise FileRejected from exc
    if crs.is_geographic:
        _reject_latitudes_beyond_90(source, report)
    if crs.equals(WGS84, ignore_axis_order=True):
        frame.set_crs(WGS84, allow_override=True, inplace=True)
        _swap_in_source_crs(source, None)
        return
    if is_vn2000(crs) and not has_datum_shift(crs):
        bound = with_vn2000_shift(crs)
        moved = _displacement_m(frame, crs, bound)
        report.warnings.append(
            f"the file's CRS '{crs.name}' is VN-2000 but declares no datum shift to WGS84 (no TOWGS84/+towgs84): "
            f"applied the official 7-parameter shift +towgs84={VN2000_TOWGS84}; without it the points would be "
            f"about {moved:.0f} m off. Add the shift to the file's CRS to silence this warning")
        crs = bound
    report.notes.append(f"reprojected from '{crs.name}' to EPSG:4326 ({_transformation(crs)})")
    frame.set_crs(crs, allow_override=True, inplace=True)
    _swap_in_source_crs(source, crs)
    with np.errstate(all="ignore"):
        projected = frame.to_crs(WGS84)
    frame.set_geometry(projected.geometry.values, inplace=True, crs=WGS84)
    _reject_non_finite(source, report, crs)


def is_vn2000(crs: CRS) -> bool:
    datum = crs.geodetic_crs.datum.name.lower() if crs.geodetic_crs else ""
    if any(n in datum or n in crs.name.lower() for n in VN2000_DATUM_NAMES):
        return True
    if _tm3_signature(crs):
        return True
    # A bare proj string (tmerc, k=0.9999, WGS84 ellipsoid) has an "unknown" datum: ask PROJ which registered
    # CRS it matches, e.g. "+lon_0=103 +k=0.9999" is EPSG:9205 VN-2000 / TM-3 103-00.
    for match in crs.list_authority(min_confidence=70):
        try:
            known = CRS.from_authority(match.auth_name, match.code)
        except Exception:  # noqa: BLE001 - an unusable match is simply not VN-2000
            continue
        name = known.geodetic_crs.datum.name.lower() if known.geodetic_crs else ""
        if any(n in name for n in VN2000_DATUM_NAMES):
            return True
    return False


def _tm3_signature(crs: CRS) -> bool:
    """Transverse Mercator, scale 0.9999, false easting 500 km, central meridian in Vietnam's span, on the WGS84
    ellipsoid: the VN-2000 TM-3 provincial grid (UTM uses 0.9996), whatever the file calls its datum."""
    op = crs.coordinate_operation
    if op is None or "transverse mercator" not in op.method_name.lower() or crs.ellipsoid is None:
        return False
    params = {p.name.lower(): p.value for p in op.params}
    return (abs(params.get("scale factor at natural origin", 0) - 0.9999) < 1e-9
            and abs(params.get("false easting", 0) - 500000) < 1e-3
            and 102 <= params.get("longitude of natural origin", 0) <= 110
            and abs(crs.ellipsoid.semi_major_metre - 6378137.0) < 1e-3)


def has_datum_shift(crs: CRS) -> bool:
    """True when PROJ's best transformation to WGS84 applies a real datum shift (not a 'ballpark' no-op)."""
    if crs.is_bound:
        return True
    group = TransformerGroup(crs, WGS84, always_xy=True)
    return bool(group.transformers) and "ballpark" not in group.transformers[0].description.lower()


def with_vn2000_shift(crs: CRS) -> CRS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # to_proj4 warns that it may lose information; tmerc/utm/longlat do not
        proj4 = crs.to_proj4()
    proj4 = " ".join(p for p in proj4.split() if not p.startswith(("+towgs84", "+datum", "+type")))
    if "+ellps" not in proj4:
        proj4 += " +ellps=WGS84"
    return CRS.from_proj4(f"{proj4} +towgs84={VN2000_TOWGS84}")


def _transformation(crs: CRS) -> str:
    group = TransformerGroup(crs, WGS84, always_xy=True)
    return group.transformers[0].description if group.transformers else "no transformation known"


def _displacement_m(frame, without, with_shift) -> float:
    geoms = [g for g in frame.geometry if g is not None and not g.is_empty]
    if not geoms:
        return 0.0
    p = shapely.get_coordinates(geoms[0])[0]
    a = Transformer.from_crs(without, WGS84, always_xy=True).transform(p[0], p[1])
    b = Transformer.from_crs(with_shift, WGS84, always_xy=True).transform(p[0], p[1])
    return distance_m(a[0], a[1], b[0], b[1])


def _assume_degrees(source: Source, report: ImportReport) -> None:
    frame = source.frame
    valid = [g for g in frame.geometry if g is not None and not g.is_empty]
    coords = shapely.get_coordinates(valid) if valid else np.empty((0, 2))
    if len(coords) and (np.abs(coords) > 180).any():
        x, y = coords[np.argmax(np.abs(coords).max(axis=1))]
        report.reject(None, None, f"the file declares no coordinate reference system and its coordinates are not "
                                  f"degrees (e.g. x={x:.1f}, y={y:.1f}): save it with its CRS (a .prj beside a "
                                  f"shapefile or a CSV, holding its WKT or e.g. 'EPSG:3405' = VN-2000 / UTM 48N)")
        raise FileRejected
    message = ("no CRS declared; the coordinates are in degree range, so they were taken as WGS84 "
               "longitude/latitude (EPSG:4326)")
    (report.notes if source.format == "CSV" else report.warnings).append(message)
    frame.set_crs(WGS84, allow_override=True, inplace=True)
    _reject_latitudes_beyond_90(source, report)
    _swap_in_source_crs(source, None)


def _swap_in_source_crs(source: Source, crs: CRS | None) -> None:
    """Record each geometry with its axes swapped in the file's CRS (easting/northing, or lon/lat), in 4326."""
    transformer = Transformer.from_crs(crs, WGS84, always_xy=True) if crs is not None else None
    for row, g in source.frame.geometry.items():
        if g is None or g.is_empty or row in source.rejected_rows:
            continue
        swapped = shapely.transform(g, lambda c: c[:, ::-1])
        if transformer is not None:
            with np.errstate(all="ignore"):
                swapped = shapely.transform(swapped, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1])))
        coords = shapely.get_coordinates(swapped)
        if np.isfinite(coords).all() and (np.abs(coords[:, 1]) <= 90).all():
            source.swapped[row] = swapped


def _reject_latitudes_beyond_90(source: Source, report: ImportReport) -> None:
    frame = source.frame
    for row, g in frame.geometry.items():
        if g is None or g.is_empty:
            continue
        c = shapely.get_coordinates(g)
        if (np.abs(c[:, 1]) > 90).any():
            y = c[np.argmax(np.abs(c[:, 1])), 1]
            swapped_ok = (np.abs(c[:, 0]) <= 90).all()
            hint = (" — longitude and latitude look swapped: put longitude (east, ~102-110 in Vietnam) first"
                    if swapped_ok else "")
            report.reject(row, source.lat_field, f"latitude {y:g} is outside ±90{hint}")
            frame.loc[row, "geometry"] = None
            source.rejected_rows.add(row)


def _reject_non_finite(source: Source, report: ImportReport, crs: CRS) -> None:
    frame = source.frame
    for row, g in frame.geometry.items():
        if g is None or g.is_empty or row in source.rejected_rows:
            continue
        if not np.isfinite(shapely.get_coordinates(g)).all():
            report.reject(row, "geometry", f"coordinates cannot be transformed from '{crs.name}' (outside the "
                                           f"range of that CRS): check the CRS and the coordinate order")
            source.rejected_rows.add(row)
