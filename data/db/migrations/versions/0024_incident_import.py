"""importing past incidents (issue 16 item 6): incident.source may be 'import'

The CHECK is re-created from data/vocab.py INCIDENT_SOURCES as it is when the migration runs.

Revision ID: 0024_incident_import
Revises: 0023_accounts
"""
from typing import Sequence, Union

from alembic import op

from data import vocab

revision: str = '0024_incident_import'
down_revision: Union[str, Sequence[str], None] = '0023_accounts'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BEFORE = ("officer", "tip_mailbox", "hotline")


def _check(codes) -> None:
    op.execute("ALTER TABLE incident DROP CONSTRAINT ck_incident_source_valid")
    op.execute("ALTER TABLE incident ADD CONSTRAINT ck_incident_source_valid CHECK (source IN ("
               + ", ".join(f"'{c}'" for c in codes) + "))")


def upgrade() -> None:
    _check(vocab.codes(vocab.INCIDENT_SOURCES))


def downgrade() -> None:
    op.execute("DELETE FROM incident WHERE source NOT IN (" + ", ".join(f"'{c}'" for c in BEFORE) + ")")
    _check(BEFORE)
