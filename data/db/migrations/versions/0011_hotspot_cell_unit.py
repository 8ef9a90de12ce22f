"""hotspot cells belong to a commune: the hot-spot layer is scoped like every other restricted layer

A cell is the commune's that holds a point of its surface (ST_PointOnSurface), assigned in the database by
the same rule and trigger function as an incident's commune (which is now that one function for both).

Revision ID: 0011_hotspot_cell_unit
Revises: 0010_incident_number
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0011_hotspot_cell_unit'
down_revision: Union[str, Sequence[str], None] = '0010_incident_number'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ASSIGN_UNIT = """
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
    op.execute(ASSIGN_UNIT)
    op.execute("DROP TRIGGER incident_assign_unit ON incident")
    op.execute("CREATE TRIGGER incident_assign_unit BEFORE INSERT OR UPDATE OF geom ON incident "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_assign_unit()")
    op.execute("DROP FUNCTION sitmap_incident_assign_unit()")
    op.execute("ALTER TABLE hotspot_cell ADD COLUMN unit_id integer "
               "CONSTRAINT fk_hotspot_cell_unit_id_admin_unit REFERENCES admin_unit (id)")
    op.execute("CREATE INDEX ix_hotspot_cell_unit_id ON hotspot_cell (unit_id)")
    op.execute("CREATE TRIGGER hotspot_cell_assign_unit BEFORE INSERT OR UPDATE OF geom ON hotspot_cell "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_assign_unit()")
    op.execute("UPDATE hotspot_cell SET geom = geom")


def downgrade() -> None:
    op.execute("DROP TRIGGER hotspot_cell_assign_unit ON hotspot_cell")
    op.execute("ALTER TABLE hotspot_cell DROP COLUMN unit_id")
    op.execute("""
CREATE FUNCTION sitmap_incident_assign_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT u.id INTO NEW.unit_id FROM admin_unit u
   WHERE u.era = '2025' AND u.kind IN ('commune', 'ward', 'township') AND ST_Intersects(u.geom, NEW.geom)
   ORDER BY u.id LIMIT 1;
  RETURN NEW;
END $$;
""")
    op.execute("DROP TRIGGER incident_assign_unit ON incident")
    op.execute("CREATE TRIGGER incident_assign_unit BEFORE INSERT OR UPDATE OF geom ON incident "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_incident_assign_unit()")
    op.execute("DROP FUNCTION sitmap_assign_unit()")
