"""what-if scenarios on the map: each scenario's last run, village by village (issue 15 item 4)

A run stores, beside the scenario's last_result, the villages whose trip to the nearest station the scenario
changes (by a minute or more, or from reachable to not and back), replaced by the next run and gone with the
scenario. The scenario-villages layer draws them; a statement trigger bumps data_version for the tile cache.

Revision ID: 0025_scenario_villages
Revises: 0024_incident_import
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from data import vocab

revision: str = '0025_scenario_villages'
down_revision: Union[str, Sequence[str], None] = '0024_incident_import'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    bands = ", ".join(f"'{c}'" for c in vocab.codes(vocab.TRIP_CHANGES))
    op.create_table(
        'scenario_village',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('scenario_id', sa.Integer(), nullable=False),
        sa.Column('settlement_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('village', sa.Text(), nullable=True),
        sa.Column('population', sa.Integer(), nullable=True),
        sa.Column('today_min', sa.Float(), nullable=True),
        sa.Column('scenario_min', sa.Float(), nullable=True),
        sa.Column('change_min', sa.Float(), nullable=True),
        sa.Column('change_band', sa.String(length=16), nullable=True),
        sa.Column('today_station_code', sa.String(length=32), nullable=True),
        sa.Column('scenario_station_code', sa.String(length=32), nullable=True),
        sa.Column('reason', sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column('roads_generated', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('run_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, spatial_index=False), nullable=False),
        sa.CheckConstraint(f"change_band IN ({bands})", name=op.f('ck_scenario_village_change_band_valid')),
        sa.ForeignKeyConstraint(['scenario_id'], ['scenario.id'], name=op.f('fk_scenario_village_scenario_id_scenario'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'],
                                name=op.f('fk_scenario_village_settlement_id_settlement'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['unit_id'], ['admin_unit.id'], name=op.f('fk_scenario_village_unit_id_admin_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_scenario_village')),
    )
    op.create_index('idx_scenario_village_geom', 'scenario_village', ['geom'], unique=False, postgresql_using='gist')
    for column in ('scenario_id', 'settlement_id', 'unit_id'):
        op.create_index(op.f(f'ix_scenario_village_{column}'), 'scenario_village', [column], unique=False)
    op.execute("ALTER TABLE scenario_village ADD COLUMN geom_3857 geometry(Point, 3857)"
               " GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED")
    op.execute("CREATE INDEX idx_scenario_village_geom_3857 ON scenario_village USING gist (geom_3857)")
    op.execute("INSERT INTO data_version (table_name, slot, version) VALUES ('scenario_village', 0, 1) "
               "ON CONFLICT DO NOTHING")
    op.execute("CREATE TRIGGER scenario_village_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "
               "scenario_village FOR EACH STATEMENT EXECUTE FUNCTION sitmap_bump_data_version()")


def downgrade() -> None:
    op.drop_table('scenario_village')
    op.execute("DELETE FROM data_version WHERE table_name = 'scenario_village'")
