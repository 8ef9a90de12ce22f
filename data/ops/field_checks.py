"""The checks of a position, its accuracy and a reported time that incidents and patrol check-ins share: each
error says which field is wrong and how to fix it (an OpsError, answered as a problem document)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from data import limits as bounds
from data.ops.errors import invalid


@dataclass(frozen=True)
class Limits:
    """What a reported item may hold (from the settings; the defaults are the product's)."""

    max_description_chars: int = bounds.DESCRIPTION_CHARS
    future_tolerance_s: int = 300
    earliest_occurred_at: datetime = bounds.BOUNDARIES_FROM

    @classmethod
    def from_settings(cls, s: Any) -> Limits:
        return cls(max_description_chars=s.max_description_chars, future_tolerance_s=s.future_tolerance_s,
                   earliest_occurred_at=s.earliest_occurred_at)


def check_time(name: str, at: datetime, limits: Limits, now: datetime | None = None) -> None:
    """A reported time needs an offset and lies between the start of the commune boundaries it is filed
    under and a few minutes from now (phones' clocks drift)."""
    if at.tzinfo is None:
        raise invalid(f"{name} needs a UTC offset, e.g. 2025-08-01T14:30:00+07:00", field=name)
    now = now or datetime.now(UTC)
    if at > now + timedelta(seconds=limits.future_tolerance_s):
        raise invalid(f"{name} {at.isoformat()} is in the future (server time {now.isoformat(timespec='seconds')}, "
                      f"{limits.future_tolerance_s} s of clock drift allowed); send the time it happened",
                      field=name)
    if at < limits.earliest_occurred_at:
        since = limits.earliest_occurred_at.isoformat()
        raise invalid(f"{name} {at.isoformat()} is before {since}, when the commune boundaries of 2025 took "
                      "effect: the server files it under the commune of 2025 containing the point, which did not "
                      "exist then; check the date (an administrator can move the bound with "
                      "SITMAP_EARLIEST_OCCURRED_AT)", field=name, earliest=since)


def check_point(lon: float, lat: float) -> None:
    """Finite coordinates in range; the error names the coordinate that is wrong."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise invalid("lon and lat must be finite numbers", field="lon" if not math.isfinite(lon) else "lat")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        if -90 <= lon <= 90 and -180 <= lat <= 180:
            raise invalid(f"lat={lat} is out of range but lon and lat swapped would be valid: the "
                          "coordinates look swapped; send lon (east, x) and lat (north, y)", field="lat",
                          swapped=True)
        if not -90 <= lat <= 90:
            raise invalid(f"lat={lat} is out of range: lat (north, y) must lie in [-90, 90]", field="lat")
        raise invalid(f"lon={lon} is out of range: lon (east, x) must lie in [-180, 180]", field="lon")


def check_accuracy(accuracy_m: float | None) -> None:
    if accuracy_m is not None and not (math.isfinite(accuracy_m) and accuracy_m >= 0):
        raise invalid("accuracy_m must be a finite number of metres, zero or more", field="accuracy_m")
