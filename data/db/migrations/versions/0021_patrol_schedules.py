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
    # Which security team an officer patrols with (at most one): their route for the day includes the team's
    # schedules, and their check-ins fulfil them.
    op.execute("""
        CREATE TABLE security_team_member (
          user_id integer CONSTRAINT pk_security_team_member PRIMARY KEY
            CONSTRAINT fk_security_team_member_user_id_app_user REFERENCES app_user (id) ON DELETE CASCADE,
          team_id integer NOT NULL
            CONSTRAINT fk_security_team_member_team_id_security_team REFERENCES security_team (id) ON DELETE CASCADE
        )""")
    op.execute("CREATE INDEX ix_security_team_member_team_id ON security_team_member (team_id)")
    op.execute(SHIFT_WINDOW_SQL)
    op.execute(DUE_SQL)


# The named shifts' local hours (data/vocab.py PATROL_SHIFT_HOURS; tests/test_patrol_schedules.py checks that
# they agree). Vietnam keeps no daylight saving, so a window is always its nominal length.
SHIFT_HOURS = "VALUES ('morning', 6, 14), ('afternoon', 14, 22), ('night', 22, 6)"
ZONE = "Asia/Ho_Chi_Minh"

# The window of the named shift ``shift`` that holds ``t`` (NULL when t lies outside that shift), or, with
# ``next_from`` true, the first window of that shift that starts at or after ``t``.
SHIFT_WINDOW_SQL = f"""
CREATE FUNCTION sitmap_shift_window(shift text, t timestamptz, next_from boolean DEFAULT false,
                                    OUT starts_at timestamptz, OUT ends_at timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT w.s, w.s + make_interval(hours => h.len)
    FROM (SELECT code, start_h, (end_h - start_h + 24) % 24 AS len FROM ({SHIFT_HOURS}) x(code, start_h, end_h)
           WHERE code = shift) h
   CROSS JOIN LATERAL (
     SELECT ((date_trunc('day', t AT TIME ZONE '{ZONE}') + make_interval(days => d, hours => h.start_h))
             AT TIME ZONE '{ZONE}') AS s
       FROM generate_series(-1, 1) d) w
   WHERE CASE WHEN next_from THEN w.s >= t ELSE w.s <= t AND t < w.s + make_interval(hours => h.len) END
   ORDER BY w.s LIMIT 1
$$"""

# One row per patrol point and schedule in force at ``at`` (a point without one: its visit_interval_hours).
# A visit counts for a schedule when it is accepted, at or before ``at`` and recorded for that schedule or for
# none. Every N hours: due N hours after the last such visit. Named shifts: each shift window (local time) is
# due once, fulfilled by a visit inside it; the window due is the first one after the last fulfilled window
# (or the first one ending after valid_from), so due_at is that window's end and a point is overdue from the
# end of the first window that passed without a visit until a visit in a later window.
DUE_SQL = """
CREATE FUNCTION sitmap_patrol_due(at timestamptz)
RETURNS TABLE (patrol_point_id integer, unit_id integer, schedule_id integer, interval_hours integer,
               last_visit_at timestamptz, due_at timestamptz, overdue boolean, overdue_hours float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  WITH rhythm AS (
    SELECT p.id AS point_id, p.unit_id, s.id AS schedule_id, s.shifts, s.valid_from,
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
  ), shifted AS (
    SELECT l.*, (
        -- the window of the latest visit that fell in one of the schedule's shifts
        SELECT w.ends_at FROM patrol_visit v, unnest(l.shifts) sh(code),
               LATERAL sitmap_shift_window(sh.code, v.visited_at) w
         WHERE v.patrol_point_id = l.point_id AND v.accepted AND v.visited_at <= at
           AND (v.schedule_id IS NULL OR v.schedule_id = l.schedule_id) AND w.ends_at IS NOT NULL
         ORDER BY v.visited_at DESC LIMIT 1) AS fulfilled_end
      FROM last l
  ), due AS (
    SELECT s.*, CASE
        WHEN s.shifts IS NULL THEN s.last_at + make_interval(hours => s.hours)
        -- the window after the last fulfilled one
        WHEN s.fulfilled_end > s.valid_from THEN
          (SELECT min(nw.ends_at) FROM unnest(s.shifts) sh(code),
                  LATERAL sitmap_shift_window(sh.code, s.fulfilled_end, true) nw)
        -- nothing fulfilled since the schedule began: the first window ending after valid_from
        ELSE (SELECT min(coalesce(w.ends_at, nw.ends_at)) FROM unnest(s.shifts) sh(code)
                CROSS JOIN LATERAL sitmap_shift_window(sh.code, s.valid_from) w
                CROSS JOIN LATERAL sitmap_shift_window(sh.code, s.valid_from, true) nw)
      END AS due
      FROM shifted s
  )
  SELECT point_id, unit_id, schedule_id, CASE WHEN shifts IS NULL THEN hours END, last_at, due,
         due IS NULL OR due < at,
         CASE WHEN due < at THEN extract(epoch FROM at - due) / 3600 END
    FROM due
$$"""


def downgrade() -> None:
    op.execute("DROP FUNCTION sitmap_patrol_due(timestamptz)")
    op.execute("DROP FUNCTION sitmap_shift_window(text, timestamptz, boolean)")
    op.execute("DROP TABLE security_team_member")
    op.execute("ALTER TABLE patrol_visit DROP COLUMN schedule_id")
    op.execute("DROP TABLE patrol_schedule")
    op.execute("DELETE FROM data_version WHERE table_name = 'patrol_schedule'")
