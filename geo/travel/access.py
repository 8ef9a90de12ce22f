"""Village access: for every village, the trip to its own commune's station and to the nearest station.

One multi-source search finds the nearest station of every node (``trips.nearest_station``); one
combinations query finds the trips to the own stations (one search per station, ``trips.pair_trips``);
nothing runs once per village. Each row carries the node ids used, so a figure can be checked with
``pgr_dijkstra`` over ``road_edge``::

    nearest_station_s = village_access_s + nearest_station_network_s + nearest_station_access_s

where ``*_network_s`` is the shortest path from ``village_node`` to the station's node. Times in seconds
(``*_s``) and minutes (``*_min``), distances in metres (``*_m``, road plus the walking legs), geometry
EPSG:4326 points of the villages.
"""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg

from geo.travel.network import Closures, closures_attrs, provenance, snap_reason
from geo.travel.trips import attached, nearest_station, pair_trips, stations, straight_m, villages


def own_stations(vil: pd.DataFrame, st: pd.DataFrame) -> pd.Series:
    """The commune police station of each village's commune among ``st``: its 2025 commune, or before the
    merger its pre-2025 commune (whichever has a station in service), indexed by village_id."""
    commune = st[st["kind"] == "commune_police"].reset_index().drop_duplicates("unit_id").set_index("unit_id")
    by_new = vil["unit_id"].map(commune["station_id"])
    by_old = vil["pre2025_unit_id"].map(commune["station_id"])
    return by_new.fillna(by_old)


def trip_columns(prefix: str, vil: pd.DataFrame, st: pd.DataFrame, station_id: pd.Series, network_s, network_m
         ) -> pd.DataFrame:
    """Columns of one trip (village -> station) from the network part and both access legs."""
    sid = station_id.to_numpy(float)
    known = ~np.isnan(sid)
    sidx = st.reindex(np.where(known, sid, -1).astype(int))
    out = pd.DataFrame(index=vil.index)
    out[f"{prefix}_id"] = np.where(known, sid, np.nan)
    out[f"{prefix}_code"] = np.where(known, sidx["station_code"].to_numpy(object), None)
    out[f"{prefix}_name"] = np.where(known, sidx["station"].to_numpy(object), None)
    out[f"{prefix}_node"] = sidx["node"].to_numpy(float)
    out[f"{prefix}_access_s"] = sidx["access_s"].to_numpy(float)
    out[f"{prefix}_network_s"] = np.asarray(network_s, dtype=float)
    out[f"{prefix}_s"] = vil["access_s"].to_numpy(float) + out[f"{prefix}_network_s"] + out[f"{prefix}_access_s"]
    out[f"{prefix}_min"] = out[f"{prefix}_s"] / 60
    out[f"{prefix}_m"] = (vil["access_m"].to_numpy(float) + np.asarray(network_m, dtype=float)
                          + sidx["access_m"].to_numpy(float))
    out[f"{prefix}_straight_m"] = straight_m(vil["lon"], vil["lat"], sidx["lon"], sidx["lat"])
    out[f"{prefix}_ratio"] = out[f"{prefix}_m"] / out[f"{prefix}_straight_m"].where(out[f"{prefix}_straight_m"] > 0)
    return out


def access_table(conn: psycopg.Connection, *, on: date, max_snap_m: float, walk_kmh: float,
                 kinds: tuple[str, ...] | None = None, closures: Closures | None = None) -> gpd.GeoDataFrame:
    """One row per village: the trips to its own commune's station and to the nearest station in service
    on ``on`` (of ``kinds``, default all). ``max_snap_m``: metres a village or station may lie from the road;
    ``walk_kmh``: speed of that walk. ``reason`` says why a trip is missing (never a made-up figure).
    Roads closed by ``closures`` are not driven; default ``Closures.on_day(on)``: the closures in force now
    for today, at noon for another day."""
    closures = closures or Closures.on_day(on)
    vil = attached(conn, villages(conn), "village_id", "out", max_snap_m, walk_kmh, closures)
    st = attached(conn, stations(conn, on, kinds), "station_id", "in", max_snap_m, walk_kmh, closures)
    near = nearest_station(conn, st, closures=closures)
    vnode = vil["node"]
    hit = near.reindex(vnode.fillna(-1).astype(int).to_numpy())
    nearest = trip_columns("nearest_station", vil, st, pd.Series(hit["station_id"].to_numpy(float), index=vil.index),
                   hit["network_s"].to_numpy(float), hit["network_m"].to_numpy(float))
    own = own_stations(vil, st)
    pairs = pd.DataFrame({"from_node": vnode, "to_node": own.map(st["node"])}, index=vil.index)
    trips = pair_trips(conn, pairs, closures=closures)
    own_leg = trip_columns("own_station", vil, st, own, trips["network_s"], trips["network_m"])
    out = pd.concat([vil[["village", "population", "unit_id", "commune_code", "commune", "pre2025_code",
                          "pre2025_commune", "lon", "lat"]], vil["node"].rename("village_node"),
                     vil["snap_m"].rename("village_snap_m"), vil["access_s"].rename("village_access_s"),
                     nearest, own_leg], axis=1)
    out["reason"] = [_reason(vil.loc[i], own_leg.loc[i], nearest.loc[i], st, max_snap_m) for i in vil.index]
    gdf = gpd.GeoDataFrame(out.reset_index(), geometry=gpd.points_from_xy(out["lon"], out["lat"]), crs="EPSG:4326")
    gdf.attrs.update(provenance(conn), on=on.isoformat(), max_snap_m=max_snap_m, walk_kmh=walk_kmh,
                     **closures_attrs(conn, closures))
    return gdf


def _reason(v: pd.Series, own: pd.Series, near: pd.Series, st: pd.DataFrame, max_snap_m: float) -> str:
    if pd.isna(v["node"]):
        return "village " + snap_reason(v, max_snap_m)
    parts = []
    if pd.isna(own["own_station_id"]):
        parts.append("no commune police station in service for its commune")
    elif pd.isna(own["own_station_node"]):
        parts.append("own station " + snap_reason(st.loc[int(own["own_station_id"])], max_snap_m))
    elif pd.isna(own["own_station_s"]):
        parts.append("no road path to its own station")
    if pd.isna(near["nearest_station_s"]):
        parts.append("no road path to any station")
    return "; ".join(parts)


def weighted_summary(df: pd.DataFrame, value: str, by: list[str] | None) -> pd.DataFrame:
    """Population-weighted mean of ``value`` (villages without a value left out and counted), with the
    unweighted median and maximum, per group ``by`` (the whole frame when None)."""
    def one(g: pd.DataFrame) -> pd.Series:
        ok = g[g[value].notna()]
        w = ok["population"].to_numpy(float)
        return pd.Series({"villages": len(g), "villages_without_value": len(g) - len(ok),
                          "population": int(g["population"].sum()),
                          f"{value}_weighted_mean": float(np.average(ok[value], weights=w)) if w.sum() > 0 else np.nan,
                          f"{value}_median": float(ok[value].median()) if len(ok) else np.nan,
                          f"{value}_max": float(ok[value].max()) if len(ok) else np.nan})

    if not by:
        return one(df).to_frame().T
    return df.groupby(by, dropna=False).apply(one, include_groups=False).reset_index()


def access_summaries(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Population-weighted minutes to the own and the nearest station, per 2025 commune and province."""
    out = {}
    for scope, by in (("commune", ["commune_code", "commune"]), ("province", None)):
        own = weighted_summary(table, "own_station_min", by)
        near = weighted_summary(table, "nearest_station_min", by)
        cols = [c for c in near.columns if c.startswith("nearest_station_min")]
        out[scope] = pd.concat([own, near[cols]], axis=1)
    return out
