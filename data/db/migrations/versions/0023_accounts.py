"""account care: first sign-in password change and the like (issue 16 item 5)

Revision ID: 0023_accounts
Revises: 0022_notifications
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0023_accounts'
down_revision: Union[str, Sequence[str], None] = '0022_notifications'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
