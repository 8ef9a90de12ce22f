"""designation workflow: who proposed, edited, decided and revoked a key-area designation, and why

A designation now says where it came from (``origin``: a rule of geo/designation's rule file, a planner, or
a historical record the province decided before sitmap), which rule proposed it, the reason of every
decision (a rejection or approval reason, a revocation reason with who and when), a version that each change
increments (a stale edit is refused), and when it was last changed. "rejected" joins the statuses. One open
proposal per commune, kind and rule: re-evaluating the rules on unchanged data finds the proposal it wrote
instead of adding another (the partial unique index is what makes that safe under concurrency).
Vocabularies are frozen here as spelled in data/vocab.py today.

Revision ID: 0018_designation_workflow
Revises: 0017_hotspot_runs
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0018_designation_workflow'
down_revision: Union[str, Sequence[str], None] = '0017_hotspot_runs'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

STATUSES = "'proposed', 'approved', 'rejected', 'revoked'"
OLD_STATUSES = "'proposed', 'approved', 'revoked'"
ORIGINS = "'rule', 'planner', 'historical'"


def upgrade() -> None:
    op.execute("ALTER TABLE designation DROP CONSTRAINT ck_designation_status_valid")
    op.execute(f"""
        ALTER TABLE designation
          ADD CONSTRAINT ck_designation_status_valid CHECK (status IN ({STATUSES})),
          ADD COLUMN origin varchar(16) NOT NULL DEFAULT 'planner'
              CONSTRAINT ck_designation_origin_valid CHECK (origin IN ({ORIGINS})),
          ADD COLUMN rule text,
          ADD COLUMN decision_reason text,
          ADD COLUMN revoked_by integer CONSTRAINT fk_designation_revoked_by_app_user REFERENCES app_user (id),
          ADD COLUMN revoked_at timestamptz,
          ADD COLUMN revoke_reason text,
          ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
          ADD COLUMN version integer NOT NULL DEFAULT 1,
          ADD CONSTRAINT ck_designation_rule_origin CHECK ((origin = 'rule') = (rule IS NOT NULL)),
          ADD CONSTRAINT ck_designation_valid_range CHECK (valid_to IS NULL OR valid_from IS NULL
                                                           OR valid_to >= valid_from)""")
    op.execute("CREATE INDEX ix_designation_revoked_by ON designation (revoked_by)")
    op.execute("CREATE UNIQUE INDEX ux_designation_open_rule_proposal ON designation (unit_id, kind, rule) "
               "WHERE status = 'proposed' AND rule IS NOT NULL")
    # The demo's approved rows predate the workflow: they are the province's decisions, not a rule's.
    op.execute("UPDATE designation SET origin = 'historical' WHERE status = 'approved' AND proposed_by IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ux_designation_open_rule_proposal")
    op.execute("DROP INDEX ix_designation_revoked_by")
    op.execute("UPDATE designation SET status = 'revoked' WHERE status = 'rejected'")
    op.execute("""ALTER TABLE designation DROP CONSTRAINT ck_designation_rule_origin,
                  DROP CONSTRAINT ck_designation_valid_range, DROP CONSTRAINT ck_designation_status_valid,
                  DROP COLUMN origin, DROP COLUMN rule, DROP COLUMN decision_reason, DROP COLUMN revoked_by,
                  DROP COLUMN revoked_at, DROP COLUMN revoke_reason, DROP COLUMN updated_at, DROP COLUMN version""")
    op.execute(f"ALTER TABLE designation ADD CONSTRAINT ck_designation_status_valid CHECK (status IN ({OLD_STATUSES}))")
