"""road closures and what-if scenarios

A road closure is a point or a line drawn on the road (a landslide, a flood, works, an accident), in force
from ``starts_at`` until ``ends_at`` (open-ended when NULL) or until it is reopened; the travel analyses close
the edges near it at the time they are asked about. A closure belongs to the commune holding a point of it
(the same sitmap_commune_at as incidents), is a served layer (stored EPSG:3857 copy, data_version trigger)
and, like every write, has who and a version.

A scenario is a planner's saved what-if: a list of changes (add, remove or move a station, change a
station's status, add a closure) applied to a copy of the inputs of the coverage and access analyses, never
to the live tables; its last result is kept with when it ran.
Vocabularies are frozen here as spelled in data/vocab.py today.

Revision ID: 0019_closures_scenarios
Revises: 0018_designation_workflow
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0019_closures_scenarios'
down_revision: Union[str, Sequence[str], None] = '0018_designation_workflow'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

REASONS = "'landslide', 'flood', 'works', 'accident', 'security', 'other'"


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE road_closure (
          id serial CONSTRAINT pk_road_closure PRIMARY KEY,
          reason varchar(16) NOT NULL CONSTRAINT ck_road_closure_reason_valid CHECK (reason IN ({REASONS})),
          note text,
          starts_at timestamptz NOT NULL,
          ends_at timestamptz,
          reopened_at timestamptz,
          created_by integer CONSTRAINT fk_road_closure_created_by_app_user REFERENCES app_user (id),
          reopened_by integer CONSTRAINT fk_road_closure_reopened_by_app_user REFERENCES app_user (id),
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          version integer NOT NULL DEFAULT 1,
          client_id uuid CONSTRAINT uq_road_closure_client_id UNIQUE,
          unit_id integer CONSTRAINT fk_road_closure_unit_id_admin_unit REFERENCES admin_unit (id),
          is_generated boolean NOT NULL DEFAULT false,
          geom geometry(Geometry, 4326) NOT NULL,
          CONSTRAINT ck_road_closure_geom_kind CHECK (GeometryType(geom) IN ('POINT', 'LINESTRING')),
          CONSTRAINT ck_road_closure_geom_is_valid CHECK (ST_IsValid(geom)),
          CONSTRAINT ck_road_closure_period CHECK (ends_at IS NULL OR ends_at > starts_at)
        )""")
    op.execute("CREATE INDEX idx_road_closure_geom ON road_closure USING gist (geom)")
    op.execute("CREATE INDEX ix_road_closure_created_by ON road_closure (created_by)")
    op.execute("CREATE INDEX ix_road_closure_reopened_by ON road_closure (reopened_by)")
    op.execute("CREATE INDEX ix_road_closure_unit_id ON road_closure (unit_id)")
    op.execute("CREATE INDEX ix_road_closure_starts_at ON road_closure (starts_at)")
    op.execute("ALTER TABLE road_closure ADD COLUMN geom_3857 geometry(Geometry, 3857) "
               "GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED")
    op.execute("CREATE INDEX idx_road_closure_geom_3857 ON road_closure USING gist (geom_3857)")
    op.execute("""
CREATE FUNCTION sitmap_road_closure_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.unit_id := sitmap_commune_at(ST_PointOnSurface(NEW.geom), NEW.starts_at);
  RETURN NEW;
END $$""")
    op.execute("CREATE TRIGGER road_closure_assign_unit BEFORE INSERT OR UPDATE OF geom, starts_at ON road_closure "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_road_closure_unit()")
    op.execute("INSERT INTO data_version (table_name, slot, version) VALUES ('road_closure', 0, 1) "
               "ON CONFLICT DO NOTHING")
    op.execute("CREATE TRIGGER road_closure_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "
               "road_closure FOR EACH STATEMENT EXECUTE FUNCTION sitmap_bump_data_version()")

    op.execute("""
        CREATE TABLE scenario (
          id serial CONSTRAINT pk_scenario PRIMARY KEY,
          name text NOT NULL,
          description text,
          changes jsonb NOT NULL DEFAULT '[]'::jsonb,
          created_by integer CONSTRAINT fk_scenario_created_by_app_user REFERENCES app_user (id),
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          version integer NOT NULL DEFAULT 1,
          last_run_at timestamptz,
          last_result jsonb,
          CONSTRAINT ck_scenario_changes_is_array CHECK (jsonb_typeof(changes) = 'array')
        )""")
    op.execute("CREATE INDEX ix_scenario_created_by ON scenario (created_by)")


def downgrade() -> None:
    op.execute("DROP TABLE scenario")
    op.execute("DELETE FROM data_version WHERE table_name = 'road_closure'")
    op.execute("DROP TABLE road_closure")
    op.execute("DROP FUNCTION sitmap_road_closure_unit()")
