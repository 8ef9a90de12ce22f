"""Shard data_version rows so concurrent writers do not queue on one row.

With one row per table, every writing transaction held that row's lock until its commit, so commits of
concurrent writers were serialised through fsync (measured: Lock:transactionid and IO:WALSync waits, about
200 incident writes/s). Each table now has up to 32 slots, one picked per backend; a table's version is the
sum of its slots. Every committed bump raises the sum, so a cache keyed by it still changes on every commit.

Revision ID: 0008_sharded_data_version
Revises: 0007_incident_tile_cover
"""

from alembic import op

revision = "0008_sharded_data_version"
down_revision = "0007_incident_tile_cover"
branch_labels = None
depends_on = None

SLOTS = 32


def upgrade() -> None:
    op.execute("ALTER TABLE data_version ADD COLUMN slot smallint NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE data_version DROP CONSTRAINT pk_data_version")
    op.execute("ALTER TABLE data_version ADD CONSTRAINT pk_data_version PRIMARY KEY (table_name, slot)")
    op.execute(f"""
CREATE OR REPLACE FUNCTION sitmap_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO data_version (table_name, slot, version, changed_at)
  VALUES (TG_TABLE_NAME, pg_backend_pid() % {SLOTS}, 1, now())
  ON CONFLICT (table_name, slot) DO UPDATE SET version = data_version.version + 1, changed_at = now();
  RETURN NULL;
END $$;
""")


def downgrade() -> None:
    op.execute("""
CREATE OR REPLACE FUNCTION sitmap_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO data_version (table_name, version, changed_at) VALUES (TG_TABLE_NAME, 2, now())
  ON CONFLICT (table_name) DO UPDATE SET version = data_version.version + 1, changed_at = now();
  RETURN NULL;
END $$;
""")
    op.execute("CREATE TEMP TABLE dv AS SELECT table_name, sum(version)::bigint AS version, max(changed_at) AS "
               "changed_at FROM data_version GROUP BY table_name")
    op.execute("DELETE FROM data_version")
    op.execute("ALTER TABLE data_version DROP CONSTRAINT pk_data_version")
    op.execute("ALTER TABLE data_version DROP COLUMN slot")
    op.execute("ALTER TABLE data_version ADD CONSTRAINT pk_data_version PRIMARY KEY (table_name)")
    op.execute("INSERT INTO data_version SELECT table_name, version, changed_at FROM dv")
