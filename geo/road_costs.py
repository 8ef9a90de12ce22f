"""Travel cost of a road edge in seconds, from its class speed (settings), a speed limit and steep ground.

Speeds per class are settings (``SITMAP_ROAD_SPEED_<CLASS>_KMH``, see data/settings.py), declared there once
for every importer. An edge's cost is ``length_m / (speed_kmh / 3.6)``, where the speed is the class speed (a
``maxspeed`` can only lower it: a legal limit bounds what a mountain road allows, it does not raise it),
divided by the terrain factor ``1 + per_grade × min(grade, max_grade)`` and never below the minimum speed.
The demo generates its own speeds and slopes (data/demo/dienbien.yaml) with the same formula.
"""

from __future__ import annotations

from data import vocab
from data.settings import Settings

ROAD_CLASS_CODES = vocab.codes(vocab.ROAD_CLASSES)

# A class added to the vocabulary without a speed setting would make every edge of that class unroutable.
_missing = [c for c in ROAD_CLASS_CODES if f"road_speed_{c}_kmh" not in Settings.model_fields]
assert not _missing, f"data/settings.py needs road_speed_<class>_kmh for {_missing}"


def class_speeds(settings: Settings) -> dict[str, float]:
    """Free-flow speed (km/h) of each road class."""
    return {c: float(getattr(settings, f"road_speed_{c}_kmh")) for c in ROAD_CLASS_CODES}


def slope_factor(grade: float, settings: Settings) -> float:
    """The terrain factor of a mean absolute grade (0.1 = 10 %): 1 on flat ground, larger on steep ground."""
    return 1.0 + settings.road_slope_per_grade * min(abs(grade), settings.road_slope_max_grade)


def travel_speed_kmh(road_class: str, settings: Settings, *, limit_kmh: float | None = None,
                     slope: float = 1.0) -> float:
    base = class_speeds(settings)[road_class]
    if limit_kmh is not None:
        base = min(base, limit_kmh)
    return max(base / slope, min(settings.road_min_speed_kmh, base))


def cost_seconds(length_m: float, speed_kmh: float) -> float:
    return length_m / (speed_kmh / 3.6)
