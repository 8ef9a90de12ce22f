"""Every string a person sees on the map, the phone form and the briefing, in Vietnamese and English.

Vocabulary labels (categories, severities, statuses, kinds) are not repeated here: they come from
``data.vocab.VOCABULARIES`` and are handed to the browser alongside these strings, in the page's config.
"""

from __future__ import annotations

from typing import Any

from data import vocab

DEFAULT_LANG = "vi"
LANGS = ("vi", "en")

STRINGS: dict[str, tuple[str, str]] = {
    "app_title": ("Bản đồ tình hình an ninh trật tự", "Security situation map"),
    "phone_title": ("Báo cáo hiện trường", "Field report"),
    "lang_switch": ("English", "Tiếng Việt"),
    "sign_in": ("Đăng nhập", "Sign in"),
    "sign_out": ("Đăng xuất", "Sign out"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "signed_in_as": ("Đăng nhập:", "Signed in:"),
    "not_signed_in": ("Chưa đăng nhập — chỉ xem lớp công khai", "Not signed in — public layers only"),
    "login_failed": ("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password"),
    # One's own account (web/static/sitmap/account.js): the change-password form, forced at first sign-in.
    "change_password": ("Đổi mật khẩu", "Change password"),
    "password_change_required": ("Tài khoản phải đổi mật khẩu trước khi sử dụng bản đồ.",
                                 "This account must change its password before using the map."),
    "current_password": ("Mật khẩu hiện tại", "Current password"),
    "new_password": ("Mật khẩu mới", "New password"),
    "confirm_password": ("Nhập lại mật khẩu mới", "Repeat the new password"),
    "password_rule": ("Ít nhất {n} ký tự, khác mật khẩu hiện tại", "At least {n} characters, not the current one"),
    "password_mismatch": ("Hai lần nhập mật khẩu mới không khớp", "The two new passwords differ"),
    "password_too_short": ("Mật khẩu mới phải có ít nhất {n} ký tự", "The new password needs at least {n} characters"),
    "password_same": ("Mật khẩu mới phải khác mật khẩu hiện tại", "The new password must differ from the current one"),
    "wrong_current_password": ("Mật khẩu hiện tại không đúng", "The current password is wrong"),
    "too_many_attempts": ("Quá nhiều lần sai; thử lại sau {n} giây", "Too many wrong attempts; try again in {n} s"),
    "password_changed": ("Đã đổi mật khẩu", "Password changed"),
    "save": ("Lưu", "Save"),
    "cancel": ("Hủy", "Cancel"),
    "layers": ("Lớp bản đồ", "Layers"),
    "legend": ("Chú giải", "Legend"),
    "time_filter": ("Thời gian", "Time"),
    "last_24h": ("24 giờ qua", "Last 24 hours"),
    "last_7d": ("7 ngày qua", "Last 7 days"),
    "last_30d": ("30 ngày qua", "Last 30 days"),
    "all_time": ("Toàn bộ", "All time"),
    "custom": ("Tùy chọn", "Custom"),
    "from": ("Từ", "From"),
    "to": ("Đến", "To"),
    "apply": ("Áp dụng", "Apply"),
    "search_units": ("Tìm đơn vị hành chính…", "Find an administrative unit…"),
    "no_results": ("Không tìm thấy", "Nothing found"),
    "former_unit": ("Đơn vị cũ (trước 07/2025)", "Former unit (before 07/2025)"),
    "became": ("Nay thuộc", "Now part of"),
    "variant": ("Cách viết khác", "Other spelling"),
    "coords": ("Tọa độ", "Coordinates"),
    "live_on": ("Trực tuyến", "Live"),
    "live_off": ("Mất kết nối — đang kết nối lại", "Disconnected — reconnecting"),
    "new_incident": ("Vụ việc mới", "New incident"),
    "checkin": ("Điểm danh tuần tra", "Patrol check-in"),
    "status_change": ("Thay đổi trạng thái", "Status change"),
    "load_error": ("Không tải được dữ liệu", "Could not load data"),
    "category": ("Loại vụ việc", "Category"),
    "severity": ("Mức độ", "Severity"),
    "status": ("Trạng thái", "Status"),
    "occurred_at": ("Thời điểm xảy ra", "Occurred at"),
    "reported_at": ("Thời điểm báo cáo", "Reported at"),
    "description": ("Mô tả", "Description"),
    "accuracy": ("Sai số GPS", "GPS accuracy"),
    "position": ("Vị trí", "Position"),
    "use_gps": ("Lấy vị trí GPS", "Use GPS position"),
    "tap_map": ("Hoặc chạm vào bản đồ để chọn vị trí", "Or tap the map to set the position"),
    "gps_waiting": ("Đang lấy vị trí…", "Getting position…"),
    "gps_failed": ("Không lấy được vị trí GPS — hãy chạm vào bản đồ", "No GPS position — tap the map"),
    "no_position": ("Chưa có vị trí", "No position yet"),
    "send": ("Gửi báo cáo", "Send report"),
    "sent": ("Đã gửi", "Sent"),
    "number_short": ("số", "no."),
    "queued": ("Đang chờ gửi (ngoại tuyến)", "Queued (offline)"),
    "queue_count": ("Báo cáo chờ gửi", "Reports waiting"),
    "online": ("Có mạng", "Online"),
    "offline": ("Mất mạng", "Offline"),
    "rejected": ("Bị từ chối", "Rejected"),
    "patrol_point": ("Điểm tuần tra", "Patrol point"),
    "check_in": ("Điểm danh", "Check in"),
    "checked_in": ("Đã điểm danh", "Checked in"),
    "nearest_points": ("Điểm tuần tra gần nhất", "Nearest patrol points"),
    # The officer's route of the day on the phone (web/static/sitmap/phone.js, GET /me/patrol-route).
    "route_today": ("Lộ trình tuần tra hôm nay", "My patrol route today"),
    "route_empty": ("Hôm nay không có điểm tuần tra được giao", "No patrol points assigned to you today"),
    "route_team": ("Tổ", "Team"),
    "route_due": ("Hạn", "Due"),
    "route_last": ("Lần gần nhất", "Last visit"),
    "route_never": ("chưa có", "none"),
    "route_every": ("mỗi {n} giờ", "every {n} h"),
    "route_overdue": ("Quá hạn", "Overdue"),
    "route_due_today": ("Cần tuần tra", "Due today"),
    "route_done": ("Đã tuần tra", "Done"),
    "window_visited": ("đã đến", "visited"),
    "window_missed": ("bỏ lỡ", "missed"),
    "window_open": ("đang diễn ra", "now"),
    "window_upcoming": ("sắp tới", "upcoming"),
    "cached_for_offline": ("Đã lưu bản đồ để dùng ngoại tuyến", "Map saved for offline use"),
    "sign_in_needed": ("Cần đăng nhập để gửi báo cáo", "Sign in to send reports"),
    "required": ("Bắt buộc", "Required"),
    "open_map": ("Bản đồ chỉ huy", "Commanders' map"),
    "open_phone": ("Báo cáo hiện trường", "Field report"),
    # The notification inbox (web/static/sitmap/notifications.js).
    "inbox_title": ("Thông báo", "Notifications"),
    "inbox_mark_all": ("Đánh dấu tất cả đã đọc", "Mark all read"),
    "inbox_empty": ("Không có thông báo", "No notifications"),
    "inbox_unread": ("chưa đọc", "unread"),
    "inbox_read": ("đã đọc", "read"),
    "inbox_new": ("Thông báo mới", "New notification"),
    "inbox_failed": ("Không tải được thông báo", "Could not load the notifications"),
    "inbox_overdue_point": ("Điểm tuần tra quá hạn", "Patrol point overdue"),
    "inbox_never_visited": ("chưa từng kiểm tra", "never visited"),
    # Briefing
    "briefing_title": ("Bản đồ báo cáo tình hình", "Situation briefing map"),
    "security_marking": ("MẬT — Lưu hành nội bộ", "CONFIDENTIAL — Internal circulation only"),
    "printed_at": ("Ngày in", "Printed"),
    "period": ("Kỳ báo cáo", "Period"),
    "summary": ("Tổng hợp", "Summary"),
    "incidents_by_category_month": ("Vụ việc theo loại và tháng", "Incidents by category and month"),
    "total": ("Tổng", "Total"),
    "patrol_visits": ("Lượt tuần tra", "Patrol visits"),
    "hq_status": ("Trụ sở công an", "Police headquarters"),
    "service_figures": ("Thủ tục hành chính", "Administrative procedures"),
    "population": ("Dân số", "Population"),
    "area": ("Diện tích (km²)", "Area (km²)"),
    "villages": ("Thôn, bản", "Villages"),
    "stations": ("Trụ sở", "Stations"),
    "officers": ("Cán bộ", "Officers"),
    "received": ("Tiếp nhận", "Received"),
    "online_dossiers": ("Trực tuyến", "Online"),
    "on_time": ("Đúng hạn", "On time"),
    "overdue": ("Quá hạn", "Overdue"),
    "north": ("B", "N"),
    "points": ("điểm", "points"),
    "visits": ("lượt", "visits"),
    "none": ("Không có", "None"),
    # Key-area designations in the commune popup (web/static/sitmap/designations.js)
    "designations": ("Địa bàn trọng điểm", "Key-area designations"),
    "no_designations": ("Chưa có đề xuất hay quyết định nào", "No proposal or decision yet"),
    "designations_outside": ("Ngoài địa bàn được phân công", "Outside your communes"),
    "in_force": ("đang có hiệu lực", "in force"),
    "why": ("Căn cứ", "Why"),
    "rule": ("Tiêu chí", "Rule"),
    "statistic": ("Chỉ số", "Statistic"),
    "value": ("Giá trị", "Value"),
    "threshold": ("Ngưỡng", "Threshold"),
    "result": ("Kết quả", "Result"),
    "met": ("Đạt", "Met"),
    "not_met": ("Không đạt", "Not met"),
    "not_evaluated": ("Chưa đánh giá", "Not evaluated"),
    "quantile": ("phân vị", "quantile"),
    "window": ("Thời kỳ số liệu", "Data window"),
    "hotspot_run": ("Lần phân tích điểm nóng", "Hot-spot run"),
    "no_hotspot_run": ("Chưa có lần phân tích điểm nóng", "No hot-spot run"),
    "incidents_generated_note": ("Số liệu tính trên vụ việc giả lập (dữ liệu mẫu), không phải kết quả thực tế",
                                 "Computed on generated incidents (demo data), not a finding"),
    "proposed_by": ("Đề xuất", "Proposed"),
    "decided_by": ("Quyết định", "Decided"),
    "revoked_by": ("Hủy bỏ", "Revoked"),
    "by": ("bởi", "by"),
    "valid": ("Hiệu lực", "Valid"),
    "open_ended": ("chưa xác định", "open-ended"),
    "designation_change": ("Địa bàn trọng điểm", "Key-area designation"),
    "coverage_curve": ("Độ phủ của trụ sở công an", "Station coverage"),
    "coverage_close": ("Đóng", "Close"),
    "coverage_loading": ("Đang tính độ phủ…", "Computing the coverage…"),
    "coverage_failed": ("Không tính được độ phủ", "The coverage could not be computed"),
    "coverage_table_csv": ("Bảng theo xã (CSV)", "Table by commune (CSV)"),
    "coverage_underserved_csv": ("Bản, thôn xa trụ sở (CSV)", "Underserved villages (CSV)"),
    "coverage_briefing": ("Tỷ lệ dân số trong tầm tiếp cận đồn công an",
                          "Share of the population within reach of a police station"),
    # The situation panel (web/static/sitmap/situation.js) and its block in the briefing (web/briefing.py).
    "situation": ("Tình hình", "Situation"),
    "situation_title": ("Tình hình trong địa bàn", "Situation in your area"),
    "situation_loading": ("Đang tải tình hình…", "Loading the situation…"),
    "situation_failed": ("Không tải được tình hình", "The situation could not be loaded"),
    "situation_as_of": ("Tính đến", "As of"),
    "situation_incidents": ("Vụ việc theo loại và mức độ", "Incidents by category and severity"),
    "situation_24h": ("24 giờ qua", "Last 24 h"),
    "situation_7d": ("7 ngày qua", "Last 7 days"),
    "situation_window": ("Khoảng thời gian đã chọn", "Selected period"),
    "situation_year_before": ("Cùng kỳ năm trước", "Same period a year before"),
    "situation_change": ("Tăng/giảm", "Change"),
    "situation_open": ("Vụ việc chưa kết thúc", "Open incidents"),
    "situation_age": ("Thời gian tồn đọng", "Age"),
    "situation_age_lt_24h": ("Dưới 24 giờ", "Under 24 h"),
    "situation_age_d1_3": ("1–3 ngày", "1–3 days"),
    "situation_age_d3_7": ("3–7 ngày", "3–7 days"),
    "situation_age_gt_7d": ("Trên 7 ngày", "Over 7 days"),
    "situation_stale": ("Đã giao nhưng chưa xử lý quá {h} giờ", "Assigned, untouched for over {h} h"),
    "situation_idle": ("giờ chưa xử lý", "h untouched"),
    "situation_patrols": ("Điểm tuần tra quá hạn theo xã", "Overdue patrol points by commune"),
    "situation_never_visited": ("Chưa từng kiểm tra", "Never visited"),
    "situation_points": ("Số điểm", "Points"),
    "situation_stations": ("Trụ sở theo tình trạng", "Headquarters by status"),
    "situation_station_changes": ("Thay đổi tình trạng trụ sở (7 ngày)", "Headquarters status changes (7 days)"),
    "situation_serious": ("Vụ việc nghiêm trọng mới nhất", "Latest serious incidents"),
    "situation_commune": ("Xã, phường", "Commune"),
    "situation_count": ("Số vụ", "Count"),
    "situation_total": ("Tổng", "Total"),
    "situation_none": ("Không có", "None"),
    # Short headings of the severities (data/vocab.py INCIDENT_SEVERITIES), the full label in their tooltip.
    "situation_sev_administrative": ("VPHC", "Admin."),
    "situation_sev_less_serious": ("Ít NT", "Less"),
    "situation_sev_serious": ("NT", "Serious"),
    "situation_sev_very_serious": ("Rất NT", "Very"),
    "situation_sev_particularly_serious": ("ĐBNT", "Partic."),
}


def strings(lang: str) -> dict[str, str]:
    i = LANGS.index(lang) if lang in LANGS else 0
    return {k: v[i] for k, v in STRINGS.items()}


def vocab_labels() -> dict[str, dict[str, dict[str, str]]]:
    """Every vocabulary as {vocabulary name: {code: {vi, en}}}: the one way the pages get value labels (the
    map finds a property's vocabulary by the name /layers gives it; the phone form fills its choices)."""
    return {name: vocab.labels(name) for name in vocab.VOCABULARIES}


def label(terms: tuple[vocab.Term, ...], code: str | None, lang: str) -> str:
    for t in terms:
        if t.code == code:
            return t.vi if lang == "vi" else t.en
    return code or ""


def bundle() -> dict[str, Any]:
    """What the browser needs to translate every string: {strings: {vi: {...}, en: {...}}, vocab: {...}}."""
    return {"strings": {lang: strings(lang) for lang in LANGS}, "vocab": vocab_labels(), "default": DEFAULT_LANG}
