"""live operations: sign-in sessions, commit-ordered event index

Sessions are stored (hashed) rather than self-contained signed tokens so that every worker validates them
without a shared secret, logout and `sitmap user disable` take effect at once, and expiry is enforced in SQL.
The (xid, id) index serves the live stream, which delivers events in commit-safe (xid, id) order.

Revision ID: 0006_live_ops
Revises: 0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0006_live_ops'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'app_session',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('remote_addr', sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('bearer', 'cookie')", name=op.f('ck_app_session_kind_valid')),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_app_session_user_id_app_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_app_session')),
    )
    op.create_index(op.f('ix_app_session_user_id'), 'app_session', ['user_id'], unique=False)
    op.create_index('ix_event_xid_id', 'event', ['xid', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_xid_id', table_name='event')
    op.drop_index(op.f('ix_app_session_user_id'), table_name='app_session')
    op.drop_table('app_session')
