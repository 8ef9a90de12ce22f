"""What the reorganisation of 2025 changed for a resident's trip to the police for a procedure, in two steps.

For every village, the trip (village -> station, one-way roads respected, walking legs counted):
- ``before``: until 28 February 2025, to the district police headquarters of its pre-2025 district;
- ``march``: from 1 March 2025 (district police abolished, procedures moved down), to the police of its
  pre-2025 commune;
- ``july``: from 1 July 2025 (communes merged), to the police station of its 2025 commune.
The station of each step is the one in service on that date (``station.valid_from``/``valid_to``), of kind
``district_police`` with the district's ``unit_id``, or ``commune_police`` with the commune's. All trips are
one combinations query (``trips.pair_trips``). Changes are signed, later minus earlier: negative = saved.
Minutes (``*_min``) and kilometres (``*_km``) per trip.

All three steps run over one road network, today's (the road graph itself is today's): the road closures in
force now, or those of ``closures``. A closure of some day is not the reorganisation's doing, so the steps'
own days are not used for closures.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg

from geo.travel.access import trip_columns, weighted_summary
from geo.travel.network import Closures, closures_attrs, provenance
from geo.travel.trips import attached, pair_trips, stations, villages

# (step, day the trip is taken on, station kind, village column holding the station's unit)
STEPS = (("before", date(2025, 2, 28), "district_police", "district_id"),
         ("march", date(2025, 3, 1), "commune_police", "pre2025_unit_id"),
         ("july", date(2025, 7, 1), "commune_police", "unit_id"))
CHANGES = (("march", "before", "march"), ("july", "march", "july"), ("total", "before", "july"))


def savings_table(conn: psycopg.Connection, *, max_snap_m: float, walk_kmh: float,
                  closures: Closures | None = None) -> gpd.GeoDataFrame:
    """One row per village: station, node, minutes and km of each step's trip, and the signed changes
    ``change_march_*`` (March minus before), ``change_july_*`` (July minus March), ``change_total_*``."""
    closures = closures or Closures(at=datetime.now(UTC))
    vil = attached(conn, villages(conn), "village_id", "out", max_snap_m, walk_kmh, closures)
    frames = []
    for step, on, kind, _unit_col in STEPS:
        f = stations(conn, on, (kind,))
        f["step"] = step
        frames.append(f)
    all_st = pd.concat(frames).drop_duplicates("station_id")
    st = attached(conn, all_st.drop(columns="step"), "station_id", "in", max_snap_m, walk_kmh, closures)
    chosen = {}
    for (step, _on, _kind, unit_col), f in zip(STEPS, frames, strict=True):
        by_unit = f.drop_duplicates("unit_id").set_index("unit_id")["station_id"]
        chosen[step] = vil[unit_col].map(by_unit)
    pairs = pd.concat([pd.DataFrame({"from_node": vil["node"], "to_node": chosen[s].map(st["node"])}) for s in chosen])
    trips = pair_trips(conn, pairs.drop_duplicates(), closures=closures)
    lookup = trips.set_index(["from_node", "to_node"])
    out = vil[["village", "population", "commune_code", "commune", "pre2025_code", "pre2025_commune", "lon",
               "lat"]].copy()
    out["village_node"] = vil["node"]
    for step in chosen:
        key = pd.MultiIndex.from_arrays([vil["node"], chosen[step].map(st["node"])])
        found = lookup.reindex(key)
        cols = trip_columns(f"{step}_station", vil, st, chosen[step], found["network_s"].to_numpy(float),
                            found["network_m"].to_numpy(float))
        out[f"{step}_station_code"] = cols[f"{step}_station_code"]
        out[f"{step}_station_node"] = cols[f"{step}_station_node"]
        out[f"{step}_min"] = cols[f"{step}_station_min"]
        out[f"{step}_km"] = cols[f"{step}_station_m"] / 1000
    for name, a, b in CHANGES:
        out[f"change_{name}_min"] = out[f"{b}_min"] - out[f"{a}_min"]
        out[f"change_{name}_km"] = out[f"{b}_km"] - out[f"{a}_km"]
    missing = out[[f"{s}_min" for s in chosen]].isna()
    out["reason"] = missing.apply(lambda r: "; ".join(f"no {c[:-4]} trip" for c, v in r.items() if v), axis=1)
    gdf = gpd.GeoDataFrame(out.reset_index(), geometry=gpd.points_from_xy(out["lon"], out["lat"]), crs="EPSG:4326")
    gdf.attrs.update(provenance(conn), max_snap_m=max_snap_m, walk_kmh=walk_kmh,
                     steps={s: d.isoformat() for s, d, _k, _u in STEPS}, **closures_attrs(conn, closures))
    return gdf


def savings_summaries(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Population-weighted minutes and km of each step and change, per 2025 commune and for the province,
    with ``person_hours_*``: the change summed over residents for one trip each (negative = saved)."""
    values = [f"{s}_{u}" for s, *_ in STEPS for u in ("min", "km")] + \
             [f"change_{n}_{u}" for n, *_ in CHANGES for u in ("min", "km")]
    out = {}
    for scope, by in (("commune", ["commune_code", "commune"]), ("province", None)):
        parts = []
        for v in values:
            s = weighted_summary(table, v, by)
            keep = [f"{v}_weighted_mean"] if parts else [*(by or []), "villages", "population", f"{v}_weighted_mean"]
            parts.append(s[keep].rename(columns={f"{v}_weighted_mean": v}))
        summary = pd.concat(parts, axis=1)
        groups = [table] if not by else [g for _, g in table.groupby(by, dropna=False)]
        for n, *_ in CHANGES:
            summary[f"person_hours_{n}"] = [float((g["population"] * g[f"change_{n}_min"]).sum() / 60) for g in groups]
        out[scope] = summary
    return out


def farther_after_july(table: pd.DataFrame) -> dict[str, float]:
    """Villages and residents whose trip is longer from 1 July than it was from 1 March, and by how much
    (minutes and km, population-weighted over them; and the largest increase)."""
    worse = table[table["change_july_min"] > 0]
    w = worse["population"].to_numpy(float)
    return {"villages": int(len(worse)), "population": int(w.sum()),
            "villages_total": int(table["change_july_min"].notna().sum()),
            "population_total": int(table.loc[table["change_july_min"].notna(), "population"].sum()),
            "extra_min_weighted_mean": float(np.average(worse["change_july_min"], weights=w)) if w.sum() else 0.0,
            "extra_km_weighted_mean": float(np.average(worse["change_july_km"], weights=w)) if w.sum() else 0.0,
            "extra_min_max": float(worse["change_july_min"].max()) if len(worse) else 0.0}
