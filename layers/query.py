"""Parsing of the client's query: bbox, datetime, limit, offset and property filters, into typed values.

Each function raises ``BadQuery`` with a message that says what was wrong and what is accepted; the routers
turn it into a 400 problem document.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from layers.model import Layer, Prop

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# PostgreSQL's OFFSET is a bigint: a larger offset cannot be asked of it (and would skip every feature anyway).
MAX_OFFSET = 2**63 - 1
# A next link asks for at least this many features. Clients that page through a whole layer with the page size
# the standard uses as its example (10: GDAL before 3.8 reads no page size from the API definition) then make
# one request per thousand features after the first page instead of one per ten.
NEXT_PAGE_MIN_LIMIT = 1_000


class BadQuery(ValueError):
    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter
        self.detail = detail


@dataclass(frozen=True)
class TimeRange:
    """A closed interval; None is an open end. ``instant`` is a single instant (start == end)."""

    start: datetime | None
    end: datetime | None


@dataclass
class Query:
    bbox: tuple[float, float, float, float] | None = None
    time: TimeRange | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """A canonical text of the query, part of cache keys."""
        t = (self.time.start, self.time.end) if self.time else None
        return repr((self.bbox, t, sorted(self.filters.items())))


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise BadQuery("bbox", f"bbox {raw!r} is not a list of numbers; use bbox=minLon,minLat,maxLon,maxLat "
                               "in WGS 84 degrees, e.g. bbox=102.9,21.3,103.1,21.5") from None
    if len(nums) == 6:  # minx,miny,minz,maxx,maxy,maxz: the heights are not used
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(math.isfinite(n) for n in nums):
        raise BadQuery("bbox", f"bbox {raw!r} needs 4 (or 6) finite numbers: minLon,minLat,maxLon,maxLat")
    x1, y1, x2, y2 = nums
    if not (-180 <= x1 <= 180 and -180 <= x2 <= 180 and -90 <= y1 <= 90 and -90 <= y2 <= 90):
        raise BadQuery("bbox", f"bbox {raw!r} is outside longitude -180..180 / latitude -90..90")
    if y1 > y2:
        raise BadQuery("bbox", f"bbox {raw!r}: the minimum latitude {y1} is above the maximum {y2}")
    if x1 > x2:
        raise BadQuery("bbox", f"bbox {raw!r}: boxes crossing the antimeridian are not supported; "
                               "give minLon <= maxLon")
    return x1, y1, x2, y2


def _parse_instant(text: str, *, end: bool) -> datetime:
    """RFC 3339 date-time, or a date (the whole day: its start, or its end when closing an interval)."""
    t = text.strip()
    try:
        if len(t) == 10:
            d = date.fromisoformat(t)
            moment = datetime.combine(d, time.min, UTC)
            return moment + timedelta(days=1) - timedelta(microseconds=1) if end else moment
        value = datetime.fromisoformat(t.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery("datetime", f"{text!r} is not an RFC 3339 date-time or date; use e.g. "
                                   "2025-07-01T00:00:00Z or 2025-07-01") from None
    except OverflowError:  # the end of 9999-12-31 as a date: one day later is past the calendar
        return datetime.max.replace(tzinfo=UTC)
    if value.tzinfo is None:
        raise BadQuery("datetime", f"{text!r} has no time zone; add Z or an offset such as +07:00")
    try:
        # In UTC, as the database compares it; an offset can push 0001-01-01 or 9999-12-31 off the calendar.
        return value.astimezone(UTC)
    except OverflowError:
        raise BadQuery("datetime", f"{text!r} lies outside the years 1..9999 once shifted to UTC") from None


def parse_datetime(raw: str | None) -> TimeRange | None:
    """OGC API datetime: an instant, or an interval ``start/end`` with ``..`` or empty for an open end."""
    if raw is None or raw == "":
        return None
    if "/" in raw:
        a, _, b = raw.partition("/")
        if "/" in b:
            raise BadQuery("datetime", f"datetime {raw!r} has more than one '/'; use start/end")
        start = None if a in ("", "..") else _parse_instant(a, end=False)
        stop = None if b in ("", "..") else _parse_instant(b, end=True)
        if start is None and stop is None:
            raise BadQuery("datetime", "datetime '../..' is open at both ends; leave datetime out instead")
        if start and stop and start > stop:
            raise BadQuery("datetime", f"datetime {raw!r}: the start is after the end")
        return TimeRange(start, stop)
    if raw.strip() == "..":
        raise BadQuery("datetime", "datetime '..' alone is not an instant; give a date-time or an interval")
    if len(raw.strip()) == 10:  # a date as an instant means that whole day
        return TimeRange(_parse_instant(raw, end=False), _parse_instant(raw, end=True))
    moment = _parse_instant(raw, end=False)
    return TimeRange(moment, moment)


def _integer(name: str, raw: str | None, use: str) -> int | None:
    """The integer a paging parameter holds; None when it is absent or empty."""
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadQuery(name, f"{name} {raw!r} is not an integer; use {use}") from None


def parse_limit(raw: str | None) -> int:
    value = _integer("limit", raw, f"1..{MAX_LIMIT}")
    if value is None:
        return DEFAULT_LIMIT
    if value < 1:
        raise BadQuery("limit", f"limit {value} must be at least 1 (at most {MAX_LIMIT}; more is clamped)")
    return min(value, MAX_LIMIT)  # the standard asks larger values to be clamped, not refused


def parse_offset(raw: str | None) -> int:
    value = _integer("offset", raw, "0 or more")
    if value is None:
        return 0
    if value < 0:
        raise BadQuery("offset", f"offset {value} must be 0 or more")
    if value > MAX_OFFSET:
        raise BadQuery("offset", f"offset {value} is larger than {MAX_OFFSET}, the largest the database can skip")
    return value


def next_limit(limit: int) -> int:
    """The page size a next link asks for: the client's, or more (see NEXT_PAGE_MIN_LIMIT)."""
    return min(MAX_LIMIT, max(limit, NEXT_PAGE_MIN_LIMIT))


def parse_value(prop: Prop, raw: str) -> Any:
    """A filter value typed by its property; vocabulary values are checked against the vocabulary."""
    name = prop.name
    try:
        if prop.type == "integer":
            return int(raw)
        if prop.type == "number":
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return value
        if prop.type == "boolean":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError
            return lowered in ("true", "1")
        if prop.type == "date":
            return date.fromisoformat(raw)
        if prop.type == "datetime":
            return _parse_instant(raw, end=False)
    except (ValueError, BadQuery):
        raise BadQuery(name, f"{name}={raw!r} is not a valid {prop.type}") from None
    if prop.terms is not None:
        codes = [t.code for t in prop.terms]
        if raw not in codes:
            raise BadQuery(name, f"{name}={raw!r} is not one of the values: {', '.join(codes)}")
    return raw


def parse_id(layer: Layer, raw: str) -> Any | None:
    """The typed feature id, or None when it cannot be an id of this layer (then it is simply not found)."""
    try:
        if layer.id_type == "integer":
            value = int(raw)
            return value if -(2**63) <= value < 2**63 else None
        if layer.id_type == "uuid":
            return uuid.UUID(raw)
    except ValueError:
        return None
    return raw


COMMON_PARAMS = frozenset({"f", "limit", "offset", "bbox", "bbox-crs", "datetime", "crs", "lang"})


def parse_filters(layer: Layer, params: Any, filterable: list[Prop], *, extra: frozenset[str] = frozenset()
                  ) -> dict[str, Any]:
    """Equality filters from the query string; an unknown parameter is a 400 that lists the known ones."""
    by_name = {p.name: p for p in filterable if p.filterable}
    filters: dict[str, Any] = {}
    for key in params:
        if key in COMMON_PARAMS or key in extra:
            continue
        prop = by_name.get(key)
        if prop is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise BadQuery(key, f"unknown query parameter {key!r} for {layer.id}; the property filters are: "
                                f"{known}; the others: {', '.join(sorted(COMMON_PARAMS | extra))}")
        values = params.getlist(key) if hasattr(params, "getlist") else [params[key]]
        if len(values) > 1:
            raise BadQuery(key, f"{key} is given {len(values)} times; give it once")
        filters[key] = parse_value(prop, values[0])
    return filters


def parse_query(layer: Layer, params: Any, filterable: list[Prop], *, extra: frozenset[str] = frozenset()
                ) -> Query:
    return Query(bbox=parse_bbox(params.get("bbox")), time=parse_datetime(params.get("datetime")),
                 filters=parse_filters(layer, params, filterable, extra=extra))
