"""Measures on the WGS 84 ellipsoid, for geometries in EPSG:4326 degrees (lon, lat): metres and km²."""

from __future__ import annotations

from pyproj import Geod
from shapely.geometry.base import BaseGeometry

GEOD = Geod(ellps="WGS84")


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance in metres between two points."""
    return float(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def length_m(geom: BaseGeometry) -> float:
    """Geodesic length in metres of a line (0 for points)."""
    return float(GEOD.geometry_length(geom))


def area_km2(geom: BaseGeometry) -> float:
    """Geodesic area in km² of a polygon, whatever its ring orientation."""
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6
