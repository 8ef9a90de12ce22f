"""alert rules, notifications and webhook deliveries (issue 16 item 4)

Revision ID: 0022_notifications
Revises: 0021_patrol_schedules
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0022_notifications'
down_revision: Union[str, Sequence[str], None] = '0021_patrol_schedules'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
