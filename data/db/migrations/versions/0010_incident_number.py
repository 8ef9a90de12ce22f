"""incident number: a short sequential reference for people, and the feature id inside vector tiles

Officers and commanders quote "vụ việc số 1234" on the radio; a UUID is for machines (the client's
idempotency key). The number is also the integer MVT feature id of the incidents layer: ST_AsMVT encoding
the UUID as a text property of every point cost about 30 % of a capped incident tile's time and 40 % of its
bytes. The tile cover index of 0007 carries the number instead of the UUID.

Revision ID: 0010_incident_number
Revises: 0009_auth_notify
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0010_incident_number'
down_revision: Union[str, Sequence[str], None] = '0009_auth_notify'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PRIORITY = ("(array_position('{administrative,less_serious,serious,very_serious,particularly_serious}'::text[], "
            "(severity)::text)) DESC, occurred_at DESC")


def upgrade() -> None:
    # Existing incidents are numbered in the table's physical order by the rewrite this implies (an UPDATE
    # numbering them in another order would leave half the table dead and scatter the rows tiles read).
    op.execute("ALTER TABLE incident ADD COLUMN number bigint GENERATED ALWAYS AS IDENTITY")
    op.execute("ALTER TABLE incident ADD CONSTRAINT uq_incident_number UNIQUE (number)")
    op.execute("DROP INDEX IF EXISTS ix_incident_tile_cover")
    op.execute(f"CREATE INDEX ix_incident_tile_cover ON incident ({PRIORITY}) "
               "INCLUDE (geom_3857, number, category, severity, status, source, unit_id)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_incident_tile_cover")
    op.execute(f"CREATE INDEX ix_incident_tile_cover ON incident ({PRIORITY}) "
               "INCLUDE (geom_3857, id, category, severity, status, source, unit_id)")
    op.execute("ALTER TABLE incident DROP COLUMN number")
