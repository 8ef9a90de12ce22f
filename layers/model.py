"""What a layer declaration holds: the one place a layer's meaning, SQL source, style and access live.

Declarations are trusted code (reviewed like migrations): their SQL fragments and column names are composed
with psycopg's ``sql`` module; every value a client sends is bound as a parameter, never formatted in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data import permissions
from data.vocab import VOCABULARIES, Term

# Property types, as OGC/JSON Schema names; they drive filter parsing and the schema in /collections/{id}.
PROP_TYPES = ("string", "integer", "number", "boolean", "date", "datetime")


@dataclass(frozen=True)
class Prop:
    name: str
    type: str = "string"
    title_vi: str = ""
    title_en: str = ""
    # A SQL expression over the source's columns; None means the column of the same name.
    expr: str | None = None
    # The name of a categorical property's vocabulary (data/vocab.py VOCABULARIES): filters are checked
    # against it, /layers names it and the map labels values, legends and choices from it.
    vocabulary: str | None = None
    # Personal details (a reporter's name, a free-text description): omitted for roles not allowed them.
    personal: bool = False
    filterable: bool = True
    # Served in vector tiles (keep tiles small: long text stays in features only).
    in_tiles: bool = True

    def __post_init__(self) -> None:
        if self.type not in PROP_TYPES:
            raise ValueError(f"property {self.name}: type {self.type!r} is not one of {PROP_TYPES}")
        if self.vocabulary is not None and self.vocabulary not in VOCABULARIES:
            raise ValueError(f"property {self.name}: vocabulary {self.vocabulary!r} is not one of "
                             f"{sorted(VOCABULARIES)}")

    @property
    def terms(self) -> tuple[Term, ...] | None:
        return None if self.vocabulary is None else VOCABULARIES[self.vocabulary]


@dataclass(frozen=True)
class Access:
    """Who may see a layer, as actions of data/permissions.py. Public layers need no sign-in; restricted ones
    need ``action`` (its roles, and whether rows are limited to the caller's communes)."""

    public: bool
    action: str = "layer.restricted"
    # Column (of the source) holding the 2025 admin_unit id: scopes a commune-scoped user's rows in SQL.
    unit_column: str | None = None
    # The action that shows the personal properties; every other caller gets the layer without them.
    personal_action: str = "personal.read"

    def __post_init__(self) -> None:
        for action in (self.action, self.personal_action):
            permissions.rule(action)  # a declaration naming an action missing from the table fails at import


@dataclass(frozen=True)
class Style:
    """How the web map draws the layer: one colour per category/status of ``by``, or a single colour."""

    color: str = "#3366cc"
    by: str | None = None
    colors: dict[str, str] = field(default_factory=dict)
    fill_opacity: float = 0.25
    radius: int = 5
    width: int = 2


@dataclass(frozen=True)
class Layer:
    id: str
    title_vi: str
    title_en: str
    description: str
    # A table name, or a SELECT whose output columns are the id, geometry and properties.
    source: str
    geometry_type: str
    properties: tuple[Prop, ...]
    access: Access
    # The tables the layer reads: their data_version rows key the tile cache.
    tables: tuple[str, ...]
    id_column: str = "id"
    id_type: str = "integer"  # integer | uuid | string
    # A unique integer property that becomes the vector-tile feature id when the id itself is not an integer
    # (an MVT feature id is an unsigned integer). Without one, such an id travels as a text property "id",
    # which is slow for ST_AsMVT to encode (a distinct string per feature).
    tile_feature_id: str | None = None
    geom_column: str = "geom"  # EPSG:4326
    # A stored EPSG:3857 copy (migration 0003); None means transform on the fly.
    tile_geom_column: str | None = "geom_3857"
    # A fixed condition of the layer (trusted SQL), e.g. the era of the units.
    where: str | None = None
    # Temporal extent: an instant column, or a validity interval (start, end; NULL ends are open).
    time_start: str | None = None
    time_end: str | None = None
    # Interval layers with this flag show only what is valid now unless a datetime is given.
    default_current: bool = False
    minzoom: int = 6
    maxzoom: int = 18
    # ORDER BY of a capped tile, most important first (trusted SQL), and the cap.
    priority: str | None = None
    tile_cap: int = 4000
    # Simplify lines and polygons to about this many tile pixels before clipping (0: none).
    simplify_px: float = 0.0
    render: str = "tiles"  # how the web map should draw it: tiles | geojson
    # Properties that change with the clock (e.g. overdue): cache at most this many seconds.
    volatile_seconds: int | None = None
    style: Style = field(default_factory=Style)
    order: int = 100  # position in the catalogue and the map's layer list

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.properties if p.name == name), None)

    @property
    def tile_id_column(self) -> str | None:
        """The integer column encoded as the MVT feature id, if any."""
        if self.tile_feature_id:
            return self.tile_feature_id
        return self.id_column if self.id_type == "integer" else None

    @property
    def restricted(self) -> bool:
        return not self.access.public

    @property
    def is_point(self) -> bool:
        return self.geometry_type in ("Point", "MultiPoint")
