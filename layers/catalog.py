"""The layers sitmap serves, one declaration each. Adding a layer is adding one ``Layer(...)`` to ``LAYERS``."""

from __future__ import annotations

from data import vocab
from data.settings import get_settings
from geo.designation import basis as designation_basis
from layers.model import Access, Layer, Prop, Style

PUBLIC = Access(public=True)
# Who may see these and which rows: "layer.restricted" of data/permissions.py.
SIGNED_IN_BY_COMMUNE = Access(public=False, action="layer.restricted", unit_column="unit_id")
# The stored travel analyses (data/ops/travel_results.py): for the roles that run analyses, by commune.
ANALYSIS_BY_COMMUNE = Access(public=False, action="analysis.run", unit_column="unit_id")
# What-if scenarios' results: for the roles that manage scenarios (data/permissions.py scenario.manage).
SCENARIO_PLANNERS = Access(public=False, action="scenario.manage", unit_column="unit_id")


def terms_prop(name: str, vocabulary: str, vi: str, en: str) -> Prop:
    """A categorical property, by the name of its vocabulary in data/vocab.py VOCABULARIES."""
    return Prop(name, "string", vi, en, vocabulary=vocabulary)


UNIT_PROPS = (
    Prop("code", "string", "Mã đơn vị", "Official code"),
    Prop("name", "string", "Tên", "Name"),
    terms_prop("kind", "unit_kinds", "Loại đơn vị", "Kind of unit"),
    Prop("population", "integer", "Dân số", "Population"),
    Prop("households", "integer", "Số hộ", "Households"),
    Prop("area_km2", "number", "Diện tích (km²)", "Area (km²)"),
)
# The name of a feature's commune, next to its unit_id, for people reading features (not in tiles).
UNIT_NAME = Prop("unit_name", "string", "Tên xã, phường", "Commune name",
                 expr="(SELECT u.name FROM admin_unit u WHERE u.id = unit_id)", filterable=False, in_tiles=False)


def units_layer(id: str, order: int, era: str, kinds: tuple[str, ...], title_vi: str, title_en: str,
                description: str, style: Style, minzoom: int = 5, maxzoom: int = 18) -> Layer:
    """The administrative units of one era and level (a group of data.vocab unit kinds), all public."""
    return Layer(
        id=id, order=order, title_vi=title_vi, title_en=title_en, description=description,
        source="admin_unit", where=f"era = '{era}' AND {vocab.kinds_sql('kind', kinds)}",
        geometry_type="MultiPolygon", properties=UNIT_PROPS, access=PUBLIC, tables=("admin_unit",),
        minzoom=minzoom, maxzoom=maxzoom, simplify_px=0.5, style=style)


GENERATED_ROADS_NOTE = ("Figures come from the road graph's travel times: on the demo, generated roads and "
                        "speeds (roads_generated), an illustration of the method, not findings about real travel.")
# What every travel layer says about its stored run (travel_run, joined as r in the sources).
TRAVEL_RUN_PROPS = (
    Prop("roads_generated", "boolean", "Đường giao thông giả lập", "Generated roads"),
    Prop("run_at", "datetime", "Thời điểm tính", "Computed at", in_tiles=False),
)
MINUTE_BAND_PROP = terms_prop("band", "minute_bands", "Khoảng thời gian", "Minutes band")
UNDERSERVED_MIN = get_settings().coverage_underserved_min


def travel_source(table: str, columns: str) -> str:
    """The rows of a stored travel analysis with their run's provenance (one stored run per analysis)."""
    run = "t.unit_id, r.roads_generated, r.created_at AS run_at, t.geom, t.geom_3857"
    return f"SELECT t.id, {columns}, {run} FROM {table} t JOIN travel_run r ON r.id = t.run_id"  # noqa: S608


def hotspot_source(analysis: str) -> str:
    """The cells of the latest run of ``analysis`` for each category and kind of cell (trusted SQL)."""
    return f"""SELECT c.id, c.run_id, c.cell, c.count, c.z, c.p, c."class" AS hotspot_class, c.trend, c.trend_z,
                      c.trend_p, c.hot_bins, c.cold_bins, c.bins, c.neighbours, c.unit_id, r.created_at AS run_at,
                      r.category, r.cells, r.incidents_generated, c.geom, c.geom_3857
                 FROM hotspot_cell c JOIN hotspot_run r ON r.id = c.run_id
                WHERE c.run_id IN (SELECT DISTINCT ON (category, cells) id FROM hotspot_run
                                    WHERE analysis = '{analysis}'
                                    ORDER BY category, cells, created_at DESC, id DESC)"""  # noqa: S608


HOTSPOT_PROPS = (
    Prop("cell", "string", "Ô lưới", "Cell"),
    Prop("count", "integer", "Số vụ việc", "Incidents"),
    Prop("z", "number", "Điểm z", "z-score", filterable=False),
    Prop("p", "number", "Giá trị p (đã hiệu chỉnh FDR)", "p-value (FDR adjusted)", filterable=False),
    terms_prop("hotspot_class", "hotspot_classes", "Phân loại", "Class"),
    Prop("category", "string", "Loại vụ việc", "Incident categories"),
    terms_prop("cells", "hotspot_cells", "Loại ô", "Cells"),
    Prop("neighbours", "integer", "Số ô lân cận", "Neighbours"),
    Prop("run_id", "integer", "Lần phân tích", "Analysis run"),
    Prop("run_at", "datetime", "Thời điểm phân tích", "Run at"),
    Prop("incidents_generated", "boolean", "Vụ việc mô phỏng", "Generated incidents"),
    Prop("unit_id", "integer", "Xã, phường", "Commune"),
    UNIT_NAME,
)


# Every layer sitmap serves; layers/registry.py reads this tuple (nothing registers itself on import).
LAYERS: tuple[Layer, ...] = (
    units_layer("communes", 10, "2025", vocab.COMMUNE_LEVEL_KINDS,
                "Xã, phường (từ 1/7/2025)", "Communes and wards (from 1 July 2025)",
                "The commune-level units of the two-tier local government in force from 1 July 2025.",
                Style(color="#1f4e9c", fill_opacity=0.05, width=2)),
    units_layer("communes-pre2025", 11, "pre2025", vocab.COMMUNE_LEVEL_KINDS,
                "Xã, phường, thị trấn (trước 7/2025)", "Communes before July 2025",
                "The commune-level units in force until 30 June 2025, kept for before/after analysis.",
                Style(color="#7a5c99", fill_opacity=0.03, width=1)),
    units_layer("districts-pre2025", 12, "pre2025", vocab.DISTRICT_LEVEL_KINDS,
                "Huyện, thị xã, thành phố (trước 7/2025)", "Districts before July 2025",
                "The district-level units abolished with the two-tier reorganisation of July 2025.",
                Style(color="#444444", fill_opacity=0.0, width=3), minzoom=4, maxzoom=16),

    Layer(
        id="stations", order=30,
        title_vi="Trụ sở công an", title_en="Police stations",
        description="Police premises with their headquarters status; by default those in service today "
                    "(pass datetime to see another date, e.g. the former district police before March 2025).",
        source="station", geometry_type="Point",
        properties=(
            Prop("code", "string", "Mã", "Code"),
            Prop("name", "string", "Tên", "Name"),
            terms_prop("kind", "station_kinds", "Loại", "Kind"),
            terms_prop("hq_status", "hq_statuses", "Tình trạng trụ sở", "Headquarters status"),
            Prop("officers", "integer", "Số cán bộ", "Officers"),
            Prop("unit_id", "integer", "Đơn vị hành chính", "Administrative unit"),
            UNIT_NAME,
            Prop("contact", "string", "Liên hệ", "Contact", filterable=False),
            Prop("valid_from", "date", "Hiệu lực từ", "Valid from"),
            Prop("valid_to", "date", "Hiệu lực đến", "Valid to"),
        ),
        access=PUBLIC, tables=("station",), time_start="valid_from", time_end="valid_to", default_current=True,
        minzoom=6, render="geojson",
        style=Style(by="hq_status", radius=7, colors={
            "independent": "#1a7f37", "shared": "#d4a017", "under_construction": "#e06c00", "planned": "#8c8c8c"}),
    ),

    Layer(
        id="villages", order=40,
        title_vi="Bản, thôn, tổ dân phố", title_en="Villages and hamlets",
        description="Populated places (bản, thôn, tổ dân phố) with their population.",
        source="settlement", geometry_type="Point",
        properties=(
            Prop("name", "string", "Tên", "Name"),
            terms_prop("kind", "settlement_kinds", "Loại", "Kind"),
            Prop("population", "integer", "Dân số", "Population"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
        ),
        access=PUBLIC, tables=("settlement",), minzoom=8, priority="population DESC NULLS LAST, id",
        style=Style(color="#6b4f2a", radius=3),
    ),

    Layer(
        id="roads", order=20,
        title_vi="Đường giao thông", title_en="Roads",
        description="The road network by class, as routing edges costed in seconds (no travel times served yet).",
        source="road_edge", geometry_type="LineString",
        properties=(
            Prop("ref", "string", "Số hiệu", "Reference"),
            Prop("name", "string", "Tên", "Name"),
            terms_prop("road_class", "road_classes", "Cấp đường", "Road class"),
            Prop("length_m", "number", "Chiều dài (m)", "Length (m)"),
            Prop("speed_kmh", "number", "Tốc độ (km/h)", "Speed (km/h)"),
        ),
        access=PUBLIC, tables=("road_edge",), minzoom=6, simplify_px=0.5,
        priority=f"{vocab.rank_sql('road_class', vocab.ROAD_CLASSES)}, id",
        style=Style(by="road_class", colors={"national": "#d7301f", "provincial": "#fc8d59", "commune": "#7f7f7f",
                                             "village_track": "#b0b0b0", "footpath": "#cccccc"}),
    ),

    Layer(
        id="patrol-points", order=50,
        title_vi="Điểm tuần tra", title_en="Patrol points",
        description="Checkpoints, tip-off mailboxes and self-governing model points, with the last accepted "
                    "visit, when the next is due and whether it is overdue against the point's schedules "
                    "(every N hours or named shifts; without one, its own interval), computed at request time by "
                    "sitmap_patrol_due, the one definition of overdue.",
        # A point with several schedules shows its most pressing one.
        source="""SELECT p.id, p.name, p.kind, p.unit_id, p.station_id, p.model_name, p.visit_interval_hours,
                         d.last_visit_at, d.due_at, coalesce(d.overdue, true) AS overdue, d.overdue_hours,
                         d.schedules, p.geom, p.geom_3857
                    FROM patrol_point p
                    LEFT JOIN (SELECT patrol_point_id, max(last_visit_at) AS last_visit_at, min(due_at) AS due_at,
                                      bool_or(overdue) AS overdue, max(overdue_hours) AS overdue_hours,
                                      count(schedule_id) AS schedules
                                 FROM sitmap_patrol_due(now()) GROUP BY patrol_point_id) d
                           ON d.patrol_point_id = p.id""",
        geometry_type="Point",
        properties=(
            Prop("name", "string", "Tên", "Name"),
            terms_prop("kind", "patrol_point_kinds", "Loại", "Kind"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            Prop("station_id", "integer", "Trụ sở phụ trách", "Station"),
            Prop("model_name", "string", "Mô hình", "Model"),
            Prop("visit_interval_hours", "integer", "Chu kỳ tuần tra (giờ)", "Visit interval (hours)"),
            Prop("last_visit_at", "datetime", "Lần tuần tra gần nhất", "Last visit"),
            Prop("due_at", "datetime", "Hạn tuần tra tiếp theo", "Next visit due"),
            Prop("overdue", "boolean", "Quá hạn tuần tra", "Visit overdue"),
            Prop("overdue_hours", "number", "Số giờ quá hạn", "Hours overdue"),
            Prop("schedules", "integer", "Số lịch tuần tra", "Patrol schedules"),
        ),
        access=SIGNED_IN_BY_COMMUNE, tables=("patrol_point", "patrol_visit", "patrol_schedule"), minzoom=8,
        volatile_seconds=60, priority="overdue DESC, id",
        style=Style(by="overdue", radius=4, colors={"true": "#d73027", "false": "#1a9850"}),
    ),

    # Drawn at the team's own village (security_team.geom: where the team lives and is reached); a team without
    # one at the centre of the points it looks after, else at its commune. The points' centre alone could fall
    # between villages, far from anyone.
    Layer(
        id="security-teams", order=52,
        title_vi="Tổ bảo vệ an ninh, trật tự ở cơ sở", title_en="Grassroots security teams",
        description="The security and order protection teams of each commune, with their members and the patrol "
                    "points they look after: the points whose team they are and those assigned to them by a "
                    "schedule in force (POST /patrol-schedules).",
        source="""SELECT t.id, t.name, t.members, t.unit_id, t.settlement_id,
                         array_to_string(a.patrol_point_ids, ',') AS patrol_point_ids,
                         cardinality(a.patrol_point_ids) AS patrol_points, a.schedules,
                         coalesce(t.geom, a.centre, ST_PointOnSurface(u.geom)) AS geom,
                         ST_Transform(coalesce(t.geom, a.centre, ST_PointOnSurface(u.geom)), 3857) AS geom_3857
                    FROM security_team t
                    LEFT JOIN admin_unit u ON u.id = t.unit_id
                    LEFT JOIN LATERAL (
                      SELECT coalesce(array_agg(x.id ORDER BY x.id), '{}') AS patrol_point_ids,
                             ST_Centroid(ST_Collect(x.geom)) AS centre,
                             (SELECT count(*) FROM patrol_schedule s WHERE s.team_id = t.id AND s.valid_from <= now()
                                 AND now() < coalesce(s.valid_to, 'infinity')) AS schedules
                        -- two indexed look-ups (an OR of them would scan every point for every team)
                        FROM patrol_point x
                       WHERE x.id IN (SELECT p.id FROM patrol_point p WHERE p.team_id = t.id
                                      UNION SELECT s.patrol_point_id FROM patrol_schedule s WHERE s.team_id = t.id
                                         AND s.valid_from <= now() AND now() < coalesce(s.valid_to, 'infinity'))
                    ) a ON true""",
        geometry_type="Point",
        properties=(
            Prop("name", "string", "Tên tổ", "Name"),
            Prop("members", "integer", "Số thành viên", "Members"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            Prop("settlement_id", "integer", "Mã bản, thôn", "Village id"),
            Prop("patrol_points", "integer", "Số điểm tuần tra", "Patrol points"),
            Prop("patrol_point_ids", "string", "Các điểm tuần tra (mã)", "Patrol point ids", filterable=False,
                 in_tiles=False),
            Prop("schedules", "integer", "Số lịch tuần tra", "Patrol schedules"),
        ),
        access=SIGNED_IN_BY_COMMUNE, tables=("security_team", "patrol_point", "patrol_schedule"), minzoom=9,
        volatile_seconds=60, priority="patrol_points DESC, id",
        style=Style(color="#54278f", radius=5),
    ),

    Layer(
        id="incidents", order=60,
        title_vi="Vụ việc", title_en="Incidents",
        description="Reported incidents by category, severity and status. Tiles keep the most serious and most "
                    "recent first when a tile must be capped.",
        source="incident", geometry_type="Point", id_type="uuid", tile_feature_id="number",
        properties=(
            Prop("number", "integer", "Số vụ việc", "Incident number"),
            terms_prop("category", "incident_categories", "Loại vụ việc", "Category"),
            terms_prop("severity", "incident_severities", "Mức độ", "Severity"),
            terms_prop("status", "incident_statuses", "Trạng thái", "Status"),
            terms_prop("source", "incident_sources", "Nguồn tin", "Source"),
            Prop("occurred_at", "datetime", "Thời điểm xảy ra", "Occurred at"),
            Prop("reported_at", "datetime", "Thời điểm tiếp nhận", "Reported at", in_tiles=False),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            Prop("accuracy_m", "number", "Sai số vị trí (m)", "Position accuracy (m)", in_tiles=False),
            Prop("description", "string", "Nội dung", "Description", personal=True, filterable=False,
                 in_tiles=False),
            Prop("reporter_name", "string", "Người báo tin", "Reporter", personal=True, filterable=False,
                 in_tiles=False),
        ),
        access=SIGNED_IN_BY_COMMUNE, tables=("incident",), time_start="occurred_at", minzoom=6,
        priority="severity_rank DESC, occurred_at DESC", tile_cap=4000,  # a stored vocab.rank_sql() (migration 0012)
        style=Style(by="category", radius=4, colors={
            "drugs": "#e41a1c", "theft": "#377eb8", "human_trafficking": "#984ea3",
            "illegal_border_crossing": "#ff7f00", "weapons_explosives": "#a65628", "illegal_religion": "#f781bf",
            "high_tech_fraud": "#4daf4a", "public_order": "#ffd92f", "traffic": "#66c2a5", "other": "#999999"}),
    ),

    Layer(
        id="key-areas", order=70,
        title_vi="Địa bàn trọng điểm", title_en="Key areas",
        description="Key-area designations (key and complex, drug key, safe, transformed) that are approved or "
                    "proposed; by default those in force today (a proposal without dates counts as current). "
                    "Rejected and revoked ones, and every step with its reason, are in a commune's history: "
                    "GET /units/{id}/designations and GET /designations/{id}.",
        source="designation", geometry_type="MultiPolygon",
        where="status IN ('proposed', 'approved')",
        properties=(
            terms_prop("kind", "designation_kinds", "Loại địa bàn", "Kind"),
            terms_prop("status", "designation_statuses", "Trạng thái", "Status"),
            terms_prop("origin", "designation_origins", "Nguồn đề xuất", "Origin"),
            Prop("rule", "string", "Tiêu chí", "Rule"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            Prop("valid_from", "date", "Hiệu lực từ", "Valid from"),
            Prop("valid_to", "date", "Hiệu lực đến", "Valid to"),
            Prop("decided_at", "datetime", "Ngày quyết định", "Decided at"),
            Prop("version", "integer", "Phiên bản", "Version", in_tiles=False),
            Prop("basis_summary", "string", "Căn cứ (số liệu)", "Basis (statistics)",
                 expr=designation_basis.summary_sql("basis"), filterable=False, in_tiles=False),
            Prop("decision_reason", "string", "Lý do quyết định", "Decision reason", filterable=False,
                 in_tiles=False),
            Prop("revoke_reason", "string", "Lý do hủy bỏ", "Revocation reason", filterable=False, in_tiles=False),
            # Who proposed and decided: personal details, like who changed a station's status.
            Prop("proposed_by_name", "string", "Người đề xuất", "Proposed by", personal=True, filterable=False,
                 in_tiles=False, expr="(SELECT p.username FROM app_user p WHERE p.id = proposed_by)"),
            Prop("decided_by_name", "string", "Người quyết định", "Decided by", personal=True, filterable=False,
                 in_tiles=False, expr="(SELECT p.username FROM app_user p WHERE p.id = decided_by)"),
        ),
        access=SIGNED_IN_BY_COMMUNE, tables=("designation",), time_start="valid_from", time_end="valid_to",
        default_current=True, minzoom=6, simplify_px=0.5,
        priority=f"{vocab.rank_sql('status', vocab.DESIGNATION_STATUSES)}, id",
        style=Style(by="kind", fill_opacity=0.3, colors={
            "key_complex": "#d7191c", "drug_key": "#7b3294", "safe_standard": "#1a9641", "transformed": "#2c7bb6"}),
    ),

    # Points or lines drawn on the road (the map draws either by the feature's own type; declared as lines,
    # which most are). In force: from starts_at until the earlier of ends_at and reopened_at (migration 0020).
    Layer(
        id="road-closures", order=75,
        title_vi="Đường bị chặn, sạt lở", title_en="Road closures",
        description="Roads closed by a landslide, a flood, works, an accident or a security cordon, drawn as a "
                    "point or a line on the road; by default those in force now (pass datetime for another "
                    "time). Every travel analysis closes the road edges within SITMAP_CLOSURE_SNAP_M of a "
                    "closure in force at the time it asks about. Recorded, edited and reopened at /closures.",
        source="SELECT c.*, least(c.ends_at, c.reopened_at) AS in_force_until FROM road_closure c",
        geometry_type="LineString",
        properties=(
            terms_prop("reason", "closure_reasons", "Lý do", "Reason"),
            Prop("in_force", "boolean", "Đang có hiệu lực", "In force now",
                 expr="sitmap_closure_in_force(starts_at, ends_at, reopened_at, now())"),
            Prop("starts_at", "datetime", "Từ", "From"),
            Prop("ends_at", "datetime", "Đến (dự kiến)", "Until (planned)"),
            Prop("reopened_at", "datetime", "Đã thông đường lúc", "Reopened at"),
            Prop("in_force_until", "datetime", "Hết hiệu lực", "In force until"),
            Prop("note", "string", "Ghi chú", "Note", filterable=False, in_tiles=False),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            Prop("version", "integer", "Phiên bản", "Version", in_tiles=False),
            Prop("is_generated", "boolean", "Dữ liệu giả lập", "Generated", in_tiles=False),
            # Who recorded and reopened it: personal details, like who changed a station's status.
            Prop("created_by_name", "string", "Người ghi nhận", "Recorded by", personal=True, filterable=False,
                 in_tiles=False, expr="(SELECT p.username FROM app_user p WHERE p.id = created_by)"),
            Prop("reopened_by_name", "string", "Người thông đường", "Reopened by", personal=True,
                 filterable=False, in_tiles=False, expr="(SELECT p.username FROM app_user p WHERE p.id = reopened_by)"),
        ),
        access=SIGNED_IN_BY_COMMUNE, tables=("road_closure",), time_start="starts_at", time_end="in_force_until",
        default_current=True, volatile_seconds=60, minzoom=6,
        priority="starts_at DESC, id",
        style=Style(by="reason", width=5, radius=7, colors={
            "landslide": "#8c510a", "flood": "#01665e", "works": "#f1a340", "accident": "#c51b7d",
            "security": "#542788", "other": "#777777"}),
    ),

    Layer(
        id="hotspots", order=80,
        title_vi="Điểm nóng", title_en="Hot spots",
        description="Getis-Ord Gi* hot and cold spots (False Discovery Rate corrected) of the latest hot-spot run "
                    "of each incident category and kind of cell; earlier runs are at /hotspot-runs/{id}.",
        source=hotspot_source("gi_star"),
        geometry_type="MultiPolygon",
        properties=(*HOTSPOT_PROPS,),
        access=SIGNED_IN_BY_COMMUNE, tables=("hotspot_run", "hotspot_cell"), minzoom=6,
        style=Style(by="hotspot_class", fill_opacity=0.45, colors={
            "hot_99": "#b2182b", "hot_95": "#ef8a62", "hot_90": "#fddbc7", "not_significant": "#f7f7f7",
            "cold_90": "#d1e5f0", "cold_95": "#67a9cf", "cold_99": "#2166ac", "insufficient": "#bdbdbd"}),
    ),

    Layer(
        id="emerging-hotspots", order=81,
        title_vi="Điểm nóng theo thời gian", title_en="Emerging hot spots",
        description="Emerging hot-spot patterns (monthly Gi* slices and a Mann-Kendall trend per cell, as "
                    "ArcGIS's Emerging Hot Spot Analysis defines them) of the latest emerging run of each "
                    "incident category and kind of cell.",
        source=hotspot_source("emerging"),
        geometry_type="MultiPolygon",
        properties=(
            *HOTSPOT_PROPS,
            terms_prop("trend", "emerging_patterns", "Xu hướng", "Pattern"),
            Prop("trend_z", "number", "Điểm z xu hướng", "Trend z-score", filterable=False),
            Prop("trend_p", "number", "Giá trị p xu hướng", "Trend p-value", filterable=False),
            Prop("hot_bins", "integer", "Số tháng nóng", "Hot months"),
            Prop("cold_bins", "integer", "Số tháng lạnh", "Cold months"),
            Prop("bins", "string", "Từng tháng (+ nóng, - lạnh)", "Month by month (+ hot, - cold)",
                 filterable=False),
        ),
        access=SIGNED_IN_BY_COMMUNE, tables=("hotspot_run", "hotspot_cell"), minzoom=6,
        style=Style(by="trend", fill_opacity=0.5, colors={
            "new_hot": "#fcbba1", "consecutive_hot": "#fc9272", "intensifying_hot": "#a50f15",
            "persistent_hot": "#de2d26", "diminishing_hot": "#fb6a4a", "sporadic_hot": "#fdd0a2",
            "oscillating_hot": "#fd8d3c", "historical_hot": "#d9a38b",
            "new_cold": "#c6dbef", "consecutive_cold": "#9ecae1", "intensifying_cold": "#08519c",
            "persistent_cold": "#3182bd", "diminishing_cold": "#6baed6", "sporadic_cold": "#deebf7",
            "oscillating_cold": "#4292c6", "historical_cold": "#9bb4c9", "no_pattern": "#f0f0f0"}),
    ),

    Layer(
        id="service-stats", order=90,
        title_vi="Thủ tục hành chính", title_en="Administrative procedures",
        description="Administrative-procedure dossiers per commune and period, as reported (the reports' figures "
                    "do not always add up; they are shown as reported).",
        source="""SELECT s.id, s.unit_id, u.name AS unit_name, s.agency, s.period_start, s.period_end, s.received,
                         s.online, s.in_person, s.early, s.on_time, s.on_time_or_early, s.overdue, s.in_progress,
                         s.source, u.geom, u.geom_3857
                    FROM service_stat s JOIN admin_unit u ON u.id = s.unit_id""",
        geometry_type="MultiPolygon",
        properties=(
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            Prop("unit_name", "string", "Tên xã, phường", "Commune name"),
            terms_prop("agency", "service_agencies", "Cơ quan", "Agency"),
            Prop("period_start", "date", "Từ ngày", "Period start"),
            Prop("period_end", "date", "Đến ngày", "Period end"),
            Prop("received", "integer", "Hồ sơ tiếp nhận", "Received"),
            Prop("online", "integer", "Trực tuyến", "Online"),
            Prop("in_person", "integer", "Trực tiếp", "In person"),
            Prop("early", "integer", "Trước hạn", "Early"),
            Prop("on_time", "integer", "Đúng hạn", "On time"),
            Prop("on_time_or_early", "integer", "Đúng hạn và trước hạn", "On time or early"),
            Prop("overdue", "integer", "Quá hạn", "Overdue"),
            Prop("in_progress", "integer", "Đang giải quyết", "In progress"),
            Prop("source", "string", "Nguồn số liệu", "Source", filterable=False, in_tiles=False),
        ),
        access=PUBLIC, tables=("service_stat", "admin_unit"), time_start="period_start", time_end="period_end",
        minzoom=5, simplify_px=0.5, style=Style(color="#2b8cbe", fill_opacity=0.35),
    ),

    Layer(
        id="village-access", order=100,
        title_vi="Thời gian đến trụ sở công an xã", title_en="Village access to the commune police",
        description="Villages by the minutes of the road trip (walking legs included) to their own commune's "
                    "police station, with the trip to the nearest station and the road/straight-line ratio "
                    "(`sitmap analyze refresh`). " + GENERATED_ROADS_NOTE,
        source=travel_source("travel_access", "t.settlement_id, t.village, t.population, t.own_station_code, "
                             "t.own_station_min, t.own_station_km, t.own_station_ratio, t.nearest_station_code, "
                             "t.nearest_station_min, t.nearest_station_km, t.nearest_station_ratio, t.band, "
                             "t.reason"),
        geometry_type="Point",
        properties=(
            Prop("village", "string", "Bản, thôn", "Village"),
            Prop("population", "integer", "Dân số", "Population"),
            Prop("own_station_code", "string", "Trụ sở công an xã", "Own commune station"),
            Prop("own_station_min", "number", "Phút đến trụ sở xã", "Minutes to own station"),
            Prop("own_station_km", "number", "Km đến trụ sở xã", "Road km to own station"),
            Prop("own_station_ratio", "number", "Tỷ lệ đường bộ / đường chim bay", "Road / straight-line ratio"),
            Prop("nearest_station_code", "string", "Trụ sở gần nhất", "Nearest station"),
            Prop("nearest_station_min", "number", "Phút đến trụ sở gần nhất", "Minutes to nearest station"),
            Prop("nearest_station_km", "number", "Km đến trụ sở gần nhất", "Road km to nearest station"),
            Prop("nearest_station_ratio", "number", "Tỷ lệ (trụ sở gần nhất)", "Ratio (nearest station)"),
            MINUTE_BAND_PROP,
            Prop("reason", "string", "Lý do không có số liệu", "Why no figure", filterable=False),
            Prop("settlement_id", "integer", "Mã bản", "Village id"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            *TRAVEL_RUN_PROPS,
        ),
        access=ANALYSIS_BY_COMMUNE, tables=("travel_run", "travel_access"), minzoom=6,
        priority="own_station_min DESC NULLS FIRST, id",
        style=Style(by="band", radius=5, colors={
            "m0_15": "#1a9850", "m15_30": "#91cf60", "m30_60": "#fee08b", "m60_120": "#fc8d59",
            "m120_plus": "#d73027"}),
    ),

    Layer(
        id="isochrones", order=101,
        title_vi="Vùng tiếp cận từ trụ sở", title_en="Isochrones of the stations",
        description="Areas reachable by road from each police station in service within 15, 30 and 60 minutes "
                    "(nested; a patrol leaving the station). " + GENERATED_ROADS_NOTE,
        source=travel_source("travel_isochrone", "t.station_id, t.station_code, t.minutes, t.band, t.area_km2, "
                             "t.reached_road_km"),
        geometry_type="MultiPolygon",
        properties=(
            Prop("station_code", "string", "Trụ sở", "Station"),
            Prop("station_id", "integer", "Mã trụ sở", "Station id"),
            Prop("minutes", "number", "Trong vòng (phút)", "Within (minutes)"),
            MINUTE_BAND_PROP,
            Prop("area_km2", "number", "Diện tích (km²)", "Area (km²)"),
            Prop("reached_road_km", "number", "Đường tiếp cận được (km)", "Road reached (km)"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            *TRAVEL_RUN_PROPS,
        ),
        access=ANALYSIS_BY_COMMUNE, tables=("travel_run", "travel_isochrone"), minzoom=6, simplify_px=0.5,
        priority="minutes, id",
        style=Style(by="band", fill_opacity=0.2, width=1, colors={
            "m0_15": "#08519c", "m15_30": "#3182bd", "m30_60": "#9ecae1"}),
    ),

    Layer(
        id="reorganisation-savings", order=102,
        title_vi="Thời gian tiết kiệm nhờ sắp xếp", title_en="What the reorganisation saved residents",
        description="Villages by the signed change of the trip for a procedure from before 1 March 2025 (district "
                    "police) to from 1 July 2025 (the 2025 commune station), with both steps' changes in minutes "
                    "and km; negative = time saved. " + GENERATED_ROADS_NOTE,
        source=travel_source("travel_saving", "t.settlement_id, t.village, t.population, t.before_station_code, "
                             "t.march_station_code, t.july_station_code, t.before_min, t.before_km, t.march_min, "
                             "t.march_km, t.july_min, t.july_km, t.change_march_min, t.change_march_km, "
                             "t.change_july_min, t.change_july_km, t.change_total_min, t.change_total_km, "
                             "t.change_band, t.reason"),
        geometry_type="Point",
        properties=(
            Prop("village", "string", "Bản, thôn", "Village"),
            Prop("population", "integer", "Dân số", "Population"),
            terms_prop("change_band", "trip_changes", "Thay đổi (trước 3/2025 → từ 7/2025)",
                       "Change (before March → from July 2025)"),
            Prop("change_total_min", "number", "Thay đổi tổng (phút)", "Total change (min)"),
            Prop("change_total_km", "number", "Thay đổi tổng (km)", "Total change (km)"),
            Prop("change_march_min", "number", "Thay đổi từ 1/3/2025 (phút)", "Change on 1 March (min)"),
            Prop("change_march_km", "number", "Thay đổi từ 1/3/2025 (km)", "Change on 1 March (km)"),
            Prop("change_july_min", "number", "Thay đổi từ 1/7/2025 (phút)", "Change on 1 July (min)"),
            Prop("change_july_km", "number", "Thay đổi từ 1/7/2025 (km)", "Change on 1 July (km)"),
            Prop("before_min", "number", "Trước 1/3/2025 (phút)", "Before 1 March (min)"),
            Prop("march_min", "number", "Từ 1/3/2025 (phút)", "From 1 March (min)"),
            Prop("july_min", "number", "Từ 1/7/2025 (phút)", "From 1 July (min)"),
            Prop("before_km", "number", "Trước 1/3/2025 (km)", "Before 1 March (km)", in_tiles=False),
            Prop("march_km", "number", "Từ 1/3/2025 (km)", "From 1 March (km)", in_tiles=False),
            Prop("july_km", "number", "Từ 1/7/2025 (km)", "From 1 July (km)", in_tiles=False),
            Prop("before_station_code", "string", "Trụ sở trước 1/3/2025", "Station before 1 March", in_tiles=False),
            Prop("march_station_code", "string", "Trụ sở từ 1/3/2025", "Station from 1 March", in_tiles=False),
            Prop("july_station_code", "string", "Trụ sở từ 1/7/2025", "Station from 1 July", in_tiles=False),
            Prop("reason", "string", "Lý do không có số liệu", "Why no figure", filterable=False),
            Prop("settlement_id", "integer", "Mã bản", "Village id"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            *TRAVEL_RUN_PROPS,
        ),
        access=ANALYSIS_BY_COMMUNE, tables=("travel_run", "travel_saving"), minzoom=6,
        priority="population DESC NULLS LAST, id",
        style=Style(by="change_band", radius=5, colors={
            "saved_30": "#1b7837", "saved_10": "#5aae61", "saved_1": "#a6dba0", "unchanged": "#f7f7f7",
            "longer_1": "#c2a5cf", "longer_10": "#762a83"}),
    ),

    Layer(
        id="response-times", order=103,
        title_vi="Thời gian tiếp cận vụ việc", title_en="Response times to incidents",
        description="Incidents by the minutes of the road trip from the commune police station in service on the "
                    "incident's day (walking legs included); the stored period is in the run's parameters. "
                    + GENERATED_ROADS_NOTE,
        source=travel_source("travel_response", "t.incident_id, t.number, t.category, t.occurred_at, t.month, "
                             "t.station_code, t.response_min, t.road_km, t.band, t.reason"),
        geometry_type="Point",
        properties=(
            Prop("number", "integer", "Số vụ việc", "Incident number"),
            terms_prop("category", "incident_categories", "Loại vụ việc", "Category"),
            Prop("occurred_at", "datetime", "Thời điểm xảy ra", "Occurred at"),
            Prop("month", "string", "Tháng", "Month"),
            Prop("station_code", "string", "Trụ sở xuất phát", "Responding station"),
            Prop("response_min", "number", "Thời gian tiếp cận (phút)", "Response (minutes)"),
            Prop("road_km", "number", "Quãng đường (km)", "Road km"),
            MINUTE_BAND_PROP,
            Prop("reason", "string", "Lý do không có số liệu", "Why no figure", filterable=False),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            *TRAVEL_RUN_PROPS,
        ),
        access=ANALYSIS_BY_COMMUNE, tables=("travel_run", "travel_response"), time_start="occurred_at", minzoom=7,
        priority="response_min DESC NULLS FIRST, id",
        style=Style(by="band", radius=3, colors={
            "m0_15": "#2c7bb6", "m15_30": "#abd9e9", "m30_60": "#ffffbf", "m60_120": "#fdae61",
            "m120_plus": "#d7191c"}),
    ),

    # A view over the stored village access run: villages beyond SITMAP_COVERAGE_UNDERSERVED_MIN (read when
    # the catalogue is imported) to the nearest station ("nearest"; then also to their own), or only to their
    # own commune's station ("own"); no figure (unreachable) counts as beyond, with its reason.
    Layer(
        id="underserved-villages", order=104,
        title_vi="Bản, thôn xa trụ sở công an", title_en="Underserved villages",
        description=f"Villages more than {UNDERSERVED_MIN:g} minutes by road from the nearest police station "
                    "(underserved_by = nearest) or only from their own commune's station (own), from the stored "
                    "village access run (`sitmap analyze refresh`); `sitmap analyze coverage` and GET "
                    "/analyses/coverage give the table and the CSV. " + GENERATED_ROADS_NOTE,
        source=travel_source("travel_access", "t.settlement_id, t.village, t.population, t.nearest_station_code, "
                             "t.nearest_station_min, t.own_station_code, t.own_station_min, t.reason, "
                             f"{UNDERSERVED_MIN:g}::float8 AS threshold_min, "
                             f"CASE WHEN coalesce(t.nearest_station_min > {UNDERSERVED_MIN:g}, true) THEN 'nearest' "
                             f"WHEN coalesce(t.own_station_min > {UNDERSERVED_MIN:g}, true) THEN 'own' "
                             "END AS underserved_by"),
        where="underserved_by IS NOT NULL",
        geometry_type="Point",
        properties=(
            Prop("village", "string", "Bản, thôn", "Village"),
            Prop("population", "integer", "Dân số", "Population"),
            Prop("underserved_by", "string", "Xa trụ sở (gần nhất / của xã)", "Beyond the limit to (nearest / own)"),
            Prop("threshold_min", "number", "Ngưỡng (phút)", "Threshold (minutes)"),
            Prop("nearest_station_code", "string", "Trụ sở gần nhất", "Nearest station"),
            Prop("nearest_station_min", "number", "Phút đến trụ sở gần nhất", "Minutes to nearest station"),
            Prop("own_station_code", "string", "Trụ sở công an xã", "Own commune station"),
            Prop("own_station_min", "number", "Phút đến trụ sở xã", "Minutes to own station"),
            Prop("reason", "string", "Lý do không có số liệu", "Why no figure", filterable=False),
            Prop("settlement_id", "integer", "Mã bản", "Village id"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            *TRAVEL_RUN_PROPS,
        ),
        access=ANALYSIS_BY_COMMUNE, tables=("travel_run", "travel_access"), minzoom=6,
        priority="population DESC, id",
        style=Style(by="underserved_by", radius=6, colors={"nearest": "#b2182b", "own": "#ef8a62"}),
    ),

    # Each scenario's last run (data/ops/scenarios.run, migration 0025): the villages whose trip to the nearest
    # station it changes; filter by scenario_id to see one scenario.
    Layer(
        id="scenario-villages", order=105,
        title_vi="Kịch bản giả định: bản, thôn thay đổi", title_en="What-if scenarios: villages that change",
        description="For each saved what-if scenario's last run (POST /scenarios/{id}/run, `sitmap analyze "
                    "scenario ID`): the villages whose trip by road to the nearest police station the scenario "
                    "changes by a minute or more, or makes unreachable or reachable, today's minutes beside the "
                    "scenario's. The live stations and roads are never changed. " + GENERATED_ROADS_NOTE,
        source="SELECT v.*, s.name AS scenario FROM scenario_village v JOIN scenario s ON s.id = v.scenario_id",
        geometry_type="Point",
        properties=(
            Prop("scenario_id", "integer", "Mã kịch bản", "Scenario id"),
            Prop("scenario", "string", "Kịch bản", "Scenario"),
            Prop("village", "string", "Bản, thôn", "Village"),
            Prop("population", "integer", "Dân số", "Population"),
            Prop("today_min", "number", "Phút đến trụ sở gần nhất (hiện nay)", "Minutes to nearest station today"),
            Prop("scenario_min", "number", "Phút đến trụ sở gần nhất (kịch bản)",
                 "Minutes to nearest station in the scenario"),
            Prop("change_min", "number", "Thay đổi (phút)", "Change (minutes)"),
            terms_prop("change_band", "trip_changes", "Mức thay đổi", "Change"),
            Prop("today_station_code", "string", "Trụ sở gần nhất (hiện nay)", "Nearest station today"),
            Prop("scenario_station_code", "string", "Trụ sở gần nhất (kịch bản)", "Nearest station in the scenario"),
            Prop("reason", "string", "Ghi chú", "Note", filterable=False),
            Prop("settlement_id", "integer", "Mã bản", "Village id"),
            Prop("unit_id", "integer", "Xã, phường", "Commune"),
            UNIT_NAME,
            *TRAVEL_RUN_PROPS,
        ),
        access=SCENARIO_PLANNERS, tables=("scenario_village",), minzoom=6,
        priority="abs(change_min) DESC NULLS FIRST, id",
        style=Style(by="change_band", radius=6, colors={
            "saved_30": "#1a9850", "saved_10": "#66bd63", "saved_1": "#a6d96a", "unchanged": "#cccccc",
            "longer_1": "#fdae61", "longer_10": "#d73027"}),
    ),
)
