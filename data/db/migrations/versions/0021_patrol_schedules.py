"""patrol schedules and team assignments

A ``patrol_schedule`` assigns a security team and/or an officer to a patrol point, either every N hours or
for named daily shifts (data/vocab.py PATROL_SHIFTS, in Asia/Ho_Chi_Minh time), in force from ``valid_from``
until ``valid_to`` (open-ended when NULL). A visit records the schedule it fulfils (``schedule_id``).
``sitmap_patrol_due(at)`` is the one definition of "overdue": one row per patrol point and schedule in force
at ``at`` (a point without one keeps its own ``visit_interval_hours``), with its last accepted visit up to
``at``, when the next visit is due and whether it is overdue. The layer, the situation panel, the reports
and the notifications all read it.

Revision ID: 0021_patrol_schedules
Revises: 0020_closed_edges
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0021_patrol_schedules'
down_revision: Union[str, Sequence[str], None] = '0020_closed_edges'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


SHIFTS = "'morning', 'afternoon', 'night'"


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE patrol_schedule (
          id serial CONSTRAINT pk_patrol_schedule PRIMARY KEY,
          patrol_point_id integer NOT NULL
            CONSTRAINT fk_patrol_schedule_patrol_point_id_patrol_point REFERENCES patrol_point (id) ON DELETE CASCADE,
          team_id integer CONSTRAINT fk_patrol_schedule_team_id_security_team REFERENCES security_team (id),
          user_id integer CONSTRAINT fk_patrol_schedule_user_id_app_user REFERENCES app_user (id),
          every_hours integer CONSTRAINT ck_patrol_schedule_every_hours_positive CHECK (every_hours > 0),
          shifts varchar(16)[] CONSTRAINT ck_patrol_schedule_shifts_valid
            CHECK (shifts <@ ARRAY[{SHIFTS}]::varchar(16)[] AND cardinality(shifts) > 0),
          valid_from timestamptz NOT NULL DEFAULT now(),
          valid_to timestamptz,
          note text,
          created_by integer CONSTRAINT fk_patrol_schedule_created_by_app_user REFERENCES app_user (id),
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          version integer NOT NULL DEFAULT 1,
          CONSTRAINT ck_patrol_schedule_one_rhythm CHECK ((every_hours IS NULL) <> (shifts IS NULL)),
          CONSTRAINT ck_patrol_schedule_someone CHECK (team_id IS NOT NULL OR user_id IS NOT NULL),
          CONSTRAINT ck_patrol_schedule_period CHECK (valid_to IS NULL OR valid_to > valid_from)
        )""")
    for col in ("patrol_point_id", "team_id", "user_id", "created_by"):
        op.execute(f"CREATE INDEX ix_patrol_schedule_{col} ON patrol_schedule ({col})")
    op.execute("ALTER TABLE patrol_visit ADD COLUMN schedule_id integer "
               "CONSTRAINT fk_patrol_visit_schedule_id_patrol_schedule REFERENCES patrol_schedule (id) "
               "ON DELETE SET NULL")
    op.execute("CREATE INDEX ix_patrol_visit_schedule_id ON patrol_visit (schedule_id)")
    op.execute("CREATE INDEX ix_patrol_visit_point_accepted_at ON patrol_visit (patrol_point_id, visited_at) "
               "WHERE accepted")
    # The patrol-points layer's overdue reads schedules: their writes bump its data version.
    op.execute("INSERT INTO data_version (table_name, slot, version) VALUES ('patrol_schedule', 0, 1) "
               "ON CONFLICT DO NOTHING")
    op.execute("CREATE TRIGGER patrol_schedule_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "
               "patrol_schedule FOR EACH STATEMENT EXECUTE FUNCTION sitmap_bump_data_version()")
    # Interval rhythm only for now; named shifts are due at the end of each day's shift window without a visit.
    op.execute("""
CREATE FUNCTION sitmap_patrol_due(at timestamptz)
RETURNS TABLE (patrol_point_id integer, unit_id integer, schedule_id integer, interval_hours integer,
               last_visit_at timestamptz, due_at timestamptz, overdue boolean, overdue_hours float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH rhythm AS (
    SELECT p.id AS point_id, p.unit_id, s.id AS schedule_id,
           coalesce(s.every_hours, CASE WHEN s.id IS NULL THEN p.visit_interval_hours END) AS hours
      FROM patrol_point p
      LEFT JOIN patrol_schedule s ON s.patrol_point_id = p.id AND s.valid_from <= at
                                  AND at < coalesce(s.valid_to, 'infinity'::timestamptz)
  ), last AS (
    SELECT r.*, (SELECT max(v.visited_at) FROM patrol_visit v
                  WHERE v.patrol_point_id = r.point_id AND v.accepted AND v.visited_at <= at
                    AND (r.schedule_id IS NULL OR v.schedule_id IS NULL OR v.schedule_id = r.schedule_id)
                ) AS last_at
      FROM rhythm r
  )
  SELECT point_id, unit_id, schedule_id, hours, last_at,
         last_at + make_interval(hours => hours),
         last_at IS NULL OR last_at + make_interval(hours => hours) < at,
         CASE WHEN last_at IS NOT NULL AND last_at + make_interval(hours => hours) < at
              THEN extract(epoch FROM at - (last_at + make_interval(hours => hours))) / 3600 END
    FROM last
$$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION sitmap_patrol_due(timestamptz)")
    op.execute("ALTER TABLE patrol_visit DROP COLUMN schedule_id")
    op.execute("DROP TABLE patrol_schedule")
    op.execute("DELETE FROM data_version WHERE table_name = 'patrol_schedule'")
