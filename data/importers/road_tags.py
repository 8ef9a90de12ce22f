"""OpenStreetMap-style road tags read as sitmap's terms: highway -> road class, maxspeed, oneway, incline.

The same reading serves an OSM extract and any GeoJSON/GeoPackage with OSM-style columns. Values follow the
OSM wiki (Key:highway, Key:maxspeed, Key:oneway, Key:incline); a value these functions cannot read returns
None so the caller can say which rows had it.
"""

from __future__ import annotations

import math
import re

# highway=* -> road class. Values not listed (construction, proposed, abandoned, platform, bus_stop, corridor,
# elevator, raceway, services, rest_area, escape, busway, bus_guideway, via_ferrata, ...) are not ways a
# resident or a patrol travels today: those lines are skipped and counted in the report.
HIGHWAY_CLASS: dict[str, str] = {
    **dict.fromkeys(("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"), "national"),
    **dict.fromkeys(("secondary", "secondary_link"), "provincial"),
    **dict.fromkeys(("tertiary", "tertiary_link", "unclassified", "residential", "living_street", "road"),
                    "commune"),
    **dict.fromkeys(("track", "service"), "village_track"),
    **dict.fromkeys(("path", "footway", "steps", "bridleway", "pedestrian", "cycleway"), "footpath"),
}

# Ways that are one-way unless tagged otherwise (OSM: motorways, and roundabouts through junction=*).
IMPLIED_ONEWAY_HIGHWAY = ("motorway", "motorway_link")
IMPLIED_ONEWAY_JUNCTION = ("roundabout", "circular")

FORWARD, BACKWARD, BOTH = "forward", "backward", "both"
_ONEWAY = {
    **dict.fromkeys(("yes", "true", "1", "y", "co", "có"), FORWARD),
    **dict.fromkeys(("-1", "reverse"), BACKWARD),
    # reversible/alternating: the open direction changes by the hour; both ways are kept as possible.
    **dict.fromkeys(("no", "false", "0", "n", "khong", "không", "reversible", "alternating"), BOTH),
}

_SPEED = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)
_TO_KMH = {None: 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}
_INCLINE = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*(%|°)?\s*$")


def road_class(highway: str | None) -> str | None:
    return HIGHWAY_CLASS.get((highway or "").strip().casefold())


def maxspeed_kmh(value: str) -> float | None:
    """'50', '50 km/h', '30 mph' -> km/h; 'none', 'walk', 'VN:urban' or '50;30' -> None (unreadable)."""
    m = _SPEED.match(value)
    if not m:
        return None
    number = float(m.group(1).replace(",", "."))
    unit = m.group(2).casefold() if m.group(2) else None
    return number * _TO_KMH[unit] if number > 0 else None


def direction(oneway: str | None, highway: str | None = None, junction: str | None = None) -> str | None:
    """FORWARD, BACKWARD or BOTH for an oneway value (with OSM's implied one-ways); None if unreadable."""
    if oneway is None or not oneway.strip():
        implied = ((highway or "").strip().casefold() in IMPLIED_ONEWAY_HIGHWAY
                   or (junction or "").strip().casefold() in IMPLIED_ONEWAY_JUNCTION)
        return FORWARD if implied else BOTH
    return _ONEWAY.get(oneway.strip().casefold())


def grade(incline: str) -> float | None:
    """An incline as a fraction: '12%' and '12' are 12 % (OSM's default unit), '5°' is tan 5°; 'up', 'down'
    and other words have no number and return None."""
    m = _INCLINE.match(incline)
    if not m:
        return None
    number = abs(float(m.group(1).replace(",", ".")))
    return math.tan(math.radians(number)) if m.group(2) == "°" else number / 100.0
