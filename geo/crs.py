"""Coordinate reference systems sitmap meets: WGS 84 (storage, EPSG:4326) and VN-2000, Vietnam's national datum.

VN-2000 (EPSG:4756, its UTM zones 3405/3406 and the provincial TM-3 zones) shares the WGS 84 ellipsoid but not
its datum: the Helmert shift between the two moves points by about 200-300 m in northern Vietnam. Declared
once here for the importers (which add the shift when a file leaves it out) and the web map (which shows an
officer's position in VN-2000 / UTM as well as in degrees).
"""

from __future__ import annotations

from pyproj import CRS

WGS84 = CRS.from_epsg(4326)
# Official VN-2000 -> WGS84 parameters (Decision 05/2007/QĐ-BTNMT), position-vector convention as +towgs84 takes.
VN2000_TOWGS84 = "-191.90441429,-39.30318279,-111.45032835,-0.00928836,0.01975479,-0.00427372,0.252906278"
# How datum and CRS names spell VN-2000 (lower case), for recognising it in a file's declaration.
VN2000_DATUM_NAMES = ("vietnam 2000", "vietnam_2000", "vn-2000", "vn_2000", "vn2000")
# The UTM zones Điện Biên and its neighbours fall in.
VN2000_UTM_ZONES = (48, 49)


def vn2000_utm_proj4(zone: int) -> str:
    """EPSG:3405/3406-style VN-2000 / UTM zone ``zone`` N as a proj4 string, the datum shift included."""
    return f"+proj=utm +zone={zone} +ellps=WGS84 +towgs84={VN2000_TOWGS84} +units=m +no_defs"
