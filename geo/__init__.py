"""Spatial helpers that are not about storage: CRS, geodesic measures, road travel costs (and the
analyses built on them). Functions take and return frames or arrays and state their units and CRS."""
