"""NOTIFY ``sitmap_auth`` with the user id whenever a session, a user or a user's communes change.

Each worker caches sign-ins for a few seconds (api/session_cache.py) and evicts on this signal. A trigger,
not the code paths that revoke, sends it: logout, ``sitmap user disable``, a password, role or commune
change and a hand-written SQL UPDATE all reach every worker. The NOTIFY is delivered on commit.

Revision ID: 0009_auth_notify
Revises: 0008_sharded_data_version
"""

from alembic import op

revision = "0009_auth_notify"
down_revision = "0008_sharded_data_version"
branch_labels = None
depends_on = None

# (table, column holding the user id, events)
_TABLES = (("app_user", "id", "UPDATE OR DELETE"), ("app_session", "user_id", "UPDATE OR DELETE"),
           ("app_user_unit", "user_id", "INSERT OR UPDATE OR DELETE"))


def upgrade() -> None:
    for table, column, events in _TABLES:
        op.execute(f"""
CREATE OR REPLACE FUNCTION sitmap_auth_notify_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('sitmap_auth', (CASE WHEN TG_OP = 'DELETE' THEN OLD.{column} ELSE NEW.{column} END)::text);
  IF TG_OP = 'UPDATE' AND OLD.{column} IS DISTINCT FROM NEW.{column} THEN
    PERFORM pg_notify('sitmap_auth', OLD.{column}::text);
  END IF;
  RETURN NULL;
END $$""")
        op.execute(f"CREATE TRIGGER sitmap_auth_notify AFTER {events} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION sitmap_auth_notify_{table}()")


def downgrade() -> None:
    for table, _, _ in _TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS sitmap_auth_notify ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS sitmap_auth_notify_{table}()")
