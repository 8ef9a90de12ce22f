"""Free-flow speed per road class (km/h), declared once: the importers and the demo both cost edges with it.

Speeds are typical for Vietnam's northern mountains (winding, narrow, mixed traffic), not legal limits.
An edge's cost in seconds is ``length_m / (speed_kmh / 3.6) * slope_factor``.
"""

from __future__ import annotations

from data import vocab

SPEED_KMH: dict[str, float] = {
    "national": 50.0,
    "provincial": 40.0,
    "commune": 30.0,
    "village_track": 15.0,
    "footpath": 4.0,
}

# A class added to the vocabulary without a speed would make every edge of that class unroutable.
assert set(SPEED_KMH) == set(vocab.codes(vocab.ROAD_CLASSES)), "road_costs.SPEED_KMH must cover vocab.ROAD_CLASSES"


def cost_seconds(length_m: float, speed_kmh: float, slope_factor: float = 1.0) -> float:
    return length_m / (speed_kmh / 3.6) * slope_factor
