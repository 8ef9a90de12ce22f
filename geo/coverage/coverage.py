"""Coverage: for a set of stations, the minutes from every village to the nearest one and to its own
commune's station, the population and villages within each limit per commune and for the province, the
coverage curve and the underserved villages.

One multi-source pgRouting search (``geo.travel.trips.nearest_station``) gives every village its nearest
station; one combinations query (``pair_trips``) gives the trips to the own stations. No router of its own.

The stations come from the tables (``station_frame``: in service on ``on``, their headquarters status on
that day) or from the caller: a scenario passes a modified copy of that frame (stations added, removed,
moved or given another status) and the tables are never touched. A village without a road path, or too
far from a road, is beyond every limit and carries a ``reason``; its minutes stay NaN, never a made-up figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg

from data import vocab
from geo.travel.access import own_stations
from geo.travel.network import Closures, closures_attrs, provenance, snap_reason
from geo.travel.trips import attached, nearest_station, pair_trips, stations, villages

# The curve runs every minute from 0 to this (or to the largest limit asked, if larger).
CURVE_MAX_MIN = 180
Basis = Literal["nearest", "own", "either"]
BASES: tuple[str, ...] = ("nearest", "own", "either")

STATUS_SQL = """
SELECT s.id, coalesce((SELECT h.hq_status FROM station_status_history h
                        WHERE h.station_id = s.id AND h.changed_at < (%(on)s::date + 1)
                        ORDER BY h.changed_at DESC, h.id DESC LIMIT 1), s.hq_status)
  FROM station s WHERE s.id = ANY(%(ids)s)
"""

VILLAGE_COLUMNS = ["village_id", "village", "population", "unit_id", "commune_code", "commune", "lon", "lat",
                   "village_node", "nearest_station_id", "nearest_station_code", "nearest_station_name",
                   "nearest_min", "nearest_reason", "own_station_id", "own_station_code", "own_station_name",
                   "own_min", "own_reason"]


class CoverageError(ValueError):
    """A coverage question that cannot be answered; the message says why and what to change."""


def station_frame(conn: psycopg.Connection, on: date) -> pd.DataFrame:
    """Stations in service on ``on`` (``trips.stations``) with ``hq_status``: the last status recorded in
    station_status_history by the end of that day, or the station's present status when none was.

    Columns: station_id, station_code, station, kind, unit_id, lon, lat, hq_status. A scenario edits a copy
    (a new station needs an id not used by another row, e.g. a negative one) and passes it to ``coverage``.
    """
    st = stations(conn, on)
    status = dict(conn.execute(STATUS_SQL, {"on": on, "ids": [int(i) for i in st["station_id"]]}).fetchall())
    st["hq_status"] = st["station_id"].map(status)
    return st


def check_statuses(statuses: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if statuses is None:
        return None
    known = vocab.codes(vocab.HQ_STATUSES)
    bad = [s for s in statuses if s not in known]
    if bad or not statuses:
        raise CoverageError(f"unknown headquarters status {', '.join(bad) or '(none given)'}: use one or more "
                            f"of {', '.join(known)}")
    return tuple(statuses)


def check_minutes(minutes: tuple[float, ...]) -> tuple[float, ...]:
    ms = tuple(sorted({float(m) for m in minutes}))
    if not ms or any(not np.isfinite(m) or m <= 0 for m in ms):
        raise CoverageError(f"minutes must be one or more limits above 0, not {list(minutes)}")
    return ms


def _pct(share: float) -> str:
    return "   -  " if share != share else f"{share * 100:5.1f}%"


def label(m: float) -> str:
    """A limit as it appears in column names: 30 -> '30', 7.5 -> '7.5'."""
    return f"{m:g}"


@dataclass(frozen=True)
class Coverage:
    """Everything one coverage run found. Minutes are door to door (walk to the road, drive, walk in).

    ``villages``: one row per village (``VILLAGE_COLUMNS``); ``communes``: one row per 2025 commune and
    ``province``: one row, both with ``villages``, ``population``, and per limit L ``villages_within_L``,
    ``population_within_L``, ``share_within_L`` (of the population) and the same ``*_beyond_L``, plus
    ``villages_unreachable`` / ``population_unreachable``; ``curve``: ``minutes`` 0..max, ``population``
    and ``share`` reached within it. ``attrs``: provenance (``roads_generated``, ``note``) and parameters.
    """

    villages: pd.DataFrame
    communes: pd.DataFrame
    province: pd.DataFrame
    curve: pd.DataFrame
    minutes: tuple[float, ...]
    underserved_min: float
    attrs: dict[str, object] = field(default_factory=dict)

    def underserved(self, threshold_min: float | None = None, basis: Basis = "nearest") -> pd.DataFrame:
        """Villages more than ``threshold_min`` (default ``underserved_min``) from the nearest station
        (``basis="nearest"``), from their own commune's station (``"own"``) or from either (``"either"``),
        unreachable ones included (minutes NaN, ``reason`` says why); largest population first."""
        t = self.underserved_min if threshold_min is None else float(threshold_min)
        if basis not in BASES:
            raise CoverageError(f"basis must be one of {', '.join(BASES)}, not {basis!r}")
        v = self.villages
        near = ~(v["nearest_min"] <= t)  # NaN (unreachable) counts as beyond
        own = ~(v["own_min"] <= t)
        mask = near if basis == "nearest" else own if basis == "own" else near | own
        out = v[mask].copy()
        reasons = {"nearest": out["nearest_reason"], "own": out["own_reason"],
                   "either": out["nearest_reason"].str.cat(out["own_reason"], sep="; ").str.strip("; ")}
        out["reason"] = reasons[basis]
        out = out.sort_values(["population", "village_id"], ascending=[False, True], kind="stable")
        out = gpd.GeoDataFrame(out.reset_index(drop=True), crs="EPSG:4326",
                               geometry=gpd.points_from_xy(out["lon"], out["lat"]))
        out.attrs = {**self.attrs, "basis": basis, "threshold_min": t}
        return out

    def lines(self) -> list[str]:
        """The table as text for a terminal: the province first, then each commune."""
        heads = "".join(f" | within {label(m):>3} min" for m in self.minutes)
        out = [f"{'commune':<28} {'villages':>8} {'population':>10}{heads}"]
        for _, r in self.table().iterrows():
            name = "PROVINCE" if r["scope"] == "province" else str(r["commune"])[:28]
            cells = "".join(f" | {int(r[f'population_within_{label(m)}']):>7,} {_pct(r[f'share_within_{label(m)}'])}"
                            for m in self.minutes)
            out.append(f"{name:<28} {int(r['villages']):>8} {int(r['population']):>10,}{cells}")
        if int(self.province["villages_unreachable"].iloc[0]):
            out.append(f"{int(self.province['villages_unreachable'].iloc[0])} villages "
                       f"({int(self.province['population_unreachable'].iloc[0]):,} people) have no road path to a "
                       "station: beyond every limit")
        return out

    def table(self) -> pd.DataFrame:
        """The province row first, then the communes (``scope`` says which)."""
        prov = self.province.assign(scope="province", commune_code=None, commune=None)
        com = self.communes.assign(scope="commune")
        out = pd.concat([prov, com], ignore_index=True)
        cols = ["scope", "commune_code", "commune"] + [c for c in out.columns
                                                       if c not in ("scope", "commune_code", "commune")]
        out = out[cols]
        out.attrs = dict(self.attrs)
        return out


def coverage(conn: psycopg.Connection, *, stations: pd.DataFrame | None = None, on: date,
             minutes: tuple[float, ...], statuses: tuple[str, ...] | None = None, max_snap_m: float,
             walk_kmh: float, underserved_min: float = 60.0, curve_max_min: int = CURVE_MAX_MIN,
             closures: Closures | None = None) -> Coverage:
    """Coverage of the villages by ``stations`` (default ``station_frame(conn, on)``), only those whose
    ``hq_status`` is in ``statuses`` when given, within each of ``minutes``.

    ``max_snap_m``: metres a village or station may lie from the road; ``walk_kmh``: speed of that walk.
    Roads closed by ``closures`` are not driven (default ``Closures.on_day(on)``: those in force now for
    today, at noon for another day; a scenario adds hypothetical ones there).
    Raises ``CoverageError`` for bad limits or statuses, ``geo.travel.network.NoRoads`` without roads.
    """
    ms = check_minutes(minutes)
    statuses = check_statuses(statuses)
    st = station_frame(conn, on) if stations is None else stations.copy()
    if st["station_id"].duplicated().any():
        raise CoverageError("each station in the frame needs its own station_id")
    if statuses is not None:
        st = st[st["hq_status"].isin(statuses)]
    closures = closures or Closures.on_day(on)
    vil = attached(conn, villages(conn), "village_id", "out", max_snap_m, walk_kmh, closures)
    sta = attached(conn, st, "station_id", "in", max_snap_m, walk_kmh, closures)
    per_village = _village_minutes(conn, vil, sta, max_snap_m, closures)
    communes, province = tables(per_village, ms)
    curve = curve_points(per_village, max(curve_max_min, int(np.ceil(ms[-1]))))
    attrs = {**provenance(conn), "on": on.isoformat(), "minutes": list(ms),
             "statuses": list(statuses) if statuses else None, "stations": len(sta),
             "max_snap_m": max_snap_m, "walk_kmh": walk_kmh, "underserved_min": float(underserved_min),
             **closures_attrs(conn, closures)}
    for frame in (per_village, communes, province, curve):
        frame.attrs = dict(attrs)
    return Coverage(per_village, communes, province, curve, ms, float(underserved_min), attrs)


def _village_minutes(conn: psycopg.Connection, vil: pd.DataFrame, st: pd.DataFrame, max_snap_m: float,
                     closures: Closures) -> pd.DataFrame:
    near = nearest_station(conn, st, closures=closures)
    vnode = vil["node"]
    hit = near.reindex(vnode.fillna(-1).astype(int).to_numpy())
    near_id = pd.Series(hit["station_id"].to_numpy(float), index=vil.index)
    near_s = vil["access_s"].to_numpy(float) + hit["total_s"].to_numpy(float)
    own = own_stations(vil, st) if len(st) else pd.Series(np.nan, index=vil.index)
    pairs = pd.DataFrame({"from_node": vnode, "to_node": own.map(st["node"])}, index=vil.index)
    trips = pair_trips(conn, pairs, closures=closures)
    own_access = own.map(st["access_s"]).to_numpy(float)
    own_s = vil["access_s"].to_numpy(float) + trips["network_s"].to_numpy(float) + own_access

    out = vil[["village", "population", "unit_id", "commune_code", "commune", "lon", "lat"]].copy()
    out["village_node"] = vnode
    for prefix, sid, secs in (("nearest", near_id, near_s), ("own", own, own_s)):
        out[f"{prefix}_station_id"] = sid.astype("Int64")
        out[f"{prefix}_station_code"] = sid.map(st["station_code"])
        out[f"{prefix}_station_name"] = sid.map(st["station"])
        out[f"{prefix}_min"] = secs / 60
    out["nearest_reason"] = [_near_reason(vil.loc[i], st, max_snap_m) if np.isnan(m) else ""
                             for i, m in zip(out.index, out["nearest_min"], strict=True)]
    out["own_reason"] = [_own_reason(vil.loc[i], o, st, max_snap_m) if np.isnan(m) else ""
                         for i, o, m in zip(out.index, own, out["own_min"], strict=True)]
    return out.reset_index()[VILLAGE_COLUMNS]


def _near_reason(v: pd.Series, st: pd.DataFrame, max_snap_m: float) -> str:
    if pd.isna(v["node"]):
        return "village " + snap_reason(v, max_snap_m)
    if st.empty:
        return "no station in service (with the statuses asked)"
    if not st["snap_ok"].any():
        return "no station lies near enough to a road"
    return "no road path to any station"


def _own_reason(v: pd.Series, own_id: float, st: pd.DataFrame, max_snap_m: float) -> str:
    if pd.isna(v["node"]):
        return "village " + snap_reason(v, max_snap_m)
    if pd.isna(own_id):
        return "no commune police station in service for its commune"
    s = st.loc[int(own_id)]
    if pd.isna(s["node"]):
        return "own station " + snap_reason(s, max_snap_m)
    return "no road path to its own station"


def tables(v: pd.DataFrame, ms: tuple[float, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-commune and total rows of ``v`` (a ``Coverage.villages`` frame or a selection of it): villages
    and population within and beyond each limit (unreachable villages beyond every limit), shares of the
    population."""
    pop = v["population"].to_numpy(float)
    cols = {"villages": np.ones(len(v)), "population": pop,
            "villages_unreachable": v["nearest_min"].isna().to_numpy(float),
            "population_unreachable": np.where(v["nearest_min"].isna(), pop, 0.0)}
    for m in ms:
        within = (v["nearest_min"] <= m).to_numpy()
        cols[f"villages_within_{label(m)}"] = within.astype(float)
        cols[f"population_within_{label(m)}"] = np.where(within, pop, 0.0)
        cols[f"villages_beyond_{label(m)}"] = (~within).astype(float)
        cols[f"population_beyond_{label(m)}"] = np.where(within, 0.0, pop)
    parts = pd.DataFrame(cols, index=v.index)
    keys = v[["commune_code", "commune"]].fillna({"commune_code": "", "commune": "(no commune)"})
    communes = parts.join(keys).groupby(["commune_code", "commune"], sort=True).sum().reset_index()
    province = parts.sum().to_frame().T
    out = []
    for frame in (communes, province):
        count_cols = [c for c in frame.columns if c.startswith(("villages", "population"))]
        frame[count_cols] = frame[count_cols].round().astype("int64")
        total = frame["population"].where(frame["population"] > 0)
        for m in ms:
            for side in ("within", "beyond"):
                frame[f"share_{side}_{label(m)}"] = frame[f"population_{side}_{label(m)}"] / total
        out.append(frame)
    return out[0], out[1]


def curve_points(v: pd.DataFrame, max_min: int = CURVE_MAX_MIN) -> pd.DataFrame:
    """Share of the population of ``v`` within each whole minute 0..max_min of the nearest station
    (unreachable villages are never reached, so the curve may end below 1)."""
    total = float(v["population"].sum())
    ok = v["nearest_min"].notna()
    t = v.loc[ok, "nearest_min"].to_numpy(float)
    order = np.argsort(t)
    cum = np.concatenate([[0.0], np.cumsum(v.loc[ok, "population"].to_numpy(float)[order])])
    grid = np.arange(0, max_min + 1, dtype=float)
    reached = cum[np.searchsorted(t[order], grid, side="right")]
    return pd.DataFrame({"minutes": grid, "population": reached.astype("int64"),
                         "share": reached / total if total > 0 else np.nan})
