"""The demo's police: stations of both eras with headquarters status history, then (through
``data.demo.patrols``) security teams and patrol points; and the reported administrative-procedure
figures. Figures and names come from the demo's data file (``cfg['police']``, ``cfg['service_stats']``).

Called by the demo loader inside its transaction, after the geography is in the database:
``load_police`` -> ``incidents.load_incidents`` -> ``load_service_stats``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from data.demo import patrols
from data.demo.gen_util import allocate, as_date, copy_rows, ewkt_point, random_dates
from data.demo.seats import Seats, load_seats

STATION_COLUMNS = ("code", "name", "kind", "unit_id", "hq_status", "officers", "services", "contact",
                   "valid_from", "valid_to", "is_generated", "geom")


def station_name(unit_name: str) -> str:
    """'Xã Na Ư' -> 'Công an xã Na Ư'; 'Huyện Mường Nhé' -> 'Công an huyện Mường Nhé'."""
    return f"Công an {unit_name[:1].lower()}{unit_name[1:]}"


def _phone(rng: np.random.Generator, area: str) -> str:
    d = rng.integers(0, 10, size=6)
    return f"{area} 3{d[0]}{d[1]}{d[2]} {d[3]}{d[4]}{d[5]}"


def _unit_points(conn: psycopg.Connection, seats: Seats) -> dict[int, tuple[float, float]]:
    """A point for each earlier unit: its main village, or a point inside it when it has none."""
    pts = {}
    sids = [o.main_settlement for o in seats.old.values() if o.main_settlement]
    coords = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT id, ST_X(geom), ST_Y(geom) FROM settlement WHERE id = ANY(%s)", [sids])}
    missing = []
    for o in seats.old.values():
        if o.main_settlement in coords:
            pts[o.id] = coords[o.main_settlement]
        else:
            missing.append(o.id)
    for uid, x, y in conn.execute(
            "SELECT o.id, ST_X(p), ST_Y(p) FROM admin_unit o, LATERAL (SELECT ST_PointOnSurface(COALESCE("
            "(SELECT ST_Intersection(o.geom, n.geom) FROM admin_lineage l JOIN admin_unit n ON n.id = l.new_unit_id"
            " WHERE l.old_unit_id = o.id ORDER BY l.area_share DESC NULLS LAST LIMIT 1), o.geom)) p) q "
            "WHERE o.id = ANY(%s)", [missing]):
        pts[uid] = (x, y)
    return pts


def _history_rows(station_id: int, steps: list[tuple[str, date, str]], tz: ZoneInfo) -> list[tuple]:
    return [(station_id, status, datetime.combine(d, time(8, 0), tz), note, True) for status, d, note in steps]


def load_police(conn: psycopg.Connection, cfg: dict, rng: np.random.Generator,
                progress: bool = False) -> dict[str, int]:
    pc = cfg["police"]
    tz = ZoneInfo(cfg.get("province", {}).get("timezone", "Asia/Ho_Chi_Minh"))
    seats = load_seats(conn)
    if not seats.new_units or not seats.old:
        raise RuntimeError("load_police needs the geography first: no admin units of both eras in the database")
    points = _unit_points(conn, seats)
    prefix = pc["code_prefix"]
    area = str(pc.get("phone_area_code", ""))
    rows: list[tuple] = []
    history: list[tuple[str, list[tuple[str, date, str]]]] = []   # (station code, steps)

    # --- the 129 earlier commune-level units (until 30 June 2025) ---------------------------------
    pre = pc["pre2025_units"]
    pre_to = as_date(pre["valid_to"])
    start = as_date(pre["regular_police_from"])
    olds = sorted(seats.old.values(), key=lambda o: o.code)
    reported = [o for o in olds if o.kind != "ward"]
    wards = [o for o in olds if o.kind == "ward"]
    if len(reported) != int(pre["commune_and_township_units"]):
        raise RuntimeError(f"expected {pre['commune_and_township_units']} commune and township units, "
                           f"found {len(reported)}")
    tw = float(pre.get("township_weight", 1.0))
    weight = np.array([max(o.population, 1) ** 0.7 * (tw if o.kind == "township" else 1.0) for o in reported])
    officers = allocate(int(pre["full_time_officers"]), weight, int(pre.get("min_officers", 1)))
    p_ind = weight / weight.sum()
    ind_idx = set(rng.choice(len(reported), size=int(pre["independent_headquarters"]), replace=False, p=p_ind))
    other = pre["not_independent"]
    other_kinds, other_p = list(other), np.array(list(other.values()), dtype=float)
    ind_lo, ind_hi = (as_date(d) for d in pre["independent_since"])
    con_lo, con_hi = (as_date(d) for d in pre["construction_started"])

    def pre_steps(status: str) -> list[tuple[str, date, str]]:
        steps = [("shared", start, "Công an chính quy về xã, làm việc chung trụ sở UBND")]
        if status == "independent":
            done = random_dates(rng, ind_lo, ind_hi, 1)[0]
            begun = done - timedelta(days=int(rng.integers(240, 540)))
            steps.append(("under_construction", max(begun, start + timedelta(days=30)), "Khởi công trụ sở"))
            steps.append(("independent", done, "Đưa trụ sở độc lập vào sử dụng"))
        elif status == "under_construction":
            steps.append(("under_construction", random_dates(rng, con_lo, con_hi, 1)[0], "Khởi công trụ sở"))
        return steps

    for i, o in enumerate(reported):
        status = "independent" if i in ind_idx else str(rng.choice(other_kinds, p=other_p / other_p.sum()))
        code = f"{prefix['pre2025']}{o.code}"
        rows.append((code, station_name(o.name), "commune_police", o.id, status, int(officers[i]),
                     list(pre["services"]), _phone(rng, area), None, pre_to, True, ewkt_point(*points[o.id])))
        history.append((code, pre_steps(status)))
    w_lo, w_hi = pre["ward_officers"]
    for o in wards:
        status = "independent" if rng.random() < float(pre["ward_independent_share"]) else "under_construction"
        code = f"{prefix['pre2025']}{o.code}"
        rows.append((code, station_name(o.name), "commune_police", o.id, status, int(rng.integers(w_lo, w_hi + 1)),
                     list(pre["services"]), _phone(rng, area), None, pre_to, True, ewkt_point(*points[o.id])))
        history.append((code, pre_steps(status)))
    old_status = {r[3]: r[4] for r in rows}

    # --- the 10 district police headquarters (until 28 February 2025) -------------------------------
    dp = pc["district_police"]
    if len(seats.districts) != int(dp["count"]):
        raise RuntimeError(f"expected {dp['count']} districts, found {len(seats.districts)}")
    dist_pop = {d: sum(o.population for o in olds if o.district_id == d) for d in seats.districts}
    ranked = sorted(seats.districts, key=lambda d: dist_pop[d])
    lo, hi = dp["officers"]
    off_lo, off_hi = dp["offset_m"]
    district_rows = []
    for rank, did in enumerate(ranked):
        dcode, dname = seats.districts[did]
        town = seats.district_seat[did]
        n_off = int(round(lo + (hi - lo) * rank / max(len(ranked) - 1, 1) + rng.integers(-5, 6)))
        district_rows.append((did, town, rng.uniform(off_lo, off_hi), rng.uniform(0, 360), dcode, dname, n_off,
                              _phone(rng, area)))
    district_rows.sort(key=lambda r: r[4])
    for did, town, dist_m, az, dcode, dname, n_off, phone in district_rows:
        x, y = points[town]
        # Offset from the town's centre, kept inside the district (else the centre itself).
        px, py = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT CASE WHEN ST_Intersects(d.geom, q) THEN q ELSE c END p FROM "
            "admin_unit d, LATERAL (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) c) c0, LATERAL (SELECT "
            "ST_Project(c::geography, %s, radians(%s))::geometry q) q0 WHERE d.id = %s) z",
            [x, y, dist_m, az, did]).fetchone()
        code = f"{prefix['district']}{dcode}"
        rows.append((code, station_name(dname), "district_police", did, "independent", n_off, list(dp["services"]),
                     phone, None, as_date(dp["valid_to"]), True, ewkt_point(px, py)))
        history.append((code, [("independent", start, "Trụ sở Công an huyện")]))

    # --- the 45 commune police stations from 1 July 2025, at each unit's administrative centre ------
    cp = pc["commune_police_2025"]
    new_ids = sorted(seats.new_units, key=lambda n: seats.new_units[n][0])
    if len(new_ids) != int(cp["count"]):
        raise RuntimeError(f"expected {cp['count']} units of 2025, found {len(new_ids)}")
    valid_from = as_date(cp["valid_from"])
    pops = np.array([max(seats.new_units[n][3], 1) for n in new_ids], dtype=float)
    officers25 = allocate(int(cp["officers"]), pops ** 0.8, int(cp.get("min_officers", 1)))
    shares = cp["status_shares"]
    counts = allocate(len(new_ids), list(shares.values()))
    prior = {"independent": 0, "under_construction": 1, "planned": 2, "shared": 3}
    order = sorted(range(len(new_ids)), key=lambda i: (
        prior.get(old_status.get(seats.new_seat[new_ids[i]], "shared"), 3), -pops[i] * rng.uniform(0.6, 1.4)))
    status_of: dict[int, str] = {}
    k = 0
    for status, c in zip(shares, counts, strict=True):
        for i in order[k:k + int(c)]:
            status_of[i] = status
        k += int(c)
    c_lo, c_hi = (as_date(d) for d in cp["completed_by"])
    for i, nid in enumerate(new_ids):
        ncode, nname, _centre, _pop = seats.new_units[nid]
        seat = seats.new_seat[nid]
        status = status_of[i]
        seat_name = seats.old[seat].name
        if status == "independent" and old_status.get(seat) == "independent":
            steps = [("independent", valid_from, f"Tiếp quản trụ sở Công an {seat_name[:1].lower()}{seat_name[1:]}")]
        elif status == "independent":
            done = random_dates(rng, c_lo, c_hi, 1)[0]
            steps = [("shared", valid_from, "Làm việc chung trụ sở UBND"),
                     ("under_construction", valid_from + timedelta(days=int(rng.integers(10, 60))), "Khởi công"),
                     ("independent", max(done, valid_from + timedelta(days=90)), "Đưa trụ sở vào sử dụng")]
        elif status == "under_construction":
            steps = [("shared", valid_from, "Làm việc chung trụ sở UBND"),
                     ("under_construction", valid_from + timedelta(days=int(rng.integers(15, 120))), "Khởi công")]
        else:
            steps = [(status, valid_from, "Làm việc chung trụ sở UBND")]
        code = f"{prefix['current']}{ncode}"
        rows.append((code, station_name(nname), "commune_police", nid, status, int(officers25[i]),
                     list(cp["services"]), _phone(rng, area), valid_from, None, True, ewkt_point(*points[seat])))
        history.append((code, steps))

    copy_rows(conn, "station", STATION_COLUMNS, rows)
    ids = dict(conn.execute("SELECT code, id FROM station WHERE code = ANY(%s)", [[r[0] for r in rows]]).fetchall())
    hist_rows = [h for code, steps in history for h in _history_rows(ids[code], steps, tz)]
    copy_rows(conn, "station_status_history", ("station_id", "hq_status", "changed_at", "note", "is_generated"),
              hist_rows)
    counts_out = {"stations": len(rows), "station_status_history": len(hist_rows)}
    counts_out.update(patrols.load_teams_and_points(conn, cfg, rng, progress))
    return counts_out


def settle_as_of(conn: psycopg.Connection, until: datetime) -> int:
    """Drop generated status changes after ``until`` and make each station's status its last change before it.

    ``load_police`` has no end date (the loader's contract); the incident stage, which has one, calls this
    so that the demo shows the state of the world at its end.
    """
    n = conn.execute("DELETE FROM station_status_history WHERE is_generated AND changed_at > %s", [until]).rowcount
    conn.execute(
        "UPDATE station s SET hq_status = h.hq_status FROM (SELECT DISTINCT ON (station_id) station_id, hq_status "
        "FROM station_status_history ORDER BY station_id, changed_at DESC, id DESC) h "
        "WHERE h.station_id = s.id AND s.is_generated AND s.hq_status <> h.hq_status")
    return n


SERVICE_FIELDS = ("received", "online", "in_person", "early", "on_time", "on_time_or_early", "overdue", "in_progress")


def load_service_stats(conn: psycopg.Connection, cfg: dict) -> dict[str, int]:
    """The administrative-procedure figures exactly as reported: unreported fields stay NULL, and the
    parts are never forced to add up to the whole (the reports' own figures do not)."""
    sc = cfg["service_stats"]
    rows = []
    for item in sc["reported"]:
        unit = item["unit"]
        if unit == "province":
            found = conn.execute("SELECT id FROM admin_unit WHERE era = '2025' AND kind = 'province' "
                                 "ORDER BY id LIMIT 1").fetchone()
        else:
            found = conn.execute("SELECT id FROM admin_unit WHERE era = '2025' AND name = %s ORDER BY id LIMIT 1",
                                 [unit]).fetchone()
        if not found:
            raise RuntimeError(f"service_stats: no 2025 admin unit for {unit!r} in the database")
        unknown = set(item) - {"unit", "agency", "period_start", "period_end", *SERVICE_FIELDS}
        if unknown:
            raise RuntimeError(f"service_stats: unknown field(s) {sorted(unknown)} for {unit!r}")
        rows.append((found[0], item.get("agency", sc["agency"]), as_date(item.get("period_start", sc["period_start"])),
                     as_date(item["period_end"]) if item.get("period_end") else None,
                     *(item.get(f) for f in SERVICE_FIELDS), sc.get("source"), False))
    copy_rows(conn, "service_stat", ("unit_id", "agency", "period_start", "period_end", *SERVICE_FIELDS, "source",
                                     "is_generated"), rows)
    return {"service_stats": len(rows)}
