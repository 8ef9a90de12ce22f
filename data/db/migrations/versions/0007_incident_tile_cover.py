"""incident tile cover: the tile-priority index also carries what an incident tile reads

With the tile's columns INCLUDEd, a capped low-zoom incident tile is an index-only scan (most serious and
most recent first, stopping at the cap) instead of thousands of random heap reads: measured 32 ms -> 3 ms
for the scan of a z9 tile over 200,000 incidents. Replaces ix_incident_tile_priority of 0003.

Revision ID: 0007_incident_tile_cover
Revises: 0006_live_ops
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0007_incident_tile_cover'
down_revision: Union[str, Sequence[str], None] = '0006_live_ops'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PRIORITY = ("(array_position('{administrative,less_serious,serious,very_serious,particularly_serious}'::text[], "
            "(severity)::text)) DESC, occurred_at DESC")


def upgrade() -> None:
    op.execute(f"CREATE INDEX ix_incident_tile_cover ON incident ({PRIORITY}) "
               "INCLUDE (geom_3857, id, category, severity, status, source, unit_id)")
    op.execute("DROP INDEX IF EXISTS ix_incident_tile_priority")


def downgrade() -> None:
    op.execute(f"CREATE INDEX ix_incident_tile_priority ON incident ({PRIORITY})")
    op.execute("DROP INDEX IF EXISTS ix_incident_tile_cover")
