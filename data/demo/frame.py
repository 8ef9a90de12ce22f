"""A local metric frame for generating geometry: an affine (equirectangular) map of lon/lat to metres.

Affine on purpose: straight lines stay straight and shared vertices stay shared when geometries go back
to EPSG:4326, so a tiling computed here is still a tiling in the database. Its scale error (about ±1.5 %
across a province) is harmless for generation; stored areas and lengths are computed in PostGIS on the
geography type, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

METRES_PER_DEGREE_LAT = 110_574.0
METRES_PER_DEGREE_LON_EQUATOR = 111_320.0


@dataclass(frozen=True)
class Frame:
    lon0: float
    lat0: float

    @classmethod
    def around(cls, geom: shapely.Geometry) -> Frame:
        c = geom.centroid
        return cls(round(c.x, 4), round(c.y, 4))

    @property
    def kx(self) -> float:
        return METRES_PER_DEGREE_LON_EQUATOR * float(np.cos(np.radians(self.lat0)))

    def xy(self, lonlat: np.ndarray) -> np.ndarray:
        lonlat = np.asarray(lonlat, dtype=float)
        return np.column_stack([(lonlat[:, 0] - self.lon0) * self.kx,
                                (lonlat[:, 1] - self.lat0) * METRES_PER_DEGREE_LAT])

    def lonlat(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=float)
        return np.column_stack([xy[:, 0] / self.kx + self.lon0, xy[:, 1] / METRES_PER_DEGREE_LAT + self.lat0])

    def to_local(self, geom):
        return shapely.transform(geom, self.xy)

    def to_lonlat(self, geom):
        return shapely.transform(geom, self.lonlat)
