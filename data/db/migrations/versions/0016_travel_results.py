"""travel results: the stored runs of the travel analyses (geo/travel) that the travel layers draw

One run per analysis (access, isochrones, savings, responses), with its parameters and whether the road
graph was generated; a new run replaces the previous one and, by the cascade, its rows. Every row has the
2025 commune (unit_id) that scopes a commune-scoped user, an EPSG:4326 geometry and, as every served table
since 0003, a stored EPSG:3857 copy for tiles; statement triggers bump data_version (0001, 0008) so the tile
caches see a new run. The vocabularies' CHECK values are frozen here as spelled in data/vocab.py today.

Revision ID: 0016_travel_results
Revises: 0015_commune_at
"""
from typing import Sequence, Union

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0016_travel_results'
down_revision: Union[str, Sequence[str], None] = '0015_commune_at'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MINUTE_BANDS = "'m0_15', 'm15_30', 'm30_60', 'm60_120', 'm120_plus'"
TRIP_CHANGES = "'saved_30', 'saved_10', 'saved_1', 'unchanged', 'longer_1', 'longer_10'"
ANALYSES = "'access', 'isochrones', 'savings', 'responses'"

# table -> geometry type; every table here is served as a layer (travel_run through their sources).
ROW_TABLES = {"travel_access": "Point", "travel_isochrone": "MultiPolygon", "travel_saving": "Point",
              "travel_response": "Point"}
VERSIONED = ("travel_run", *ROW_TABLES)


def _geom(kind: str) -> sa.Column:
    return sa.Column('geom', geoalchemy2.types.Geometry(geometry_type=kind, srid=4326, dimension=2,
                                                          from_text='ST_GeomFromEWKT', name='geometry',
                                                          nullable=False, spatial_index=False), nullable=False)


def _common(table: str) -> list:
    """Columns and constraints every row table has: id, run, 2025 commune."""
    return [
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['travel_run.id'], name=op.f(f'fk_{table}_run_id_travel_run'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['admin_unit.id'], name=op.f(f'fk_{table}_unit_id_admin_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}')),
    ]


def _floats(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Float(), nullable=True) for n in names]


def _codes(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.String(length=32), nullable=True) for n in names]


def _band(table: str, column: str, values: str) -> list:
    return [sa.Column(column, sa.String(length=16), nullable=True),
            sa.CheckConstraint(f"{column} IN ({values})", name=op.f(f'ck_{table}_{column}_valid'))]


def _reason() -> sa.Column:
    return sa.Column('reason', sa.Text(), server_default=sa.text("''"), nullable=False)


def upgrade() -> None:
    op.create_table(
        'travel_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('analysis', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column('roads_generated', sa.Boolean(), nullable=False),
        sa.Column('note', sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.CheckConstraint(f"analysis IN ({ANALYSES})", name=op.f('ck_travel_run_analysis_valid')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_travel_run')),
        sa.UniqueConstraint('analysis', name=op.f('uq_travel_run_analysis')),
    )
    op.create_table(
        'travel_access', *_common('travel_access'),
        sa.Column('settlement_id', sa.Integer(), nullable=False),
        sa.Column('village', sa.Text(), nullable=True),
        sa.Column('population', sa.Integer(), nullable=True),
        sa.Column('village_node', sa.BigInteger(), nullable=True),
        sa.Column('own_station_id', sa.Integer(), nullable=True), *_codes('own_station_code'),
        sa.Column('own_station_node', sa.BigInteger(), nullable=True),
        *_floats('own_station_min', 'own_station_km', 'own_station_ratio'),
        sa.Column('nearest_station_id', sa.Integer(), nullable=True), *_codes('nearest_station_code'),
        sa.Column('nearest_station_node', sa.BigInteger(), nullable=True),
        *_floats('nearest_station_min', 'nearest_station_km', 'nearest_station_ratio'),
        *_band('travel_access', 'band', MINUTE_BANDS), _reason(), _geom('POINT'),
        sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'],
                                name=op.f('fk_travel_access_settlement_id_settlement'), ondelete='CASCADE'),
    )
    op.create_table(
        'travel_isochrone', *_common('travel_isochrone'),
        sa.Column('station_id', sa.Integer(), nullable=False), *_codes('station_code'),
        sa.Column('minutes', sa.Float(), nullable=False),
        *_band('travel_isochrone', 'band', MINUTE_BANDS), *_floats('area_km2', 'reached_road_km'),
        _geom('MULTIPOLYGON'),
        sa.CheckConstraint('minutes > 0', name=op.f('ck_travel_isochrone_minutes_positive')),
        sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_travel_isochrone_station_id_station'),
                                ondelete='CASCADE'),
    )
    op.create_table(
        'travel_saving', *_common('travel_saving'),
        sa.Column('settlement_id', sa.Integer(), nullable=False),
        sa.Column('village', sa.Text(), nullable=True),
        sa.Column('population', sa.Integer(), nullable=True),
        *_codes('before_station_code', 'march_station_code', 'july_station_code'),
        *_floats('before_min', 'before_km', 'march_min', 'march_km', 'july_min', 'july_km', 'change_march_min',
                 'change_march_km', 'change_july_min', 'change_july_km', 'change_total_min', 'change_total_km'),
        *_band('travel_saving', 'change_band', TRIP_CHANGES), _reason(), _geom('POINT'),
        sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'],
                                name=op.f('fk_travel_saving_settlement_id_settlement'), ondelete='CASCADE'),
    )
    op.create_table(
        'travel_response', *_common('travel_response'),
        sa.Column('incident_id', sa.UUID(), nullable=False),
        sa.Column('number', sa.BigInteger(), nullable=True),
        sa.Column('category', sa.String(length=32), nullable=True),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('month', sa.String(length=7), nullable=True),
        sa.Column('station_id', sa.Integer(), nullable=True), *_codes('station_code'),
        *_floats('response_min', 'road_km'), *_band('travel_response', 'band', MINUTE_BANDS), _reason(),
        _geom('POINT'),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_travel_response_incident_id_incident'),
                                ondelete='CASCADE'),
    )
    subjects = {"travel_access": "settlement_id", "travel_isochrone": "station_id", "travel_saving": "settlement_id",
                "travel_response": "incident_id"}
    for table, kind in ROW_TABLES.items():
        op.create_index(f'idx_{table}_geom', table, ['geom'], unique=False, postgresql_using='gist')
        for column in ('run_id', 'unit_id', subjects[table]):
            op.create_index(op.f(f'ix_{table}_{column}'), table, [column], unique=False)
        op.execute(f"ALTER TABLE {table} ADD COLUMN geom_3857 geometry({kind}, 3857)"
                   f" GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED")
        op.execute(f"CREATE INDEX idx_{table}_geom_3857 ON {table} USING gist (geom_3857)")
    for table in VERSIONED:
        op.execute(f"INSERT INTO data_version (table_name, slot, version) VALUES ('{table}', 0, 1) "
                   "ON CONFLICT DO NOTHING")
        op.execute(f"CREATE TRIGGER {table}_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION sitmap_bump_data_version()")


def downgrade() -> None:
    for table in (*ROW_TABLES, "travel_run"):
        op.drop_table(table)  # its indexes and triggers go with it
    op.execute(f"DELETE FROM data_version WHERE table_name IN ({', '.join(repr(t) for t in VERSIONED)})")
