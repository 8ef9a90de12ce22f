"""account care: first sign-in password change and the like (issue 16 item 5)

``app_user.must_change_password``: set by ``sitmap user add`` (unless --no-force-change) and by an admin's
``sitmap user passwd`` (a reset); while it is set the gate (api/security.py) lets the user only sign in and
out, say who they are and change the password (``POST /account/password``, which clears it). Existing users,
the demo's and the tests' users default to false.

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
    op.execute("ALTER TABLE app_user ADD COLUMN must_change_password boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE app_user DROP COLUMN must_change_password")
