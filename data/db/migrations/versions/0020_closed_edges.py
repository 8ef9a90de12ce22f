"""closed road edges: the one definition of "a closure in force" and of "an edge it closes"

``sitmap_closure_in_force(starts_at, ends_at, reopened_at, at)``: a closure is in force at ``at`` from its
start (inclusive) until the earlier of its end and its reopening (exclusive); open-ended when both are NULL.
``sitmap_closed_edges(at, snap_m, extra)``: the ids of the road edges within ``snap_m`` metres (geodesic) of a
closure in force at ``at`` or of one of the hypothetical closures ``extra`` (EPSG:4326 points or lines that
are not in the table: a planner's what-if). The travel analyses (geo/travel/network.py) give those edges the
cost -1 both ways, so pgRouting skips them and no point snaps onto them; the closures layer and the ops read
the same in-force rule.

Revision ID: 0020_closed_edges
Revises: 0019_closures_scenarios
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0020_closed_edges'
down_revision: Union[str, Sequence[str], None] = '0019_closures_scenarios'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("""
CREATE FUNCTION sitmap_closure_in_force(starts timestamptz, ends timestamptz, reopened timestamptz,
                                        at timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT starts <= at AND at < coalesce(least(ends, reopened), 'infinity'::timestamptz)
$$""")
    # The bounding box is widened by snap_m in degrees of longitude at the box's highest latitude (the
    # widest a metre gets), so the index finds every candidate; the geodesic distance then decides.
    op.execute("""
CREATE FUNCTION sitmap_closed_edges(at timestamptz, snap_m float8, extra geometry[] DEFAULT '{}')
RETURNS SETOF bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT DISTINCT e.id
    FROM (SELECT c.geom FROM road_closure c
           WHERE sitmap_closure_in_force(c.starts_at, c.ends_at, c.reopened_at, at)
          UNION ALL
          SELECT ST_SetSRID(g, 4326) FROM unnest(coalesce(extra, '{}')) AS x(g)) k
    JOIN road_edge e
      ON e.geom && ST_Expand(k.geom, snap_m / (111320.0 * cos(radians(least(
                       greatest(abs(ST_YMin(k.geom)), abs(ST_YMax(k.geom))), 89.0)))))
     AND ST_DWithin(e.geom::geography, k.geom::geography, snap_m)
$$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION sitmap_closed_edges(timestamptz, float8, geometry[])")
    op.execute("DROP FUNCTION sitmap_closure_in_force(timestamptz, timestamptz, timestamptz, timestamptz)")
