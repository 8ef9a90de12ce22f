"""sign-in limits: failed sign-ins indexed by user name and by address

The sign-in limit (data/ops/signin.py) counts the audit log's ``login_failed`` rows of the last
SITMAP_SIGNIN_WINDOW_S seconds for the user name and for the client address, on every sign-in; kept in the
database so that every worker process shares it. Partial indexes keep that count to the rows it needs.

Revision ID: 0014_signin_failure_index
Revises: 0012_incident_severity_rank
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0014_signin_failure_index'
down_revision: Union[str, Sequence[str], None] = '0012_incident_severity_rank'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE INDEX ix_audit_log_signin_failed_user ON audit_log (username, at) "
               "WHERE action = 'login_failed'")
    op.execute("CREATE INDEX ix_audit_log_signin_failed_addr ON audit_log (remote_addr, at) "
               "WHERE action = 'login_failed'")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_audit_log_signin_failed_addr")
    op.execute("DROP INDEX IF EXISTS ix_audit_log_signin_failed_user")
