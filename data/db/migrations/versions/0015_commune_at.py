"""one rule for "the commune that holds this point at this time": sitmap_commune_at(point, at)

Incidents (0001) and hot-spot cells (0011) were each given their commune by a copy of the same query. Both
triggers now call one function. It answers the id of the commune-level unit of 2025 whose area holds the
point (a point on a shared border: the unit with the lowest id, as before) and that has not ended by ``at``
(its valid_to, a local date; NULL ``at`` means now). Earlier times are filed under the communes of 2025 as
before: unit_id scopes users by those communes, which cover the ground of the former ones. The commune-level
kinds come from data/vocab.py COMMUNE_LEVEL_KINDS when the migration runs.

Revision ID: 0015_commune_at
Revises: 0014_signin_failure_index
"""
from typing import Sequence, Union

from alembic import op

from data import vocab

revision: str = '0015_commune_at'
down_revision: Union[str, Sequence[str], None] = '0014_signin_failure_index'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COMMUNE_AT = f"""
CREATE FUNCTION sitmap_commune_at(pt geometry, at_time timestamptz DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  -- plpgsql, not sql: its plan is kept between calls (a trigger calls it once per row).
  RETURN (SELECT u.id FROM admin_unit u
           WHERE u.era = '2025' AND {vocab.kinds_sql('u.kind', vocab.COMMUNE_LEVEL_KINDS)}
             AND ST_Intersects(u.geom, pt)
             AND (u.valid_to IS NULL
                  OR u.valid_to >= (coalesce(at_time, now()) AT TIME ZONE 'Asia/Ho_Chi_Minh')::date)
           ORDER BY u.id LIMIT 1);
END $$;

CREATE FUNCTION sitmap_incident_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.unit_id := sitmap_commune_at(NEW.geom, NEW.occurred_at);
  RETURN NEW;
END $$;

-- A cell belongs to the commune holding a point of its surface at the end of its run's period.
CREATE FUNCTION sitmap_hotspot_cell_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.unit_id := sitmap_commune_at(ST_PointOnSurface(NEW.geom),
                                   (SELECT coalesce(r.period_end, r.created_at) FROM hotspot_run r
                                     WHERE r.id = NEW.run_id));
  RETURN NEW;
END $$;
"""

# As 0011 left it (for the downgrade).
ASSIGN_UNIT_0011 = """
CREATE FUNCTION sitmap_assign_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT u.id INTO NEW.unit_id FROM admin_unit u
   WHERE u.era = '2025' AND u.kind IN ('commune', 'ward', 'township')
     AND ST_Intersects(u.geom, ST_PointOnSurface(NEW.geom))
   ORDER BY u.id LIMIT 1;
  RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(COMMUNE_AT)
    op.execute("DROP TRIGGER incident_assign_unit ON incident")
    op.execute("DROP TRIGGER hotspot_cell_assign_unit ON hotspot_cell")
    op.execute("DROP FUNCTION sitmap_assign_unit()")
    # occurred_at too: the time decides which commune held the point.
    op.execute("CREATE TRIGGER incident_assign_unit BEFORE INSERT OR UPDATE OF geom, occurred_at ON incident "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_incident_unit()")
    op.execute("CREATE TRIGGER hotspot_cell_assign_unit BEFORE INSERT OR UPDATE OF geom, run_id ON hotspot_cell "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_hotspot_cell_unit()")


def downgrade() -> None:
    op.execute("DROP TRIGGER incident_assign_unit ON incident")
    op.execute("DROP TRIGGER hotspot_cell_assign_unit ON hotspot_cell")
    op.execute(ASSIGN_UNIT_0011)
    op.execute("CREATE TRIGGER incident_assign_unit BEFORE INSERT OR UPDATE OF geom ON incident "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_assign_unit()")
    op.execute("CREATE TRIGGER hotspot_cell_assign_unit BEFORE INSERT OR UPDATE OF geom ON hotspot_cell "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_assign_unit()")
    op.execute("DROP FUNCTION sitmap_hotspot_cell_unit()")
    op.execute("DROP FUNCTION sitmap_incident_unit()")
    op.execute("DROP FUNCTION sitmap_commune_at(geometry, timestamptz)")
