"""Response times: how long a patrol from the commune station takes to reach each logged incident.

The responding station is the commune police station in service on the incident's day (Asia/Ho_Chi_Minh):
from 1 July 2025 the station of the incident's 2025 commune (``incident.unit_id``), before it the police of
the pre-2025 commune containing the point. The trip runs station -> incident (forward graph, one search per
station in one combinations query), with both walking legs, over the roads as they were when the incident
happened: the road closures then in force are respected (incidents under the same closures share a search).
Seconds (``response_s``), minutes
(``response_min``), road kilometres; incidents in EPSG:4326.
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg

from geo.travel.network import Closures, provenance
from geo.travel.trips import attached, pair_trips

TZ = "Asia/Ho_Chi_Minh"

INCIDENTS_SQL = f"""
SELECT i.id::text, i.number, i.occurred_at, to_char(i.occurred_at AT TIME ZONE '{TZ}', 'YYYY-MM'), i.category,
       i.unit_id, u.code, u.name, ST_X(i.geom), ST_Y(i.geom), s.id
  FROM incident i LEFT JOIN admin_unit u ON u.id = i.unit_id
  LEFT JOIN LATERAL (
        SELECT st.id FROM station st JOIN admin_unit su ON su.id = st.unit_id
         WHERE st.kind = 'commune_police'
           AND (st.valid_from IS NULL OR st.valid_from <= (i.occurred_at AT TIME ZONE '{TZ}')::date)
           AND (st.valid_to IS NULL OR st.valid_to >= (i.occurred_at AT TIME ZONE '{TZ}')::date)
           AND (st.unit_id = i.unit_id OR (su.era <> '2025' AND ST_Intersects(su.geom, i.geom)))
         ORDER BY st.unit_id = i.unit_id DESC, st.id LIMIT 1) s ON true
 WHERE i.occurred_at >= %(since)s AND i.occurred_at < %(until)s
 ORDER BY i.occurred_at, i.number
"""  # noqa: S608 (TZ is a constant of this module)
COLUMNS = ["incident_id", "number", "occurred_at", "month", "category", "unit_id", "commune_code", "commune", "lon",
           "lat", "station_id"]


# For each incident, the closures of the table in force when it happened (the one rule, migration 0020).
IN_FORCE_SQL = """
SELECT array(SELECT c.id FROM road_closure c
              WHERE sitmap_closure_in_force(c.starts_at, c.ends_at, c.reopened_at, t.at) ORDER BY c.id)
  FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS t(at, k) ORDER BY t.k
"""


def closure_groups(conn: psycopg.Connection, inc: pd.DataFrame, closures: Closures | None
                   ) -> list[tuple[Closures, np.ndarray]]:
    """The incidents (positions in ``inc``) that share one road network, with its closures. Without a time in
    ``closures`` each incident is answered over the roads as they were when it happened: the closures in force
    at its ``occurred_at``, plus ``closures.extra``; incidents under the same set of closures share a search."""
    base = closures or Closures()
    if base.at is not None or inc.empty:
        return [(base, np.arange(len(inc)))]
    states = [tuple(r[0]) for r in conn.execute(IN_FORCE_SQL, [list(inc["occurred_at"])]).fetchall()]
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, state in enumerate(states):
        groups.setdefault(state, []).append(k)
    return [(Closures(at=inc["occurred_at"].iloc[ks[0]], extra=base.extra, snap_m=base.snap_m), np.asarray(ks))
            for ks in groups.values()]


def _one_network(conn: psycopg.Connection, inc: pd.DataFrame, closures: Closures, max_snap_m: float,
                 walk_kmh: float) -> pd.DataFrame:
    """The response columns of ``inc`` over the roads open under ``closures``."""
    ia = attached(conn, inc, "key", "in", max_snap_m, walk_kmh, closures)
    ids = inc["station_id"].dropna().astype(int).unique().tolist()
    st = pd.DataFrame(conn.execute("SELECT id, code, ST_X(geom), ST_Y(geom) FROM station WHERE id = ANY(%s)",
                                   [ids]).fetchall(), columns=["station_id", "station_code", "lon", "lat"])
    sa = attached(conn, st, "station_id", "out", max_snap_m, walk_kmh, closures)
    pairs = pd.DataFrame({"from_node": ia["station_id"].map(sa["node"]), "to_node": ia["node"]})
    trips = pair_trips(conn, pairs, search_from="from", closures=closures)
    out = ia[["incident_id", "number", "occurred_at", "month", "category", "commune_code", "commune", "lon",
              "lat", "station_id"]].copy()
    out["station_code"] = ia["station_id"].map(sa["station_code"])
    out["station_node"] = pairs["from_node"]
    out["incident_node"] = ia["node"]
    out["response_s"] = (ia["station_id"].map(sa["access_s"]) + trips["network_s"] + ia["access_s"])
    out["response_min"] = out["response_s"] / 60
    out["road_km"] = (ia["station_id"].map(sa["access_m"]) + trips["network_m"] + ia["access_m"]) / 1000
    return out


def response_times(conn: psycopg.Connection, *, since: datetime, until: datetime, max_snap_m: float,
                   walk_kmh: float, closures: Closures | None = None) -> gpd.GeoDataFrame:
    """One row per incident with ``since <= occurred_at < until`` (aware datetimes): the responding
    ``station_code``, ``station_node``, ``incident_node``, ``response_s``/``response_min``, ``road_km``, and a
    ``reason`` where there is no figure. Each trip respects the road closures in force when the incident
    happened (``closure_groups``); a ``closures`` with a time uses that time for every incident instead."""
    inc = pd.DataFrame(conn.execute(INCIDENTS_SQL, {"since": since, "until": until}).fetchall(), columns=COLUMNS)
    inc["key"] = np.arange(len(inc))
    groups = closure_groups(conn, inc, closures)
    out = pd.concat([_one_network(conn, inc.iloc[ks], c, max_snap_m, walk_kmh) for c, ks in groups]
                    ).sort_index()
    out["reason"] = np.select(
        [out["station_id"].isna(), out["incident_node"].isna(), out["station_node"].isna(), out["response_s"].isna()],
        ["no commune police station in service for the place and day", "incident too far from a road",
         "station too far from a road", "no road path from the station"], "")
    gdf = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=gpd.points_from_xy(out["lon"], out["lat"]),
                           crs="EPSG:4326")
    base = closures or Closures()
    gdf.attrs.update(provenance(conn), since=since.isoformat(), until=until.isoformat(), max_snap_m=max_snap_m,
                     walk_kmh=walk_kmh, closures_at="each incident's time" if base.at is None else base.at.isoformat(),
                     closure_networks=len(groups), hypothetical_closures=len(base.extra), closure_snap_m=base.snap_m)
    return gdf


def response_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th percentile of the response minutes per 2025 commune and month (incidents without a
    figure counted apart, never as zero)."""
    g = table.groupby(["commune_code", "commune", "month"], dropna=False)
    out = g["response_min"].agg(incidents="size", with_figure="count", median_min="median",
                                p90_min=lambda x: x.quantile(0.9) if x.notna().any() else np.nan)
    return out.reset_index()
