"""Where each unit's seat is: the earlier unit that hosts a 2025 unit's administrative centre, each
district's town, and each earlier unit's main village.

The 2025 units' ``admin_centre`` text names the former seat ("Trụ sở Đảng ủy, HĐND và UBND xã Leng Su Sìn",
"… UBND huyện Mường Nhé"): a commune-level name points at that earlier unit, a district-level name at the
district's town among the unit's earlier units. Nothing here names a place: the rules read the database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import psycopg

from data import vocab

COMMUNE_LEVEL = vocab.COMMUNE_LEVEL_KINDS
_PREFIXES = ("thành phố", "thị trấn", "thị xã", "phường", "huyện", "tp.", "tp", "xã")
_CENTRE = re.compile(r"UBND\s+(thị xã|thị trấn|thành phố|tp\.?|huyện|phường|xã)\s+(.+?)\s*$", re.IGNORECASE)
_DISTRICT_WORDS = ("huyện", "thị xã", "thành phố", "tp", "tp.")


def bare(name: str) -> str:
    """A unit name without its kind word, normalised for comparison ('Xã Leng Su Sìn' -> 'leng su sìn')."""
    s = unicodedata.normalize("NFC", name).strip().lower()
    for p in _PREFIXES:
        if s.startswith(p + " "):
            return s[len(p) + 1:].strip()
    return s


@dataclass
class OldUnit:
    id: int
    code: str
    name: str
    kind: str
    district_id: int | None
    new_id: int | None
    population: int
    main_settlement: int | None
    alias: str | None = None     # the merger resolution's spelling, when it differs (admin_lineage)

    def named(self, bare_name: str) -> bool:
        return bare(self.name) == bare_name or (self.alias is not None and bare(self.alias) == bare_name)


@dataclass
class Seats:
    """Seat resolution for both eras (ids of admin_unit / settlement rows)."""

    old: dict[int, OldUnit]
    districts: dict[int, tuple[str, str]]           # id -> (code, name)
    new_units: dict[int, tuple[str, str, str | None, int]]  # id -> (code, name, admin_centre, population)
    new_seat: dict[int, int]                        # 2025 unit -> earlier unit hosting its centre
    district_seat: dict[int, int]                   # district -> earlier unit that is its town

    def old_of(self, new_id: int) -> list[OldUnit]:
        return [o for o in self.old.values() if o.new_id == new_id]


def _pick_town(cands: list[OldUnit], district_name: str, new_name: str | None) -> OldUnit:
    def rank(o: OldUnit) -> tuple:
        return (o.kind != "township", bare(o.name) != bare(district_name),
                new_name is None or bare(o.name) != bare(new_name), -o.population, o.code)
    return min(cands, key=rank)


def load_seats(conn: psycopg.Connection) -> Seats:
    new_units = {r[0]: (r[1], r[2], r[3], r[4] or 0) for r in conn.execute(
        "SELECT id, code, name, admin_centre, population FROM admin_unit WHERE era = '2025' AND kind = ANY(%s) "
        "ORDER BY code", [list(COMMUNE_LEVEL)])}
    districts = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT d.id, d.code, d.name FROM admin_unit d WHERE d.era = 'pre2025' AND d.kind <> 'province' AND EXISTS "
        "(SELECT 1 FROM admin_unit c WHERE c.parent_id = d.id) ORDER BY d.code")}
    # Main village of an earlier unit: its most populous settlement (ties: lowest id).
    rows = conn.execute(
        """
        SELECT o.id, o.code, o.name, o.kind, o.parent_id, l.new_unit_id,
               COALESCE((SELECT sum(population) FROM settlement s WHERE s.pre2025_unit_id = o.id), 0),
               (SELECT s.id FROM settlement s WHERE s.pre2025_unit_id = o.id
                 AND (l.new_unit_id IS NULL OR s.unit_id = l.new_unit_id)
                ORDER BY s.population DESC NULLS LAST, s.id LIMIT 1),
               l.old_name_resolution
          FROM admin_unit o
          LEFT JOIN LATERAL (SELECT new_unit_id, old_name_resolution FROM admin_lineage WHERE old_unit_id = o.id
                             ORDER BY area_share DESC NULLS LAST, new_unit_id LIMIT 1) l ON true
         WHERE o.era = 'pre2025' AND o.kind = ANY(%s)
         ORDER BY o.code
        """, [list(COMMUNE_LEVEL)]).fetchall()
    old = {r[0]: OldUnit(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7], r[8]) for r in rows}

    new_seat: dict[int, int] = {}
    district_refs: dict[int, int] = {}
    for nid, (_code, name, centre, _pop) in new_units.items():
        mine = [o for o in old.values() if o.new_id == nid]
        if not mine:
            continue
        seat = None
        m = _CENTRE.search(centre or "")
        if m:
            level, place = m.group(1).lower(), bare(m.group(2))
            if level in _DISTRICT_WORDS:
                did = next((d for d, (_c, dn) in districts.items() if bare(dn) == place), None)
                cands = [o for o in mine if o.district_id == did]
                if did is not None and cands:
                    seat = _pick_town(cands, districts[did][1], name)
                    district_refs.setdefault(did, seat.id)
            else:
                seat = next((o for o in mine if o.named(place)), None)
        if seat is None:
            seat = min(mine, key=lambda o: (bare(o.name) != bare(name), -o.population, o.code))
        new_seat[nid] = seat.id

    district_seat = {}
    for did, (_code, dname) in districts.items():
        if did in district_refs:
            district_seat[did] = district_refs[did]
            continue
        cands = [o for o in old.values() if o.district_id == did]
        if cands:
            district_seat[did] = _pick_town(cands, dname, None).id
    return Seats(old, districts, new_units, new_seat, district_seat)
