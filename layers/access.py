"""Who may see what: the one decision every feature, tile and catalogue request goes through.

``grant(layer, principal)`` says whether the caller may see the layer, which communes' rows (enforced in the
SQL as a bound ``unit_id = ANY(%s)``) and whether the personal properties are included.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.permissions import Caller, communes_for, may
from layers.model import Layer, Prop


@dataclass(frozen=True)
class Grant:
    layer_id: str
    # None: every row; otherwise only rows whose unit column is one of these 2025 admin_unit ids.
    unit_ids: tuple[int, ...] | None
    personal: bool

    @property
    def scope_key(self) -> str:
        """Part of every cache key and ETag: callers with different scopes never share a cached response."""
        units = "all" if self.unit_ids is None else ",".join(map(str, self.unit_ids))
        return f"{units}|{'p' if self.personal else '-'}"


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def grant(layer: Layer, principal: Caller | None) -> Grant:
    """The access decision (data/permissions.py); raises ``Refused`` (401 not signed in, 403 role not allowed)."""
    personal = may(principal, layer.access.personal_action)
    if layer.access.public:
        return Grant(layer.id, None, personal)
    if principal is None:
        raise Refused(401, f"the layer {layer.id!r} is only for signed-in users; sign in and retry")
    if not may(principal, layer.access.action):
        raise Refused(403, f"the role {principal.role!r} may not see the layer {layer.id!r}")
    units = None
    communes = communes_for(principal, layer.access.action)
    if layer.access.unit_column and communes is not None:
        units = tuple(sorted(communes))
    return Grant(layer.id, units, personal)


def may_see(layer: Layer, principal: Caller | None) -> bool:
    try:
        grant(layer, principal)
    except Refused:
        return False
    return True


def visible_props(layer: Layer, g: Grant, *, tiles: bool = False) -> list[Prop]:
    # In tiles, the property that is the MVT feature id is not repeated as a property.
    return [p for p in layer.properties
            if (g.personal or not p.personal) and (not tiles or (p.in_tiles and p.name != layer.tile_id_column))]


def reads_personal(layer: Layer, g: Grant) -> bool:
    """Whether features read under this grant carry personal details (each such request is audited)."""
    return g.personal and any(p.personal for p in layer.properties)
