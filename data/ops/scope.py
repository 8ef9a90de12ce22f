"""The commune-scope condition of data/permissions.py, as ops apply it: in a scoped query's WHERE clause
(``in_scope`` with ``scope_params``) or as a 403 naming the commune (``require_in_scope``). Whether an
action is limited to the caller's communes is the table's ``within_communes``; the ops never decide it."""

from __future__ import annotations

from typing import Any

from data.ops.errors import forbidden
from data.permissions import Caller, communes_for, may


def scope_params(caller: Caller, action: str) -> dict[str, Any]:
    units = communes_for(caller, action)
    return {"scope_all": units is None, "scope_units": sorted(units or ())}


def in_scope(column: str) -> str:
    """SQL condition: ``column`` (an admin_unit id) lies in the caller's scope (params from scope_params)."""
    return f"(%(scope_all)s OR {column} = ANY(%(scope_units)s::int[]))"


def require_in_scope(caller: Caller, action: str, unit_id: int | None, what: str, unit_name: str,
                     unit_code: str) -> None:
    """Refuse (403) when ``what`` lies in a commune outside those the caller may do ``action`` in."""
    units = communes_for(caller, action)
    if units is not None and unit_id not in units:
        raise forbidden(f"{what} lies in {unit_name} ({unit_code}), outside your communes", unit_code=unit_code)


def sees_details(caller: Caller) -> bool:
    """Whether the caller may read personal details (the rows it may read at all carry them)."""
    return may(caller, "personal.read")
