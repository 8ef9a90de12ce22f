"""hotspot runs: what each run computed, for whom, on how many incidents, and the emerging patterns

A run is Gi* over one window (``gi_star``) or the emerging patterns of monthly slices (``emerging``), over a
hexagonal grid or the 2025 communes, for a set of incident categories (``category`` is their sorted,
comma-joined key, so "the latest run per category" is one index away); who ran it, how many incidents and
cells, whether the incidents were generated (every figure of a run on the demo says so) and the notes that
say when counts are too small for the statistic to mean anything. A cell keeps its neighbour count and, for
an emerging run, the pattern, the Mann-Kendall trend of its z-scores and its hot/cold months. Cells may be
clipped to the province, so their geometry is a MultiPolygon; "insufficient" joins the classes (a cell the
statistic cannot speak for) and the emerging patterns replace the five trends of 0001 (in the ground-truth
table too). Vocabularies are frozen here as spelled in data/vocab.py today.

Revision ID: 0017_hotspot_runs
Revises: 0016_travel_results
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0017_hotspot_runs'
down_revision: Union[str, Sequence[str], None] = '0016_travel_results'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PATTERNS = ("'new_hot', 'consecutive_hot', 'intensifying_hot', 'persistent_hot', 'diminishing_hot', 'sporadic_hot', "
            "'oscillating_hot', 'historical_hot', 'new_cold', 'consecutive_cold', 'intensifying_cold', "
            "'persistent_cold', 'diminishing_cold', 'sporadic_cold', 'oscillating_cold', 'historical_cold', "
            "'no_pattern'")
CLASSES = "'hot_99', 'hot_95', 'hot_90', 'not_significant', 'cold_90', 'cold_95', 'cold_99', 'insufficient'"
OLD_TRENDS = "'new', 'intensifying', 'persistent', 'diminishing', 'sporadic'"
OLD_CLASSES = "'hot_99', 'hot_95', 'hot_90', 'not_significant', 'cold_90', 'cold_95', 'cold_99'"


def upgrade() -> None:
    op.execute("""
        ALTER TABLE hotspot_run
          ADD COLUMN analysis varchar(16) NOT NULL DEFAULT 'gi_star'
              CONSTRAINT ck_hotspot_run_analysis_valid CHECK (analysis IN ('gi_star', 'emerging')),
          ADD COLUMN cells varchar(16) NOT NULL DEFAULT 'hex'
              CONSTRAINT ck_hotspot_run_cells_valid CHECK (cells IN ('hex', 'commune')),
          ADD COLUMN categories text[] NOT NULL DEFAULT '{}',
          ADD COLUMN created_by integer CONSTRAINT fk_hotspot_run_created_by_app_user REFERENCES app_user (id),
          ADD COLUMN incident_count integer NOT NULL DEFAULT 0,
          ADD COLUMN cell_count integer NOT NULL DEFAULT 0,
          ADD COLUMN incidents_generated boolean NOT NULL DEFAULT false,
          ADD COLUMN notes jsonb NOT NULL DEFAULT '[]'::jsonb,
          ADD COLUMN summary jsonb NOT NULL DEFAULT '{}'::jsonb,
          ALTER COLUMN category TYPE text""")
    op.execute("CREATE INDEX ix_hotspot_run_created_by ON hotspot_run (created_by)")
    op.execute("CREATE INDEX ix_hotspot_run_latest ON hotspot_run (analysis, category, created_at DESC, id DESC)")

    op.execute("DROP TRIGGER hotspot_cell_assign_unit ON hotspot_cell")
    op.execute("ALTER TABLE hotspot_cell DROP COLUMN geom_3857")
    op.execute("ALTER TABLE hotspot_cell ALTER COLUMN geom TYPE geometry(MultiPolygon, 4326) USING ST_Multi(geom)")
    op.execute("ALTER TABLE hotspot_cell ADD COLUMN geom_3857 geometry(MultiPolygon, 3857) "
               "GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED")
    op.execute("CREATE INDEX idx_hotspot_cell_geom_3857 ON hotspot_cell USING gist (geom_3857)")
    op.execute("CREATE TRIGGER hotspot_cell_assign_unit BEFORE INSERT OR UPDATE OF geom, run_id ON hotspot_cell "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_hotspot_cell_unit()")
    op.execute("ALTER TABLE hotspot_cell DROP CONSTRAINT ck_hotspot_cell_trend_valid, "
               "DROP CONSTRAINT ck_hotspot_cell_class_valid")
    op.execute("UPDATE hotspot_cell SET trend = NULL")
    op.execute(f"""
        ALTER TABLE hotspot_cell
          ALTER COLUMN trend TYPE varchar(24),
          ADD CONSTRAINT ck_hotspot_cell_trend_valid CHECK (trend IS NULL OR trend IN ({PATTERNS})),
          ADD CONSTRAINT ck_hotspot_cell_class_valid CHECK ("class" IN ({CLASSES})),
          ADD COLUMN neighbours integer,
          ADD COLUMN trend_z double precision,
          ADD COLUMN trend_p double precision,
          ADD COLUMN hot_bins integer,
          ADD COLUMN cold_bins integer,
          ADD COLUMN bins text""")

    op.execute("ALTER TABLE demo_planted_cluster DROP CONSTRAINT ck_demo_planted_cluster_trend_valid")
    op.execute("ALTER TABLE demo_planted_cluster ALTER COLUMN trend TYPE varchar(24)")
    op.execute("UPDATE demo_planted_cluster SET trend = trend || '_hot'")
    op.execute(f"ALTER TABLE demo_planted_cluster ADD CONSTRAINT ck_demo_planted_cluster_trend_valid "
               f"CHECK (trend IN ({PATTERNS}))")


def downgrade() -> None:
    op.execute("ALTER TABLE demo_planted_cluster DROP CONSTRAINT ck_demo_planted_cluster_trend_valid")
    op.execute("UPDATE demo_planted_cluster SET trend = split_part(trend, '_', 1)")
    op.execute("UPDATE demo_planted_cluster SET trend = 'new' WHERE trend NOT IN (" + OLD_TRENDS + ")")
    op.execute("ALTER TABLE demo_planted_cluster ALTER COLUMN trend TYPE varchar(16)")
    op.execute(f"ALTER TABLE demo_planted_cluster ADD CONSTRAINT ck_demo_planted_cluster_trend_valid "
               f"CHECK (trend IN ({OLD_TRENDS}))")
    op.execute("DELETE FROM hotspot_run")
    op.execute("""ALTER TABLE hotspot_cell DROP CONSTRAINT ck_hotspot_cell_trend_valid,
                  DROP CONSTRAINT ck_hotspot_cell_class_valid,
                  DROP COLUMN neighbours, DROP COLUMN trend_z, DROP COLUMN trend_p, DROP COLUMN hot_bins,
                  DROP COLUMN cold_bins, DROP COLUMN bins""")
    op.execute(f"""ALTER TABLE hotspot_cell ALTER COLUMN trend TYPE varchar(16),
                   ADD CONSTRAINT ck_hotspot_cell_trend_valid CHECK (trend IS NULL OR trend IN ({OLD_TRENDS})),
                   ADD CONSTRAINT ck_hotspot_cell_class_valid CHECK ("class" IN ({OLD_CLASSES}))""")
    op.execute("DROP TRIGGER hotspot_cell_assign_unit ON hotspot_cell")
    op.execute("ALTER TABLE hotspot_cell DROP COLUMN geom_3857")
    op.execute("ALTER TABLE hotspot_cell ALTER COLUMN geom TYPE geometry(Polygon, 4326) USING ST_GeometryN(geom, 1)")
    op.execute("ALTER TABLE hotspot_cell ADD COLUMN geom_3857 geometry(Polygon, 3857) "
               "GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED")
    op.execute("CREATE INDEX idx_hotspot_cell_geom_3857 ON hotspot_cell USING gist (geom_3857)")
    op.execute("CREATE TRIGGER hotspot_cell_assign_unit BEFORE INSERT OR UPDATE OF geom, run_id ON hotspot_cell "
               "FOR EACH ROW EXECUTE FUNCTION sitmap_hotspot_cell_unit()")
    op.execute("DROP INDEX ix_hotspot_run_latest")
    op.execute("DROP INDEX ix_hotspot_run_created_by")
    op.execute("""ALTER TABLE hotspot_run DROP COLUMN analysis, DROP COLUMN cells, DROP COLUMN categories,
                  DROP COLUMN created_by, DROP COLUMN incident_count, DROP COLUMN cell_count,
                  DROP COLUMN incidents_generated, DROP COLUMN notes, DROP COLUMN summary,
                  ALTER COLUMN category TYPE varchar(32)""")
