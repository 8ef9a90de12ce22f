"""Who acts, and the commune-scope condition every scoped query carries in its WHERE clause."""

from __future__ import annotations

from typing import Any, Protocol

from data.ops.errors import forbidden

# Roles allowed to see personal details (descriptions, reporter names, assignee names) of incidents.
DETAIL_ROLES = frozenset({"admin", "commander", "officer"})
COMMAND_ROLES = frozenset({"admin", "commander"})
FIELD_ROLES = frozenset({"admin", "commander", "officer"})


class Actor(Protocol):
    user_id: int | None
    username: str
    role: str
    unit_ids: frozenset[int] | None  # None: province-wide


def scope_params(actor: Actor) -> dict[str, Any]:
    return {"scope_all": actor.unit_ids is None, "scope_units": sorted(actor.unit_ids or ())}


def in_scope(column: str) -> str:
    """SQL condition: ``column`` (an admin_unit id) lies in the actor's scope (params from scope_params)."""
    return f"(%(scope_all)s OR {column} = ANY(%(scope_units)s::int[]))"


def require_in_scope(actor: Actor, unit_id: int | None, what: str, unit_name: str, unit_code: str) -> None:
    """Refuse (403) when ``what`` lies in a commune outside the actor's scope, naming that commune."""
    if actor.unit_ids is not None and unit_id not in actor.unit_ids:
        raise forbidden(f"{what} lies in {unit_name} ({unit_code}), outside your communes", unit_code=unit_code)


def sees_details(actor: Actor) -> bool:
    return actor.role in DETAIL_ROLES
