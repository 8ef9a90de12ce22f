"""Point layers: villages (``settlement``), police stations (``station``), patrol points (``patrol_point``).

Each row's unit comes from its official code (``unit_code``/``commune_code``) or, without one, from the unit
of the era that contains the point in the database; never from a name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import shapely
from shapely.geometry import Point

from data import vocab
from data.importers import locate
from data.importers import validation as v
from data.importers.reading import FileRejected, Source
from data.importers.report import ImportReport
from data.text import fold

UNIT_CODE_NAMES = ("unit_code", "commune_code", "ma_xa", "ma_dvhc")
DUPLICATE_DISTANCE_M = 50.0  # an existing row of the same name this close is the same place imported twice


@dataclass
class PointRow:
    row: int
    name: str
    geom: Point
    values: dict[str, Any] = field(default_factory=dict)
    unit: locate.Unit | None = None


@dataclass
class Plan:
    rows: list[PointRow]
    era: str

    def __len__(self) -> int:
        return len(self.rows)


def _base(source: Source, report: ImportReport) -> tuple[str | None, str | None]:
    return v.column(source, "name", "ten"), v.column(source, *UNIT_CODE_NAMES)


def _assign_units(conn: psycopg.Connection, report: ImportReport, source: Source, era: str,
                  items: list[PointRow], codes: dict[int, str], code_col: str | None, required: bool) -> None:
    """Unit by code where given (unknown codes rejected), else by containment; warn when they disagree."""
    by_code = locate.units_by_code(conn, era, set(codes.values()))
    containing = locate.units_containing(conn, era, {p.row: p.geom for p in items})
    any_units = locate.has_units(conn, era)
    for p in items:
        code = codes.get(p.row)
        found = containing.get(p.row)
        if code:
            p.unit = by_code.get(code)
            if p.unit is None:
                report.reject(p.row, code_col, f"unit code '{code}' is not a unit of era {era} in the database: "
                                               f"fix the code or import the communes first")
            elif found and found[0].id != p.unit.id:
                report.warnings.append(f"row {p.row} ('{p.name}'): its code names {p.unit.code} {p.unit.name} but "
                                       f"the point lies in {found[0].code} {found[0].name}")
            continue
        if found:
            p.unit = found[0]
            if found[1] > 0:
                report.warnings.append(f"row {p.row} ('{p.name}'): in no unit; assigned to the nearest, "
                                       f"{found[0].code} {found[0].name}, {found[1]:.0f} m away")
        elif required or any_units:
            what = "a unit is required" if required else "give a unit_code"
            report.reject(p.row, code_col or "geometry", f"no unit of era {era} contains the point and no unit code "
                                                         f"is given ({what}); check the coordinates or add "
                                                         f"'{code_col or 'unit_code'}'")
    if not any_units and not required:
        report.warnings.append(f"the database has no units of era {era}: rows were imported without a unit")


RowHook = Callable[[int, dict[str, Any], "PointRow | None"], bool]


def _points(conn: psycopg.Connection, source: Source, report: ImportReport, era: str, label: str,
            extra: RowHook) -> tuple[list[PointRow], dict[int, str], str | None]:
    """Common part: name, point, province check, unit codes; ``extra(row, rec, point_row)`` adds the rest."""
    name_col, code_col = _base(source, report)
    items: list[PointRow] = []
    codes: dict[int, str] = {}
    for row, rec, geom in v.rows(source):
        name = v.required_text(report, row, rec, name_col, "name", f"every {label} needs a name")
        pt = v.point(report, source, row, geom)
        if code_col and rec.get(code_col):
            codes[row] = rec[code_col]
        item = PointRow(row, name or "", pt) if pt is not None else None
        ok = extra(row, rec, item)
        if name and item is not None and ok:
            items.append(item)
    prov_era = locate.province_era(conn, era, report)
    field_name = source.lon_field if source.lon_field == source.lat_field else f"{source.lon_field}/{source.lat_field}"
    outside = locate.check_inside_province(conn, report, prov_era, {p.row: p.geom for p in items}, field_name,
                                           source.swapped)
    items = [p for p in items if p.row not in outside]
    return items, codes, code_col


def _unit_columns(era: str) -> str:
    # A village keeps its unit of each era: the given era's in its own column, the other by containment.
    return "pre2025_unit_id" if era == "pre2025" else "unit_id"


# --- villages ---------------------------------------------------------------------------------------------

def prepare_villages(conn: psycopg.Connection, source: Source, report: ImportReport, era: str) -> Plan:
    kind_col = v.column(source, "kind", "loai")
    pop_col = v.column(source, "population", "dan_so", "danso")
    gid_col = v.column(source, "geonameid")
    name_col = v.column(source, "name", "ten")
    inferred = [0]
    geonameids: dict[int, str] = {}

    def extra(row: int, rec: dict[str, Any], item: PointRow | None) -> bool:
        name = rec.get(name_col) if name_col else None
        if kind_col and rec.get(kind_col):
            kind = v.term(report, row, kind_col, rec[kind_col], vocab.SETTLEMENT_KINDS, "kind")
        elif name and (kind := v.term_from_name_prefix(name, vocab.SETTLEMENT_KINDS)):
            inferred[0] += 1
        else:
            kind = None
            if name:
                report.reject(row, kind_col or "kind", f"missing kind and the name '{name}' does not start with a "
                                                       f"known one; valid values: "
                                                       f"{v.valid_list(vocab.SETTLEMENT_KINDS)}")
        pop = v.optional_number(report, row, rec, pop_col, integer=True)
        gid = v.optional_number(report, row, rec, gid_col, integer=True)
        if gid is not None:
            geonameids[row] = str(gid)
        if item is not None:
            item.values = {"kind": kind, "population": pop, "geonameid": gid}
        return kind is not None

    items, codes, code_col = _points(conn, source, report, era, "village", extra)
    v.duplicates(report, geonameids, gid_col or "geonameid", "geonameid")
    if inferred[0]:
        report.notes.append(f"kind taken from the name's prefix (e.g. 'Bản …' = ban) for {inferred[0]} row(s)")
    _assign_units(conn, report, source, era, items, codes, code_col, required=False)
    _reject_existing(conn, report, "settlement", [p for p in items if p.values.get("geonameid") is None])
    return Plan(items, era)


def write_villages(conn: psycopg.Connection, plan: Plan, report: ImportReport, era: str, bar) -> None:
    own = _unit_columns(era)
    other_era, other = ("2025", "unit_id") if era == "pre2025" else ("pre2025", "pre2025_unit_id")
    others = locate.units_containing(conn, other_era, {p.row: p.geom for p in plan.rows})
    inserted = updated = 0
    for p in plan.rows:
        other_unit = others.get(p.row)
        params = [p.name, fold(p.name), p.values["kind"], p.values["population"], p.unit.id if p.unit else None,
                  other_unit[0].id if other_unit else None, p.values["geonameid"], f"import of {report.path.name}",
                  shapely.to_wkb(p.geom)]
        conflict = ("ON CONFLICT (geonameid) DO UPDATE SET name = EXCLUDED.name, name_ascii = EXCLUDED.name_ascii, "
                    f"kind = EXCLUDED.kind, population = EXCLUDED.population, {own} = EXCLUDED.{own}, "
                    f"{other} = EXCLUDED.{other}, source = EXCLUDED.source, geom = EXCLUDED.geom "
                    if p.values["geonameid"] is not None else "")
        is_new = conn.execute(
            f"INSERT INTO settlement (name, name_ascii, kind, population, {own}, {other}, geonameid, source, geom) "  # noqa: S608
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, 4326)) {conflict}"
            "RETURNING (xmax = 0)", params).fetchone()[0]
        inserted += is_new
        updated += not is_new
        bar.update(1)
    report.count("settlement", inserted, updated)


# --- stations ---------------------------------------------------------------------------------------------

def prepare_stations(conn: psycopg.Connection, source: Source, report: ImportReport, era: str) -> Plan:
    code_col = v.column(source, "code", "ma")
    if code_col is None:
        report.reject(None, "code", "stations need a 'code' column (each station's own code, unique)")
        raise FileRejected
    kind_col = v.column(source, "kind", "loai")
    status_col = v.column(source, "hq_status", "status", "tru_so")
    officers_col = v.column(source, "officers", "can_bo")
    services_col = v.column(source, "services")
    contact_col = v.column(source, "contact", "lien_he", "phone")
    from_col, to_col = v.column(source, "valid_from"), v.column(source, "valid_to")
    codes: dict[int, str] = {}

    def extra(row: int, rec: dict[str, Any], item: PointRow | None) -> bool:
        code = rec.get(code_col)
        if not code:
            report.reject(row, code_col, "missing station code")
        else:
            codes[row] = code
        kind = v.term(report, row, kind_col or "kind", rec.get(kind_col) if kind_col else None, vocab.STATION_KINDS,
                      "station kind")
        status = v.term(report, row, status_col or "hq_status", rec.get(status_col) if status_col else None,
                        vocab.HQ_STATUSES, "headquarters status")
        officers = v.optional_number(report, row, rec, officers_col, integer=True)
        valid_from, valid_to = v.optional_date(report, row, rec, from_col), v.optional_date(report, row, rec, to_col)
        if valid_from and valid_to and valid_to < valid_from:
            report.reject(row, to_col, f"valid_to {valid_to} is before valid_from {valid_from}")
            return False
        services = rec.get(services_col) if services_col else None
        if item is not None:
            item.values = {"code": code, "kind": kind, "hq_status": status, "officers": officers,
                           "services": [s.strip() for s in services.replace(";", ",").split(",") if s.strip()]
                           if services else None,
                           "contact": rec.get(contact_col) if contact_col else None,
                           "valid_from": valid_from, "valid_to": valid_to}
        return bool(code and kind and status)

    items, unit_codes, unit_col = _points(conn, source, report, era, "station", extra)
    v.duplicates(report, codes, code_col, "station code")
    _assign_units(conn, report, source, era, items, unit_codes, unit_col, required=False)
    return Plan(items, era)


def write_stations(conn: psycopg.Connection, plan: Plan, report: ImportReport, era: str, bar) -> None:
    inserted = updated = history = 0
    now = datetime.now(UTC)
    for p in plan.rows:
        val = p.values
        before = conn.execute("SELECT id, hq_status FROM station WHERE code = %s FOR UPDATE", [val["code"]]).fetchone()
        params = [val["code"], p.name, val["kind"], p.unit.id if p.unit else None, val["hq_status"], val["officers"],
                  val["services"], val["contact"], val["valid_from"], val["valid_to"], shapely.to_wkb(p.geom)]
        sid = conn.execute(
            "INSERT INTO station (code, name, kind, unit_id, hq_status, officers, services, contact, valid_from, "
            "valid_to, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, 4326)) "
            "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, unit_id = EXCLUDED.unit_id, "
            "hq_status = EXCLUDED.hq_status, officers = EXCLUDED.officers, services = EXCLUDED.services, "
            "contact = EXCLUDED.contact, valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to, "
            "geom = EXCLUDED.geom, version = station.version + 1 RETURNING id", params).fetchone()[0]
        if before is None or before[1] != val["hq_status"]:
            # The status history starts with the imported status and records each change an import makes.
            changed_at = (datetime.combine(val["valid_from"], datetime.min.time(), UTC)
                          if before is None and val["valid_from"] else now)
            conn.execute("INSERT INTO station_status_history (station_id, hq_status, changed_at, note) "
                         "VALUES (%s, %s, %s, %s)", [sid, val["hq_status"], changed_at,
                                                     f"import of {report.path.name}"])
            history += 1
        inserted += before is None
        updated += before is not None
        bar.update(1)
    report.count("station", inserted, updated)
    report.count("station_status_history", history)


# --- patrol points ----------------------------------------------------------------------------------------

def prepare_patrol_points(conn: psycopg.Connection, source: Source, report: ImportReport, era: str) -> Plan:
    kind_col = v.column(source, "kind", "loai")
    interval_col = v.column(source, "visit_interval_hours", "interval_hours", "visit_interval")
    station_col = v.column(source, "station_code")
    model_col = v.column(source, "model_name", "mo_hinh")
    station_codes: dict[int, str] = {}

    def extra(row: int, rec: dict[str, Any], item: PointRow | None) -> bool:
        kind = v.term(report, row, kind_col or "kind", rec.get(kind_col) if kind_col else None,
                      vocab.PATROL_POINT_KINDS, "patrol point kind")
        interval = v.optional_number(report, row, rec, interval_col, integer=True, positive=True)
        if interval is None and not (interval_col and rec.get(interval_col)):
            report.reject(row, interval_col or "visit_interval_hours",
                          "missing visit interval: give 'visit_interval_hours', a whole number of hours > 0")
        if station_col and rec.get(station_col):
            station_codes[row] = rec[station_col]
        if item is not None:
            item.values = {"kind": kind, "visit_interval_hours": interval,
                           "model_name": rec.get(model_col) if model_col else None}
        return bool(kind and interval)

    items, unit_codes, unit_col = _points(conn, source, report, era, "patrol point", extra)
    stations = dict(conn.execute("SELECT code, id FROM station WHERE code = ANY(%s)",
                                 [sorted(set(station_codes.values()))]).fetchall()) if station_codes else {}
    for row, code in station_codes.items():
        if code not in stations:
            report.reject(row, station_col, f"station code '{code}' is not in the database: import the stations "
                                            f"first or fix the code")
    for p in items:
        p.values["station_id"] = stations.get(station_codes.get(p.row, ""))
    keys = {p.row: f"{fold(p.name)} ({p.values['kind']}) at {p.geom.x:.5f}, {p.geom.y:.5f}" for p in items}
    v.duplicates(report, keys, "name", "patrol point")
    _assign_units(conn, report, source, era, items, unit_codes, unit_col, required=True)
    _reject_existing(conn, report, "patrol_point", items)
    return Plan(items, era)


def write_patrol_points(conn: psycopg.Connection, plan: Plan, report: ImportReport, era: str, bar) -> None:
    for p in plan.rows:
        val = p.values
        conn.execute("INSERT INTO patrol_point (name, kind, unit_id, station_id, model_name, visit_interval_hours, "
                     "geom) VALUES (%s, %s, %s, %s, %s, %s, ST_GeomFromWKB(%s, 4326))",
                     [p.name, val["kind"], p.unit.id, val["station_id"], val["model_name"],
                      val["visit_interval_hours"], shapely.to_wkb(p.geom)])
        bar.update(1)
    report.count("patrol_point", len(plan.rows))


def _reject_existing(conn: psycopg.Connection, report: ImportReport, table: str, items: list[PointRow]) -> None:
    """A row whose name is already in the table this close by is the same place imported twice."""
    if not items:
        return
    name_sql = "name_ascii" if table == "settlement" else "name"
    result = conn.execute(
        f"""
        SELECT t.ord, e.id, e.name, e.d
          FROM unnest(%(w)s::bytea[], %(n)s::text[]) WITH ORDINALITY AS t(w, n, ord)
          CROSS JOIN LATERAL (
            SELECT x.id, x.name, ST_Distance(x.geom::geography, ST_GeomFromWKB(t.w, 4326)::geography) AS d
              FROM {table} x
             WHERE x.{name_sql} = t.n
               AND ST_DWithin(x.geom, ST_GeomFromWKB(t.w, 4326), %(deg)s)
             ORDER BY x.geom <-> ST_GeomFromWKB(t.w, 4326) LIMIT 1) e
         WHERE e.d <= %(m)s
        """,  # noqa: S608 - table and column come from this module, not from input
        {"w": [shapely.to_wkb(p.geom) for p in items],
         "n": [fold(p.name) if table == "settlement" else p.name for p in items],
         "deg": DUPLICATE_DISTANCE_M / 100_000, "m": DUPLICATE_DISTANCE_M}).fetchall()
    for ord_, existing_id, existing_name, distance in result:
        p = items[ord_ - 1]
        report.reject(p.row, "name", f"duplicate: '{existing_name}' (id {existing_id}) is already in the database "
                                     f"{distance:.0f} m away; remove the row or delete the existing one first")
