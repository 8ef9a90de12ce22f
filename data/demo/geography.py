"""The demo's geography: real 2025 boundaries and populations, generated earlier units, settlements, roads.

``build_geography`` computes everything in memory (local metric frame, see ``data.demo.frame``);
``write_geography`` stores it (EPSG:4326) with COPY and lets PostGIS compute areas and lengths on the
geography type. The province, its names and figures come from the demo's data file and data/reference/.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import shapely
import shapely.ops
from scipy.spatial import cKDTree
from shapely.geometry import shape

from data.demo import boundaries, roads, villages
from data.demo.frame import Frame
from data.demo.names import name_key
from data.demo.terrain import Terrain
from data.text import fold

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "reference"


def read_csv(name: str) -> list[dict]:
    with open(REFERENCE_DIR / name, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def read_features(name: str) -> list[dict]:
    return json.loads((REFERENCE_DIR / name).read_text(encoding="utf-8"))["features"]


def core_name(name: str, prefixes: dict[str, str]) -> str:
    """The name without its administrative prefix (``Thị trấn Mường Chà`` → ``Mường Chà``)."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        if name.startswith(prefix + " "):
            return name[len(prefix) + 1:]
    return name


def kind_of(name: str, prefixes: dict[str, str]) -> str:
    for prefix in sorted(prefixes, key=len, reverse=True):
        if name.startswith(prefix + " "):
            return prefixes[prefix]
    raise ValueError(f"no unit kind for {name!r}: add its prefix to geography.kind_prefixes")


@dataclass
class Geography:
    frame: Frame
    province: shapely.Geometry
    codes: list[str]
    units: dict[str, shapely.Geometry]
    raw_units: dict[str, shapely.Geometry]
    unit_rows: dict[str, dict]            # code -> properties merged with population-2025.csv
    population: dict[str, int]
    population_note: dict[str, str | None]
    households: dict[str, int]
    border: dict[str, list[str]]          # 2025 code -> countries
    border_lines: dict[str, shapely.Geometry]
    crossings: list[dict]
    sub: boundaries.Subdivision
    lineage: list[dict]
    district_names: dict[str, str]
    centre_old: dict[str, str]
    settlements: villages.Settlements
    roads: roads.RoadGraph
    notes: list[str] = field(default_factory=list)


def _estimate_populations(cfg: dict, codes: list[str], units: dict, rows: dict) -> tuple[dict, dict, list[str]]:
    """Official populations; the flagged ones estimated from the density of their unflagged neighbours."""
    pop = {c: int(rows[c]["population"]) for c in codes}
    note: dict[str, str | None] = {c: None for c in codes}
    flagged = [c for c in codes if rows[c].get("population_note")]
    out = []
    skip = set(cfg["estimate_exclude_kinds"])
    for c in flagged:
        # Neighbours weighted by the length of border they share; urban units would inflate a rural density.
        near = [o for o in codes if o != c and o not in flagged and rows[o]["kind"] not in skip
                and units[o].distance(units[c]) < 1.0]
        shared = {o: shapely.intersection(units[o].boundary, units[c].buffer(1.0)).length for o in near}
        density = sum(pop[o] / float(rows[o]["area_km2"]) * shared[o] for o in near) / sum(shared.values())
        area = float(rows[c]["area_km2"])
        est = int(round(density * area))
        names = ", ".join(rows[o]["new_name"] for o in near)
        note[c] = cfg["estimate_note"].format(published=pop[c], estimate=est, density=density, area=area,
                                              neighbours=names, reason=rows[c]["population_note"])
        out.append(f"population of {rows[c]['new_name']} estimated {est:,} (published {pop[c]:,}): "
                   f"{density:.1f}/km² (border-weighted, {len(near)} neighbours) × {area} km²")
        pop[c] = est
    return pop, note, out


def _border(cfg: dict, frame: Frame, province: shapely.Geometry) -> dict[str, shapely.Geometry]:
    """The national border as parts of the province outline, between the points the data file names."""
    ring = province.exterior
    out = {}
    for part in cfg["national_border"]:
        a, b = (frame.xy(np.array([[p["lon"], p["lat"]]]))[0] for p in (part["from"], part["to"]))
        da, db = ring.project(shapely.Point(a)), ring.project(shapely.Point(b))
        lo, hi = sorted((da, db))
        inner = shapely.ops.substring(ring, lo, hi)
        # Of the two ways round the ring, the data file says which side the border runs on.
        via = frame.xy(np.array([[part["via"]["lon"], part["via"]["lat"]]]))[0]
        if inner.distance(shapely.Point(via)) > ring.distance(shapely.Point(via)) + 1.0:
            outer = shapely.union(shapely.ops.substring(ring, hi, ring.length), shapely.ops.substring(ring, 0, lo))
            inner = shapely.line_merge(outer)
        out[part["country"]] = inner
    return out


def _centre_old_units(cfg: dict, codes, rows, lineage, prefixes) -> dict[str, str]:
    """Which earlier unit held each 2025 unit's seat: the name in ``admin_centre``, or the data file."""
    overrides = {str(k): str(v) for k, v in (cfg.get("admin_centre_units") or {}).items()}
    words = cfg["admin_centre_words"]
    out = {}
    for c in codes:
        members = [r for r in lineage if r["new_code"] == c]
        if c in overrides:
            out[c] = overrides[c]
            continue
        text = rows[c]["admin_centre"]
        tail = text.split(words["marker"])[-1].strip()
        for w in sorted(words["prefixes"], key=len, reverse=True):
            if tail.startswith(w + " "):
                tail = tail[len(w) + 1:]
                break
        key = name_key(tail)
        hit = [r["old_code"] for r in members
               if key in (name_key(core_name(r["old_name"], prefixes)),
                          name_key(core_name(r["old_name_resolution"], prefixes)))]
        if len(hit) != 1:
            raise ValueError(f"cannot tell which earlier unit holds the seat of {rows[c]['new_name']} "
                             f"({text!r}); name it in geography.admin_centre_units")
        out[c] = hit[0]
    return out


def build_geography(cfg_all: dict, rng: np.random.Generator) -> Geography:
    cfg = cfg_all["geography"]
    prefixes = cfg["kind_prefixes"]
    seeds = rng.spawn(5)
    rng_sub, rng_vil, rng_road, rng_pop, rng_terrain = seeds
    prov_ll = shape(read_features(cfg["files"]["province"])[0]["geometry"])
    frame = Frame.around(prov_ll)
    province = frame.to_local(prov_ll)
    feats = read_features(cfg["files"]["units"])
    codes = [f["properties"]["code"] for f in feats]
    raw = [frame.to_local(shape(f["geometry"])) for f in feats]
    pop_rows = {r["new_code"]: r for r in read_csv(cfg["files"]["population"])}
    unit_rows = {f["properties"]["code"]: {**f["properties"], **pop_rows[f["properties"]["code"]]} for f in feats}
    lineage = read_csv(cfg["files"]["lineage"])
    places = read_csv(cfg["files"]["places"])

    cleaned, rep = boundaries.clean_units(raw, province, cfg["cleaning"]["gap_width_m"])
    boundaries.finish_report(rep, raw, cleaned, codes)
    units = dict(zip(codes, cleaned, strict=True))
    notes = rep.lines()

    population, pop_note, est_notes = _estimate_populations(cfg, codes, units, unit_rows)
    notes += est_notes
    hh = cfg["households"]
    households = {c: int(round(population[c] / (hh["mean_size"] * rng_pop.normal(1, hh["spread"]))))
                  for c in codes}

    place_xy = frame.xy(np.array([[float(p["lon"]), float(p["lat"])] for p in places]))
    place_keys = [name_key(p["name"]) for p in places]
    sub_cfg = cfg["subdivision"]
    sub = boundaries.subdivide(units, lineage, place_xy, place_keys, [int(p["geonameid"]) for p in places],
                               rng_sub, spacing_m=sub_cfg["spacing_m"],
                               noise_wavelengths_m=tuple(sub_cfg["noise_wavelengths_m"]),
                               noise_share=sub_cfg["noise_share"],
                               name_key=lambda n: name_key(core_name(n, prefixes)))
    for d, g in sub.districts.items():
        if shapely.get_num_geometries(g) != 1:
            raise RuntimeError(f"district {d} is not one contiguous polygon; change the seed or the spacing")
    # Store each 2025 unit as the union of its earlier units: the same polygon to within float rounding,
    # but with their vertices, so "earlier unit covered by its 2025 unit" holds exactly in the database.
    for c in codes:
        merged = shapely.union_all([u.geom for u in sub.units if u.new_code == c])
        if merged.geom_type == "Polygon" and abs(merged.area - units[c].area) < 1.0:
            units[c] = merged
    seeded = sum(u.seed_from.startswith("geonames") for u in sub.units)
    notes.append(f"{len(sub.units)} earlier units generated inside their 2025 units ({seeded} seeded at a GeoNames "
                 f"place of the same name), {len(sub.districts)} districts as their unions")
    district_names = {r["old_district_code"]: r["old_district_name"] for r in lineage}
    centre_old = _centre_old_units(cfg, codes, unit_rows, lineage, prefixes)

    # The national border and its crossings.
    border_lines = _border(cfg, frame, province)
    border = {}
    for c in codes:
        countries = [k for k, line in border_lines.items()
                     if shapely.intersection(units[c].boundary, line.buffer(5.0)).length > cfg["border_min_m"]]
        border[c] = countries
    crossings = []
    by_name = {unit_rows[c]["name"]: c for c in codes}
    for bc in cfg_all["province"]["border_crossings"]:
        near = by_name[bc["near"]]
        line = border_lines[bc["country"]]
        shared = shapely.line_merge(shapely.intersection(line, units[near].buffer(1.0)))
        parts = sorted(shapely.get_parts(shared), key=lambda g: -g.length)
        if parts and parts[0].length > 0:
            pt = shapely.line_interpolate_point(parts[0], 0.5, normalized=True)
        else:
            pt = shapely.ops.nearest_points(line, units[near])[0]
        c = next((k for k in codes if units[k].distance(pt) < 1.0 and k == near), None) or \
            min(codes, key=lambda k: units[k].distance(pt))
        if c != near:
            notes.append(f"{bc['name']}: {bc['near']} does not reach the {bc['country']} border; placed at the "
                         f"nearest border point, in {unit_rows[c]['name']}")
        # A hair inside the unit so the point is contained by it, not on its edge.
        inner_poly = units[c].buffer(-20.0)
        inner = shapely.ops.nearest_points(inner_poly, pt)[0] if inner_poly.area else pt
        crossings.append({**bc, "unit": c, "xy": np.array([inner.x, inner.y])})

    terrain_cfg = cfg["terrain"]
    terrain = Terrain(rng_terrain, base_m=terrain_cfg["base_m"], relief_m=terrain_cfg["relief_m"],
                      wavelengths_m=tuple(terrain_cfg["wavelengths_m"]))
    old_by_code = {u.code: u for u in sub.units}
    centre_xy = {c: old_by_code[centre_old[c]].seed_xy for c in codes}

    rcfg = cfg["roads"]

    def locate_waypoint(w) -> np.ndarray:
        if isinstance(w, dict):
            p = frame.xy(np.array([[w["lon"], w["lat"]]]))[0]
            return np.array(shapely.ops.nearest_points(province.exterior, shapely.Point(p))[0].coords[0])
        if w in by_name:
            return centre_xy[by_name[w]]
        for x in crossings:
            if x["name"] == w:
                return x["xy"]
        k = [i for i, key in enumerate(place_keys) if key == name_key(w)]
        if k:
            return place_xy[k[0]]
        raise ValueError(f"road waypoint {w!r} names no unit, border crossing or place")

    trunk = roads.route_lines(rcfg["national"], locate_waypoint, "national", rng_road, rcfg["style"]["national"])
    trunk += roads.route_lines(rcfg["provincial"], locate_waypoint, "provincial", rng_road,
                               rcfg["style"]["provincial"])
    trunk_pts = shapely.get_coordinates(shapely.segmentize(
        shapely.multilinestrings([shapely.linestrings(t.xy) for t in trunk]), 100.0))
    trunk_tree = cKDTree(trunk_pts)

    def roads_near(xy: np.ndarray) -> np.ndarray:
        return trunk_tree.query(xy)[0]   # to within 50 m: plenty for weighting where villages sit

    s = villages.build_settlements(
        cfg["settlements"], rng_vil, units=units, unit_kind={c: unit_rows[c]["kind"] for c in codes},
        unit_pop=population, old_geoms={u.code: u.geom for u in sub.units},
        old_names={u.code: core_name(u.name, prefixes) for u in sub.units},
        old_seed={u.code: u.seed_xy for u in sub.units},
        centre_old=centre_old, grid=sub.grid, places=places, place_xy=place_xy, province=province,
        terrain=terrain, roads_near=roads_near)
    notes += s.notes
    towns = [i for i, k in enumerate(s.kind) if k == "town"]
    centres = np.array([s.xy[i] for i in towns])
    g = roads.build_roads(rcfg, rng_road, trunk=trunk, centres=centres, settlements=np.array(s.xy),
                          settlement_pop=s.population, terrain=terrain)
    if g.components != 1:
        raise RuntimeError(f"the road graph has {g.components} components")
    counts = {k: g.road_class.count(k) for k in dict.fromkeys(g.road_class)}
    notes.append(f"road graph: {len(g.geoms)} edges ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
                 f"one connected component; speeds slowed by a synthetic terrain's slope")
    return Geography(frame, province, codes, units, dict(zip(codes, raw, strict=True)), unit_rows, population,
                     pop_note, households, border, border_lines, crossings, sub, lineage, district_names, centre_old,
                     s, g, notes)


# ---------------------------------------------------------------------------------------------------
# Writing


def _ewkb(frame: Frame, geoms, multi: bool = False) -> list[str]:
    ll = frame.to_lonlat(np.asarray(geoms, dtype=object))
    if multi:
        ll = np.array([g if g.geom_type == "MultiPolygon" else shapely.multipolygons([g]) for g in ll], dtype=object)
    ll = shapely.set_srid(ll, 4326)
    return list(shapely.to_wkb(ll, hex=True, include_srid=True))


def write_geography(conn: psycopg.Connection, cfg_all: dict, geo: Geography) -> dict[str, int]:
    cfg = cfg_all["geography"]
    prov = cfg_all["province"]
    prefixes = cfg["kind_prefixes"]
    src = cfg["sources"]
    era_new, era_old = cfg["eras"]["current"], cfg["eras"]["earlier"]
    valid_from = date.fromisoformat(str(prov["reorganisation"]["two_tier_government"]))
    valid_to = date.fromisoformat(str(cfg["eras"]["earlier_valid_to"]))
    fr = geo.frame
    rows = []
    next_id = iter(range(1, 100_000))
    prov_geom = _ewkb(fr, [geo.province], multi=True)[0]
    prov_old, prov_new = next(next_id), next(next_id)
    prov_pop = sum(geo.population.values())
    for pid, era, vf, vt in ((prov_old, era_old, None, valid_to), (prov_new, era_new, valid_from, None)):
        rows.append((pid, era, str(prov["code"]), prov["name"], fold(prov["name"]), "province", None, prov_pop,
                     cfg["province_population_note"], None, None, None, None, None, vf, vt, src["province"], False,
                     prov_geom))
    unit_id = {}
    geoms = _ewkb(fr, [geo.units[c] for c in geo.codes], multi=True)
    for c, gw in zip(geo.codes, geoms, strict=True):
        r = geo.unit_rows[c]
        unit_id[c] = next(next_id)
        rows.append((unit_id[c], era_new, c, r["name"], fold(r["name"]), r["kind"], prov_new,
                     geo.population[c], geo.population_note[c], geo.households[c], None, float(r["area_km2"]),
                     r["admin_centre"], geo.border[c] or None, valid_from, None,
                     src["unit_2025"].format(osm_relation=r["osm_relation"]), False, gw))
    district_id = {}
    s = geo.settlements
    old_pop: dict[str, int] = {}
    for oc, p in zip(s.old_unit, s.population, strict=True):
        old_pop[oc] = old_pop.get(oc, 0) + int(p)
    dist_pop: dict[str, int] = {}
    for u in geo.sub.units:
        dist_pop[u.district] = dist_pop.get(u.district, 0) + old_pop.get(u.code, 0)
    dcodes = sorted(geo.sub.districts)
    for d, gw in zip(dcodes, _ewkb(fr, [geo.sub.districts[d] for d in dcodes], multi=True), strict=True):
        district_id[d] = next(next_id)
        name = geo.district_names[d]
        rows.append((district_id[d], era_old, d, name, fold(name), kind_of(name, prefixes), prov_old,
                     dist_pop[d], src["generated_population"], None, None, None, None, None, None, valid_to,
                     src["district"], True, gw))
    old_id = {}
    hh = cfg["households"]
    rng = np.random.default_rng(len(geo.sub.units))
    for u, gw in zip(geo.sub.units, _ewkb(fr, [u.geom for u in geo.sub.units], multi=True), strict=True):
        old_id[u.code] = next(next_id)
        p = old_pop.get(u.code, 0)
        rows.append((old_id[u.code], era_old, u.code, u.name, fold(u.name), kind_of(u.name, prefixes),
                     district_id[u.district], p, src["generated_population"],
                     int(round(p / (hh["mean_size"] * rng.normal(1, hh["spread"])))), None, None, None, None, None,
                     valid_to, src["earlier_unit"].format(seed=u.seed_from), True, gw))
    cols = ("id, era, code, name, name_ascii, kind, parent_id, population, population_note, households, area_km2, "
            "stated_area_km2, admin_centre, border_countries, valid_from, valid_to, source, is_generated, geom")
    with conn.cursor() as cur:
        with cur.copy(f"COPY admin_unit ({cols}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        cur.execute("UPDATE admin_unit SET area_km2 = ST_Area(geom::geography) / 1e6")
        by_old = {r["old_code"]: r for r in geo.lineage}
        with cur.copy("COPY admin_lineage (old_unit_id, new_unit_id, old_name_resolution, is_partly_merged) "
                      "FROM STDIN") as cp:
            for u in geo.sub.units:
                r = by_old[u.code]
                cp.write_row((old_id[u.code], unit_id[u.new_code], r["old_name_resolution"],
                              r["is_partly_merged"].strip().lower() == "true"))
        cur.execute("UPDATE admin_lineage l SET area_share = LEAST(1.0, o.area_km2 / n.area_km2) "
                    "FROM admin_unit o, admin_unit n WHERE o.id = l.old_unit_id AND n.id = l.new_unit_id")
        # Settlements.
        pts = _ewkb(fr, shapely.points(np.array(s.xy)))
        with cur.copy("COPY settlement (id, name, name_ascii, kind, population, unit_id, pre2025_unit_id, "
                      "geonameid, source, is_generated, geom) FROM STDIN") as cp:
            for i, gw in enumerate(pts):
                cp.write_row((i + 1, s.name[i], fold(s.name[i]), s.kind[i], int(s.population[i]),
                              unit_id[s.unit[i]], old_id[s.old_unit[i]], s.geonameid[i], s.source[i],
                              s.generated[i], gw))
        # Border crossings.
        with cur.copy("COPY border_crossing (id, name, country, kind, unit_id, is_generated, geom) FROM STDIN") as cp:
            for i, (x, gw) in enumerate(zip(geo.crossings, _ewkb(fr, shapely.points(np.array(
                    [x["xy"] for x in geo.crossings]))), strict=True)):
                cp.write_row((i + 1, x["name"], x["country"], x["kind"], unit_id[x["unit"]], True, gw))
        # Roads: lengths and costs on the geography type once stored.
        g = geo.roads
        lines = _ewkb(fr, np.array(g.geoms, dtype=object))
        with cur.copy("COPY road_edge (id, source, target, ref, name, road_class, length_m, speed_kmh, slope_factor, "
                      "cost_s, reverse_cost_s, is_generated, geom) FROM STDIN") as cp:
            for i, gw in enumerate(lines):
                cp.write_row((i + 1, int(g.source[i]), int(g.target[i]), g.ref[i], g.name[i], g.road_class[i],
                              float(g.length_m[i]), round(float(g.speed_kmh[i]), 2), round(float(g.slope_factor[i]), 4),
                              0.0, 0.0, True, gw))
        cur.execute("UPDATE road_edge SET length_m = ST_Length(geom::geography), "
                    "cost_s = ST_Length(geom::geography) / (speed_kmh / 3.6), "
                    "reverse_cost_s = ST_Length(geom::geography) / (speed_kmh / 3.6)")
        for table in ("admin_unit", "settlement", "border_crossing", "road_edge"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 - fixed names
                        f"(SELECT COALESCE(max(id), 1) FROM {table}))")
    return {
        "admin_unit (2025)": len(geo.codes), "admin_unit (pre-2025)": len(geo.sub.units),
        "districts": len(dcodes), "provinces": 2, "admin_lineage": len(geo.sub.units),
        "settlement": len(s.name), "settlement (GeoNames)": sum(not x for x in s.generated),
        "border_crossing": len(geo.crossings), "road_edge": len(g.geoms),
    }
