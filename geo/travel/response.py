"""Response times: how long a patrol from the commune station takes to reach each logged incident.

The responding station is the commune police station in service on the incident's day (Asia/Ho_Chi_Minh):
from 1 July 2025 the station of the incident's 2025 commune (``incident.unit_id``), before it the police of
the pre-2025 commune containing the point. The trip runs station -> incident (forward graph, one search per
station in one combinations query), with both walking legs. Seconds (``response_s``), minutes
(``response_min``), road kilometres; incidents in EPSG:4326.
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg

from geo.travel.network import provenance
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


def response_times(conn: psycopg.Connection, *, since: datetime, until: datetime, max_snap_m: float,
                   walk_kmh: float) -> gpd.GeoDataFrame:
    """One row per incident with ``since <= occurred_at < until`` (aware datetimes): the responding
    ``station_code``, ``station_node``, ``incident_node``, ``response_s``/``response_min``, ``road_km``, and a
    ``reason`` where there is no figure."""
    inc = pd.DataFrame(conn.execute(INCIDENTS_SQL, {"since": since, "until": until}).fetchall(), columns=COLUMNS)
    inc["key"] = np.arange(len(inc))
    ia = attached(conn, inc, "key", "in", max_snap_m, walk_kmh)
    ids = inc["station_id"].dropna().astype(int).unique().tolist()
    st = pd.DataFrame(conn.execute("SELECT id, code, ST_X(geom), ST_Y(geom) FROM station WHERE id = ANY(%s)",
                                   [ids]).fetchall(), columns=["station_id", "station_code", "lon", "lat"])
    sa = attached(conn, st, "station_id", "out", max_snap_m, walk_kmh)
    pairs = pd.DataFrame({"from_node": ia["station_id"].map(sa["node"]), "to_node": ia["node"]})
    trips = pair_trips(conn, pairs, search_from="from")
    out = ia[["incident_id", "number", "occurred_at", "month", "category", "commune_code", "commune", "lon",
              "lat", "station_id"]].copy()
    out["station_code"] = ia["station_id"].map(sa["station_code"])
    out["station_node"] = pairs["from_node"]
    out["incident_node"] = ia["node"]
    out["response_s"] = (ia["station_id"].map(sa["access_s"]) + trips["network_s"] + ia["access_s"])
    out["response_min"] = out["response_s"] / 60
    out["road_km"] = (ia["station_id"].map(sa["access_m"]) + trips["network_m"] + ia["access_m"]) / 1000
    out["reason"] = np.select(
        [out["station_id"].isna(), out["incident_node"].isna(), out["station_node"].isna(), out["response_s"].isna()],
        ["no commune police station in service for the place and day", "incident too far from a road",
         "station too far from a road", "no road path from the station"], "")
    gdf = gpd.GeoDataFrame(out.reset_index(drop=True), geometry=gpd.points_from_xy(out["lon"], out["lat"]),
                           crs="EPSG:4326")
    gdf.attrs.update(provenance(conn), since=since.isoformat(), until=until.isoformat(), max_snap_m=max_snap_m,
                     walk_kmh=walk_kmh)
    return gdf


def response_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median and 90th percentile of the response minutes per 2025 commune and month (incidents without a
    figure counted apart, never as zero)."""
    g = table.groupby(["commune_code", "commune", "month"], dropna=False)
    out = g["response_min"].agg(incidents="size", with_figure="count", median_min="median",
                                p90_min=lambda x: x.quantile(0.9) if x.notna().any() else np.nan)
    return out.reset_index()
