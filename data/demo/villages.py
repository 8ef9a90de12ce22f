"""Settlements: the real named places first, then generated villages, with populations that add up
exactly to each 2025 unit's population. Local metric frame throughout."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from data.demo.names import settlement_names


@dataclass
class Settlements:
    xy: list = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    unit: list[str] = field(default_factory=list)          # 2025 unit code
    old_unit: list[str] = field(default_factory=list)      # earlier unit code
    geonameid: list[int | None] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    generated: list[bool] = field(default_factory=list)
    population: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)       # geonameids left out, outside the province
    snapped: list[int] = field(default_factory=list)

    def add(self, xy, name, kind, unit, old_unit, geonameid, source, generated) -> int:
        self.xy.append(np.asarray(xy, dtype=float))
        self.name.append(name)
        self.kind.append(kind)
        self.unit.append(unit)
        self.old_unit.append(old_unit)
        self.geonameid.append(geonameid)
        self.source.append(source)
        self.generated.append(generated)
        return len(self.name) - 1


def largest_remainder(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Integers proportional to ``weights`` that sum exactly to ``total`` (each at least ``minimum`` when
    the total allows it)."""
    n = len(weights)
    floor_each = minimum if total >= minimum * n else 0
    rest = total - floor_each * n
    share = weights / weights.sum() * rest
    out = np.floor(share).astype(int)
    short = rest - out.sum()
    order = np.argsort(-(share - out), kind="stable")
    out[order[:short]] += 1
    return out + floor_each


def locate(points: np.ndarray, geoms: list, codes: list[str]) -> list[str | None]:
    tree = shapely.STRtree(geoms)
    pin, gidx = tree.query(shapely.points(points), predicate="within")
    out: list[str | None] = [None] * len(points)
    for p, g in zip(pin, gidx, strict=True):
        out[p] = codes[g] if out[p] is None else out[p]
    return out


def build_settlements(cfg: dict, rng: np.random.Generator, *, units: dict[str, shapely.Geometry],
                      unit_kind: dict[str, str], unit_pop: dict[str, int], old_geoms: dict[str, shapely.Geometry],
                      old_names: dict[str, str], old_seed: dict[str, np.ndarray], centre_old: dict[str, str],
                      grid: dict[str, np.ndarray], places: list[dict], place_xy: np.ndarray,
                      province: shapely.Geometry, terrain, roads_near) -> Settlements:
    """``old_names`` are the earlier units' names without prefix; ``centre_old`` maps each 2025 unit to
    the earlier unit that holds its administrative centre;
    ``roads_near(xy)`` gives the distance to the trunk roads (villages cluster along them)."""
    s = Settlements()
    codes = list(units)
    geoms = [units[c] for c in codes]
    old_codes = list(old_geoms)
    old_list = [old_geoms[c] for c in old_codes]
    snap_m = float(cfg["geonames_snap_m"])
    src_geonames = cfg["sources"]["geonames"]
    src_generated = cfg["sources"]["generated_village"]

    # 1. GeoNames places: real names and coordinates; coarse points just outside the outline are snapped
    #    to the nearest interior point, farther ones dropped.
    where = locate(place_xy, geoms, codes)
    all_grid = np.vstack([grid[c] for c in codes])
    grid_unit = np.concatenate([[c] * len(grid[c]) for c in codes])
    for k, row in enumerate(places):
        xy = place_xy[k]
        code = where[k]
        gid = int(row["geonameid"])
        if code is None:
            if province.distance(shapely.Point(xy)) > snap_m:
                s.dropped.append(gid)
                continue
            j = int(np.argmin(np.hypot(*(all_grid - xy).T)))
            xy, code = all_grid[j], str(grid_unit[j])
            s.snapped.append(gid)
        s.add(xy, row["name"], "ban", code, None, gid, src_geonames.format(geonameid=gid), False)

    # 2. The administrative centre of each 2025 unit: a settlement of kind 'town' (one per unit), at the
    #    named place of the earlier unit that held the seat when there is one.
    for c in codes:
        oc = centre_old[c]
        seed = old_seed[oc]
        best = None
        for i, g in enumerate(s.geonameid):
            if s.unit[i] == c and g is not None and np.hypot(*(s.xy[i] - seed)) < cfg["centre_match_m"] \
                    and old_geoms[oc].contains(shapely.Point(s.xy[i])):
                best = i
                break
        if best is not None:
            s.kind[best] = "town"
        else:
            s.add(seed, cfg["centre_name"].format(name=old_names[oc]), "town", c, None, None,
                  cfg["sources"]["centre"], True)

    # 3. Every earlier unit gets at least one settlement (its old centre, at its seed).
    xy = np.array(s.xy)
    old_of = locate(xy, old_list, old_codes)
    present = set(o for o in old_of if o is not None)
    taken: dict[str, set[str]] = {c: set() for c in codes}
    for i, n in enumerate(s.name):
        taken[s.unit[i]].add(n)
    for oc in old_codes:
        if oc in present:
            continue
        unit = next(c for c in codes if units[c].contains(shapely.Point(old_seed[oc])))
        core = old_names[oc]
        name, kind = (f"Tổ dân phố {core}", "to_dan_pho") if unit_kind[unit] == "ward" else (f"Bản {core}", "ban")
        if name in taken[unit]:
            name = f"{name} Trung tâm"
        taken[unit].add(name)
        s.add(old_seed[oc], name, kind, unit, None, None, src_generated, True)

    # 4. Generated villages up to the target, spread by population and area, on low ground and near roads.
    target = int(cfg["settlements_target"])
    need = max(target - len(s.name), 0)
    pops = np.array([unit_pop[c] for c in codes], dtype=float)
    areas = np.array([units[c].area for c in codes])
    wt = pops ** cfg["spread"]["population_exponent"] * areas ** cfg["spread"]["area_exponent"]
    per_unit = largest_remainder(need, wt)
    min_gap = float(cfg["spread"]["min_spacing_m"])
    for c, n_new in zip(codes, per_unit, strict=True):
        if n_new <= 0:
            continue
        cand = grid[c]
        existing = np.array([s.xy[i] for i in range(len(s.name)) if s.unit[i] == c])
        if len(existing):
            d_exist = np.min(np.hypot(cand[:, None, 0] - existing[None, :, 0], cand[:, None, 1] - existing[None, :, 1]),
                             axis=1)
            cand = cand[d_exist > min_gap]
        if len(cand) == 0:
            continue
        elev = terrain.elevation(cand)
        low = np.exp(-(elev - elev.min()) / cfg["spread"]["valley_scale_m"])
        near = np.exp(-roads_near(cand) / cfg["spread"]["road_scale_m"])
        p = low * (1 + cfg["spread"]["road_weight"] * near)
        k = min(int(n_new), len(cand))
        pick = rng.choice(len(cand), size=k, replace=False, p=p / p.sum())
        pick.sort()
        highland = terrain.elevation(cand[pick]) > cfg["spread"]["highland_m"]
        names = settlement_names(rng, k, urban=unit_kind[c] == "ward", highland=highland,
                                 hamlet_share=cfg["spread"]["hamlet_share"], taken=taken[c])
        for j, (name, kind) in zip(pick, names, strict=True):
            s.add(cand[j], name, kind, c, None, None, src_generated, True)

    # 5. Containment in the earlier units, and populations that add up to each 2025 unit's.
    xy = np.array(s.xy)
    s.old_unit = locate(xy, old_list, old_codes)
    s.unit = locate(xy, geoms, codes)
    if any(o is None for o in s.old_unit) or any(u is None for u in s.unit):
        raise RuntimeError("a settlement lies outside every unit: the boundaries or points are inconsistent")
    pop = np.zeros(len(xy), dtype=int)
    sigma = cfg["population"]["lognormal_sigma"]
    for c in codes:
        idx = np.flatnonzero(np.array(s.unit) == c)
        w = rng.lognormal(0.0, sigma, len(idx))
        w[np.array([s.kind[i] == "town" for i in idx])] *= cfg["population"]["centre_weight"]
        pop[idx] = largest_remainder(int(unit_pop[c]), w, minimum=int(cfg["population"]["minimum"]))
    s.population = pop
    s.notes.append(f"settlements: {len(s.name)} ({sum(not g for g in s.generated)} GeoNames places, "
                   f"{len(s.snapped)} snapped inside the outline, {len(s.dropped)} dropped as outside it: "
                   f"{', '.join(map(str, s.dropped)) or 'none'}); {sum(s.generated)} generated")
    return s
