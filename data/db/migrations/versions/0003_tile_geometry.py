"""tile geometry: stored WebMercator copies of served geometries, and the incident tile-priority index

Vector tiles are cut in EPSG:3857. Storing a generated EPSG:3857 copy of each served geometry (with its own
GiST index) means a tile query filters and clips without transforming every candidate row; the copy is a
STORED generated column, so no writer has to know about it. The incident priority index lets a capped,
low-zoom tile walk incidents most-serious-first and stop at the cap instead of sorting the province.

Revision ID: 0003
Revises: 0001
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# table -> geometry type of its geom column (see 0001)
TILE_TABLES = {
    "admin_unit": "MultiPolygon",
    "settlement": "Point",
    "road_edge": "LineString",
    "station": "Point",
    "patrol_point": "Point",
    "incident": "Point",
    "designation": "MultiPolygon",
    "hotspot_cell": "Polygon",
}

# Least to most serious, as data.vocab.INCIDENT_SEVERITIES (frozen here as the CHECK constraints of 0001 are).
SEVERITY_ORDER = "'{administrative,less_serious,serious,very_serious,particularly_serious}'::text[]"
INCIDENT_PRIORITY = f"array_position({SEVERITY_ORDER}, (severity)::text)"


def upgrade() -> None:
    for table, kind in TILE_TABLES.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN geom_3857 geometry({kind}, 3857) "
                   f"GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED")
        op.execute(f"CREATE INDEX idx_{table}_geom_3857 ON {table} USING gist (geom_3857)")
    op.execute(f"CREATE INDEX ix_incident_tile_priority ON incident (({INCIDENT_PRIORITY}) DESC, occurred_at DESC)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_incident_tile_priority")
    for table in TILE_TABLES:
        op.execute(f"DROP INDEX IF EXISTS idx_{table}_geom_3857")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS geom_3857")
