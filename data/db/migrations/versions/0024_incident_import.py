"""importing past incidents (issue 16 item 6)

Revision ID: 0024_incident_import
Revises: 0023_accounts
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0024_incident_import'
down_revision: Union[str, Sequence[str], None] = '0023_accounts'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
