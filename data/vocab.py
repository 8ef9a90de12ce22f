"""Every enumerated value of the data model, declared once with its Vietnamese and English label.

The migrations turn each vocabulary into a CHECK constraint; the API validates against it and lists the
valid values in its errors; the map legend takes its labels from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    code: str
    vi: str
    en: str


def codes(terms: tuple[Term, ...]) -> list[str]:
    return [t.code for t in terms]


def rank_sql(column: str, terms: tuple[Term, ...]) -> str:
    """SQL for the position of a coded value in its vocabulary (1 = first): the tile priorities of layers/
    and the stored incident.severity_rank of data/models use this one spelling."""
    return f"array_position('{{{','.join(codes(terms))}}}'::text[], ({column})::text)"


UNIT_KINDS = (
    Term("province", "Tỉnh", "Province"),
    Term("district", "Huyện", "District"),
    Term("city", "Thành phố thuộc tỉnh", "Provincial city"),
    Term("town", "Thị xã", "District-level town"),
    Term("commune", "Xã", "Commune"),
    Term("ward", "Phường", "Ward"),
    Term("township", "Thị trấn", "Township"),
)

# Named groups of unit kinds: "the communes" of an era are its units of these kinds, "the districts" those.
COMMUNE_LEVEL_KINDS = ("commune", "ward", "township")
DISTRICT_LEVEL_KINDS = ("district", "city", "town")
assert {*COMMUNE_LEVEL_KINDS, *DISTRICT_LEVEL_KINDS} <= set(codes(UNIT_KINDS)), "unit-kind groups must be UNIT_KINDS"


def kinds_sql(column: str, kinds: tuple[str, ...]) -> str:
    """SQL condition ``column IN (...)`` for a group of vocabulary codes (trusted constants, never client input)."""
    return f"{column} IN ({', '.join(repr(k) for k in kinds)})"


STATION_KINDS = (
    Term("commune_police", "Công an xã/phường", "Commune police"),
    Term("district_police", "Công an huyện", "District police"),
    Term("provincial_unit", "Đơn vị Công an tỉnh", "Provincial police unit"),
    Term("border_post", "Đồn biên phòng", "Border guard post"),
)

HQ_STATUSES = (
    Term("independent", "Trụ sở độc lập", "Independent headquarters"),
    Term("shared", "Làm việc chung trụ sở UBND", "Shared with People's Committee"),
    Term("under_construction", "Đang xây dựng", "Under construction"),
    Term("planned", "Đã quy hoạch", "Planned"),
)

ROAD_CLASSES = (
    Term("national", "Quốc lộ", "National road"),
    Term("provincial", "Đường tỉnh", "Provincial road"),
    Term("commune", "Đường xã", "Commune road"),
    Term("village_track", "Đường bản", "Village track"),
    Term("footpath", "Đường mòn", "Footpath"),
)

SETTLEMENT_KINDS = (
    Term("ban", "Bản", "Village (bản)"),
    Term("thon", "Thôn", "Hamlet (thôn)"),
    Term("to_dan_pho", "Tổ dân phố", "Urban residential group"),
    Term("town", "Thị tứ", "Town centre"),
)

PATROL_POINT_KINDS = (
    Term("checkpoint", "Chốt kiểm tra", "Checkpoint"),
    Term("tip_mailbox", "Hòm thư tố giác tội phạm", "Crime tip-off mailbox"),
    Term("self_governing_model", "Điểm mô hình tự quản", "Self-governing security model point"),
)

# Named daily patrol shifts (Asia/Ho_Chi_Minh): a patrol schedule may ask for a visit in each of its shifts.
PATROL_SHIFTS = (
    Term("morning", "Ca sáng (06:00–14:00)", "Morning shift (06:00–14:00)"),
    Term("afternoon", "Ca chiều (14:00–22:00)", "Afternoon shift (14:00–22:00)"),
    Term("night", "Ca đêm (22:00–06:00)", "Night shift (22:00–06:00)"),
)
# Start and end hour of each shift, local time; an end below its start runs past midnight.
PATROL_SHIFT_HOURS: dict[str, tuple[int, int]] = {"morning": (6, 14), "afternoon": (14, 22), "night": (22, 6)}
assert set(PATROL_SHIFT_HOURS) == set(codes(PATROL_SHIFTS)), "every patrol shift needs its hours"

INCIDENT_CATEGORIES = (
    Term("drugs", "Ma túy", "Drugs"),
    Term("theft", "Trộm cắp tài sản", "Theft"),
    Term("human_trafficking", "Mua bán người", "Human trafficking"),
    Term("illegal_border_crossing", "Xuất nhập cảnh trái phép", "Illegal border crossing"),
    Term("weapons_explosives", "Vũ khí, vật liệu nổ", "Weapons and explosives"),
    Term("illegal_religion", "Hoạt động tôn giáo trái phép", "Illegal religious activity"),
    Term("high_tech_fraud", "Lừa đảo công nghệ cao", "High-tech fraud"),
    Term("public_order", "Trật tự công cộng", "Public order"),
    Term("traffic", "Giao thông", "Traffic"),
    Term("other", "Khác", "Other"),
)

# Ordered from least to most serious: the order is the tile-capping priority.
INCIDENT_SEVERITIES = (
    Term("administrative", "Vi phạm hành chính", "Administrative violation"),
    Term("less_serious", "Tội phạm ít nghiêm trọng", "Less serious crime"),
    Term("serious", "Tội phạm nghiêm trọng", "Serious crime"),
    Term("very_serious", "Tội phạm rất nghiêm trọng", "Very serious crime"),
    Term("particularly_serious", "Tội phạm đặc biệt nghiêm trọng", "Particularly serious crime"),
)

INCIDENT_SOURCES = (
    Term("officer", "Cán bộ phát hiện", "Officer"),
    Term("tip_mailbox", "Hòm thư tố giác", "Tip-off mailbox"),
    Term("hotline", "Đường dây nóng", "Hotline"),
    Term("import", "Nhập từ tệp hồ sơ", "Imported from a file of past cases"),
)

INCIDENT_STATUSES = (
    Term("new", "Mới", "New"),
    Term("assigned", "Đã giao", "Assigned"),
    Term("in_progress", "Đang xử lý", "In progress"),
    Term("transferred", "Chuyển Công an tỉnh", "Transferred to the province"),
    Term("closed", "Đã kết thúc", "Closed"),
)

DESIGNATION_KINDS = (
    Term("key_complex", "Địa bàn trọng điểm, phức tạp về ANTT", "Key and complex security area"),
    Term("drug_key", "Địa bàn trọng điểm về ma túy", "Drug key area"),
    Term("safe_standard", "Đạt tiêu chuẩn an toàn về ANTT", "Safe locality"),
    Term("transformed", "Đã chuyển hóa", "Transformed area"),
)

DESIGNATION_STATUSES = (
    Term("proposed", "Đề xuất", "Proposed"),
    Term("approved", "Đã phê duyệt", "Approved"),
    Term("rejected", "Không phê duyệt", "Rejected"),
    Term("revoked", "Đã hủy bỏ", "Revoked"),
)

# Where a designation came from: a rule of geo/designation, a planner's proposal, or a decision the
# province took before sitmap (the demo's 2025 designations).
DESIGNATION_ORIGINS = (
    Term("rule", "Đề xuất theo tiêu chí", "Proposed by a rule"),
    Term("planner", "Cán bộ tham mưu đề xuất", "Proposed by a planner"),
    Term("historical", "Quyết định trước đây", "Earlier decision"),
)

# Why a road is closed (road_closure.reason): the travel analyses close the edges near it while it is in force.
CLOSURE_REASONS = (
    Term("landslide", "Sạt lở đất", "Landslide"),
    Term("flood", "Ngập lụt, lũ", "Flood"),
    Term("works", "Thi công, sửa chữa", "Road works"),
    Term("accident", "Tai nạn", "Accident"),
    Term("security", "Phong tỏa bảo đảm an ninh", "Security cordon"),
    Term("other", "Lý do khác", "Other"),
)

# Notifications (data/ops/alert_rules.py): what a rule watches, who hears of it, and a webhook's delivery state.
ALERT_TRIGGERS = (
    Term("incident", "Vụ việc mới hoặc thay đổi mức độ", "New incident or a change of its severity/category"),
    Term("patrol_overdue", "Điểm tuần tra quá hạn", "Patrol point overdue"),
)
ALERT_RECIPIENTS = (
    Term("commune_chief", "Chỉ huy Công an xã", "Commune chief (commander of the commune)"),
    Term("province_commander", "Chỉ huy trực ban Công an tỉnh", "Province duty commander"),
    Term("admin", "Quản trị", "Administrators"),
)
WEBHOOK_STATUSES = (
    Term("pending", "Đang chờ gửi", "Pending"),
    Term("delivered", "Đã gửi", "Delivered"),
    Term("failed", "Gửi không thành công", "Failed"),
)

SERVICE_AGENCIES = (
    Term("peoples_committee", "UBND xã", "Commune People's Committee"),
    Term("police", "Công an xã", "Commune police"),
)

ROLES = (
    Term("admin", "Quản trị", "Administrator"),
    Term("commander", "Chỉ huy", "Commander"),
    Term("planner", "Cán bộ tham mưu", "Planner"),
    Term("officer", "Cán bộ chiến sĩ", "Officer"),
)

HOTSPOT_CLASSES = (
    Term("hot_99", "Điểm nóng (99%)", "Hot spot, 99 % confidence"),
    Term("hot_95", "Điểm nóng (95%)", "Hot spot, 95 % confidence"),
    Term("hot_90", "Điểm nóng (90%)", "Hot spot, 90 % confidence"),
    Term("not_significant", "Không đáng kể", "Not significant"),
    Term("cold_90", "Điểm lạnh (90%)", "Cold spot, 90 % confidence"),
    Term("cold_95", "Điểm lạnh (95%)", "Cold spot, 95 % confidence"),
    Term("cold_99", "Điểm lạnh (99%)", "Cold spot, 99 % confidence"),
    Term("insufficient", "Không đủ dữ liệu để kiểm định", "Too few data to test"),
)

# Emerging hot-spot patterns, as ArcGIS's Emerging Hot Spot Analysis defines them (geo/hotspots/emerging.py
# spells out each rule); the cold patterns mirror the hot ones.
EMERGING_PATTERNS = (
    Term("new_hot", "Điểm nóng mới", "New hot spot"),
    Term("consecutive_hot", "Điểm nóng liên tiếp", "Consecutive hot spot"),
    Term("intensifying_hot", "Điểm nóng gia tăng", "Intensifying hot spot"),
    Term("persistent_hot", "Điểm nóng dai dẳng", "Persistent hot spot"),
    Term("diminishing_hot", "Điểm nóng suy giảm", "Diminishing hot spot"),
    Term("sporadic_hot", "Điểm nóng rời rạc", "Sporadic hot spot"),
    Term("oscillating_hot", "Điểm nóng dao động", "Oscillating hot spot"),
    Term("historical_hot", "Điểm nóng trước đây", "Historical hot spot"),
    Term("new_cold", "Điểm lạnh mới", "New cold spot"),
    Term("consecutive_cold", "Điểm lạnh liên tiếp", "Consecutive cold spot"),
    Term("intensifying_cold", "Điểm lạnh gia tăng", "Intensifying cold spot"),
    Term("persistent_cold", "Điểm lạnh dai dẳng", "Persistent cold spot"),
    Term("diminishing_cold", "Điểm lạnh suy giảm", "Diminishing cold spot"),
    Term("sporadic_cold", "Điểm lạnh rời rạc", "Sporadic cold spot"),
    Term("oscillating_cold", "Điểm lạnh dao động", "Oscillating cold spot"),
    Term("historical_cold", "Điểm lạnh trước đây", "Historical cold spot"),
    Term("no_pattern", "Không có xu hướng", "No pattern detected"),
)

# What a hot-spot run computed: Gi* over one window, or the emerging patterns of monthly slices.
HOTSPOT_ANALYSES = (
    Term("gi_star", "Điểm nóng (Gi*)", "Hot spots (Gi*)"),
    Term("emerging", "Điểm nóng theo thời gian", "Emerging hot spots"),
)

# The cells of a hot-spot run: a hexagonal grid, or the 2025 communes.
HOTSPOT_CELLS = (
    Term("hex", "Lưới lục giác", "Hexagonal grid"),
    Term("commune", "Xã, phường", "Communes"),
)

# The stored travel analyses (data/ops/travel_results.py): one stored run of each.
TRAVEL_ANALYSES = (
    Term("access", "Thời gian đến trụ sở", "Village access"),
    Term("isochrones", "Vùng tiếp cận theo thời gian", "Isochrones"),
    Term("savings", "Thời gian tiết kiệm sau sắp xếp", "Reorganisation savings"),
    Term("responses", "Thời gian tiếp cận vụ việc", "Response times"),
)

# Bands of a trip's minutes: band i holds minutes below MINUTE_BAND_LIMITS[i] (the last, everything above).
MINUTE_BANDS = (
    Term("m0_15", "Dưới 15 phút", "Under 15 min"),
    Term("m15_30", "15–30 phút", "15–30 min"),
    Term("m30_60", "30–60 phút", "30–60 min"),
    Term("m60_120", "1–2 giờ", "1–2 hours"),
    Term("m120_plus", "Trên 2 giờ", "Over 2 hours"),
)
MINUTE_BAND_LIMITS: tuple[float, ...] = (15, 30, 60, 120)

# Bands of a signed change of a trip in minutes (later minus earlier; negative = time saved): band i holds
# changes below TRIP_CHANGE_LIMITS[i]; "unchanged" is from 1 minute shorter to under 1 minute longer.
TRIP_CHANGES = (
    Term("saved_30", "Giảm hơn 30 phút", "Over 30 min shorter"),
    Term("saved_10", "Giảm 10–30 phút", "10–30 min shorter"),
    Term("saved_1", "Giảm 1–10 phút", "1–10 min shorter"),
    Term("unchanged", "Không đổi (±1 phút)", "Unchanged (within 1 min)"),
    Term("longer_1", "Tăng 1–10 phút", "1–10 min longer"),
    Term("longer_10", "Tăng từ 10 phút", "10 min or more longer"),
)
TRIP_CHANGE_LIMITS: tuple[float, ...] = (-30, -10, -1, 1, 10)


def band_of(value: float | None, terms: tuple[Term, ...], limits: tuple[float, ...]) -> str | None:
    """The code of the band of ``value`` (bands as MINUTE_BANDS/MINUTE_BAND_LIMITS); None for no value."""
    if value is None or value != value:  # NaN: no figure, no band
        return None
    return next((t.code for t, lim in zip(terms, limits, strict=False) if value < lim), terms[-1].code)

# Every vocabulary by the name the API and the web pages know it by (a layer property names its vocabulary,
# the pages label values from these). Adding a vocabulary is adding it above and here.
VOCABULARIES: dict[str, tuple[Term, ...]] = {
    "unit_kinds": UNIT_KINDS,
    "station_kinds": STATION_KINDS,
    "hq_statuses": HQ_STATUSES,
    "road_classes": ROAD_CLASSES,
    "settlement_kinds": SETTLEMENT_KINDS,
    "patrol_point_kinds": PATROL_POINT_KINDS,
    "patrol_shifts": PATROL_SHIFTS,
    "incident_categories": INCIDENT_CATEGORIES,
    "incident_severities": INCIDENT_SEVERITIES,
    "incident_sources": INCIDENT_SOURCES,
    "incident_statuses": INCIDENT_STATUSES,
    "designation_kinds": DESIGNATION_KINDS,
    "designation_statuses": DESIGNATION_STATUSES,
    "designation_origins": DESIGNATION_ORIGINS,
    "service_agencies": SERVICE_AGENCIES,
    "closure_reasons": CLOSURE_REASONS,
    "alert_triggers": ALERT_TRIGGERS,
    "alert_recipients": ALERT_RECIPIENTS,
    "webhook_statuses": WEBHOOK_STATUSES,
    "roles": ROLES,
    "hotspot_classes": HOTSPOT_CLASSES,
    "emerging_patterns": EMERGING_PATTERNS,
    "hotspot_analyses": HOTSPOT_ANALYSES,
    "hotspot_cells": HOTSPOT_CELLS,
    "travel_analyses": TRAVEL_ANALYSES,
    "minute_bands": MINUTE_BANDS,
    "trip_changes": TRIP_CHANGES,
}


def labels(name: str) -> dict[str, dict[str, str]]:
    """A vocabulary as {code: {vi, en}} (what the pages label values with)."""
    return {t.code: {"vi": t.vi, "en": t.en} for t in VOCABULARIES[name]}
