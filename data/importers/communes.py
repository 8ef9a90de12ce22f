"""Communes (any administrative unit): upserted into ``admin_unit`` by (era, official code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import shapely
from shapely.geometry import MultiPolygon

from data import vocab
from data.importers import locate
from data.importers import validation as v
from data.importers.reading import FileRejected, Source
from data.importers.report import ImportReport
from data.text import fold
from geo.geodesic import area_km2

KIND_ORDER = {code: i for i, code in enumerate(vocab.codes(vocab.UNIT_KINDS))}  # parents before children

# Optional columns: table column -> names a file may use for it.
OPTIONAL = {
    "population": ("population", "dan_so", "danso"),
    "households": ("households", "ho", "so_ho"),
    "stated_area_km2": ("area_km2", "area", "dien_tich", "dientich"),
    "admin_centre": ("admin_centre", "tru_so"),
    "valid_from": ("valid_from",),
    "valid_to": ("valid_to",),
    "source": ("source", "nguon"),
}


@dataclass
class UnitRow:
    row: int
    code: str
    name: str
    kind: str
    parent_code: str | None
    values: dict[str, Any]
    geom: MultiPolygon


@dataclass
class Plan:
    units: list[UnitRow]
    present: set[str]  # optional columns the file has: only these overwrite an existing unit's values

    def __len__(self) -> int:
        return len(self.units)


def prepare(conn: psycopg.Connection, source: Source, report: ImportReport, era: str) -> Plan:
    code_col = v.column(source, "code", "ma", "ma_dvhc", "unit_code")
    if code_col is None:
        report.reject(None, "code", "communes need a 'code' column with each unit's official code "
                                    "(units are matched by code, never by name)")
        raise FileRejected
    name_col = v.column(source, "name", "ten", "ten_dvhc")
    kind_col = v.column(source, "kind", "loai")
    parent_col = v.column(source, "parent_code", "ma_cha")
    district_col = v.column(source, "district_code")
    province_col = v.column(source, "province_code")
    provinces = {r[0] for r in conn.execute("SELECT DISTINCT code FROM admin_unit WHERE kind = %s",
                                            [locate.PROVINCE])}
    cols = {target: v.column(source, *names) for target, names in OPTIONAL.items()}
    out: list[UnitRow] = []
    codes: dict[int, str] = {}
    inferred = 0
    for row, rec, geom in v.rows(source):
        code = rec.get(code_col)
        if not code:
            report.reject(row, code_col, "missing code: every unit needs its official code")
        else:
            codes[row] = code
        name = v.required_text(report, row, rec, name_col, "name", "every unit needs its name (e.g. 'Xã Mường Nhé')")
        if kind_col and rec.get(kind_col):
            kind = v.term(report, row, kind_col, rec.get(kind_col), vocab.UNIT_KINDS, "kind")
        elif name and (kind := v.term_from_name_prefix(name, vocab.UNIT_KINDS)):
            inferred += 1
        elif name:
            kind = None
            report.reject(row, kind_col or "kind", f"missing kind and the name '{name}' does not start with a known "
                                                   f"one; valid values: {v.valid_list(vocab.UNIT_KINDS)}")
        else:
            kind = None
        poly = v.polygon(report, source, row, geom, f"{code} {name or ''}".strip())
        values = {
            "population": v.optional_number(report, row, rec, cols["population"], integer=True),
            "households": v.optional_number(report, row, rec, cols["households"], integer=True),
            "stated_area_km2": v.optional_number(report, row, rec, cols["stated_area_km2"]),
            "admin_centre": rec.get(cols["admin_centre"]) if cols["admin_centre"] else None,
            "valid_from": v.optional_date(report, row, rec, cols["valid_from"]),
            "valid_to": v.optional_date(report, row, rec, cols["valid_to"]),
            "source": rec.get(cols["source"]) if cols["source"] else None,
        }
        if poly is not None:
            v.stated_area(report, row, cols["stated_area_km2"], values["stated_area_km2"], poly)
        province = rec.get(province_col) if province_col else None
        if province and kind != locate.PROVINCE and provinces and province not in provinces:
            # The official files cover the whole country: a row of another province is a wrong file or extract.
            report.reject(row, province_col, f"province code '{province}' is not the province in the database "
                                             f"({', '.join(sorted(provinces))}): only its units can be imported")
            continue
        parent = rec.get(parent_col) if parent_col else None
        if not parent and district_col and rec.get(district_col) and era != "2025":
            parent = rec.get(district_col)  # before 2025 a commune's parent is its district
        if code and name and kind and poly is not None:
            out.append(UnitRow(row, code, name, kind, parent, values, poly))
    v.duplicates(report, codes, code_col, "unit code")
    if inferred:
        report.notes.append(f"kind taken from the name's prefix (e.g. 'Xã …' = commune) for {inferred} row(s)")
    present = {target for target, col in cols.items() if col}
    report.notes.append("columns updated on existing units: geometry, name, kind, area_km2"
                        + (", " + ", ".join(sorted(present)) if present else ""))
    if district_col and era == "2025":
        report.notes.append("district codes read but not stored: the units of 2025 have no districts; the parent "
                            "is the province holding each unit")
    _check_parents(conn, report, era, out, parent_col or district_col)
    inside = {u.row: u.geom for u in out if u.kind != locate.PROVINCE}
    prov_era = locate.province_era(conn, era, report) if inside else None
    locate.check_inside_province(conn, report, prov_era, inside, "geometry", source.swapped)
    return Plan(out, present)


def _check_parents(conn: psycopg.Connection, report: ImportReport, era: str, units: list[UnitRow],
                   parent_col: str | None) -> None:
    wanted = {u.parent_code for u in units if u.parent_code}
    in_file = {u.code for u in units}
    known = set(locate.units_by_code(conn, era, wanted - in_file)) | in_file
    for u in units:
        if u.parent_code and u.parent_code not in known:
            report.reject(u.row, parent_col, f"parent code '{u.parent_code}' is neither in this file nor a unit of "
                                             f"era {era} in the database")


def write(conn: psycopg.Connection, plan: Plan, report: ImportReport, era: str, bar) -> None:
    units = plan.units
    optional = [c for c in OPTIONAL if c in plan.present]
    columns = ["era", "code", "name", "name_ascii", "kind", "area_km2", *optional]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[2:] + ["geom"])
    sql = (f"INSERT INTO admin_unit ({', '.join(columns)}, source, geom) "  # noqa: S608 - fixed column names
           f"VALUES ({', '.join(['%s'] * len(columns))}, %s, ST_GeomFromWKB(%s, 4326)) "
           f"ON CONFLICT (era, code) DO UPDATE SET {updates}, source = EXCLUDED.source "
           f"RETURNING id, (xmax = 0) AS inserted")
    ids: dict[str, int] = {}
    inserted = updated = 0
    for u in sorted(units, key=lambda u: (KIND_ORDER[u.kind], u.row)):
        params = [era, u.code, u.name, fold(u.name), u.kind, area_km2(u.geom),
                  *(u.values[c] for c in optional), u.values.get("source") or f"import of {report.path.name}",
                  shapely.to_wkb(u.geom)]
        uid, is_new = conn.execute(sql, params).fetchone()
        ids[u.code] = uid
        inserted += is_new
        updated += not is_new
        bar.update(1)
    report.count("admin_unit", inserted, updated)
    _link_parents(conn, units, ids, era)


def _link_parents(conn: psycopg.Connection, units: list[UnitRow], ids: dict[str, int], era: str) -> None:
    for u in units:
        if u.parent_code:
            conn.execute("UPDATE admin_unit SET parent_id = (SELECT id FROM admin_unit WHERE era = %s AND code = %s) "
                         "WHERE id = %s", [era, u.parent_code, ids[u.code]])
    # Without a parent code, a unit's parent is the province of its era that holds it (when there is one).
    conn.execute(
        """
        UPDATE admin_unit c SET parent_id = p.id
          FROM admin_unit p
         WHERE c.id = ANY(%s) AND c.parent_id IS NULL AND c.kind <> %s
           AND p.era = c.era AND p.kind = %s AND ST_Covers(p.geom, ST_PointOnSurface(c.geom))
        """, [[ids[u.code] for u in units if not u.parent_code], locate.PROVINCE, locate.PROVINCE])
