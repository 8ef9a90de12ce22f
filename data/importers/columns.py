"""The column vocabulary: for every importer field, the source column names a file may use for it.

Declared once, here. Names match after folding (data.text.fold: case and diacritics) and dropping everything
but letters and digits, so 'MA_XA', 'ma_xa', 'Mã xã', 'MaXa' and 'ma xa' are one name. Before an importer
reads a file, ``resolve`` renames each recognised column to its field (the first name of its entry), so the
importers see only field names. ``--columns field=COLUMN`` maps any other column and overrides the vocabulary.
"""

from __future__ import annotations

import re

from data.importers.reading import FileRejected, Source
from data.importers.report import ImportReport
from data.text import fold

_UNIT_CODE = ("unit_code", "commune_code", "ma_xa", "ma_dvhc", "maxa")

# kind -> field -> recognised source names (the field's own name is always recognised).
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "communes": {
        "code": ("ma", "ma_xa", "ma_dvhc", "unit_code", "ma_phuong", "ma_don_vi"),
        "name": ("ten", "ten_xa", "ten_dvhc", "ten_phuong", "ten_don_vi"),
        "kind": ("loai", "cap", "loai_dvhc"),
        "parent_code": ("ma_cha",),
        "district_code": ("ma_huyen", "ma_qh", "ma_quan_huyen"),
        "district_name": ("ten_huyen", "ten_qh", "ten_quan_huyen"),
        "province_code": ("ma_tinh", "ma_tp", "ma_tinh_tp"),
        "province_name": ("ten_tinh", "ten_tinh_tp"),
        "population": ("dan_so", "so_dan", "ds"),
        "households": ("ho", "so_ho"),
        "area_km2": ("area", "dien_tich", "dt_km2", "dien_tich_km2"),
        "admin_centre": ("tru_so",),
        "valid_from": ("hieu_luc_tu",),
        "valid_to": ("hieu_luc_den",),
        "source": ("nguon",),
    },
    "villages": {
        "name": ("ten", "ten_thon", "ten_ban", "ten_ban_thon", "ten_to_dan_pho", "ten_diem_dan_cu"),
        "kind": ("loai",),
        "population": ("dan_so", "danso", "so_dan"),
        "geonameid": (),
        "unit_code": _UNIT_CODE[1:],
    },
    "stations": {
        "code": ("ma", "ma_tram", "ma_don_vi", "ma_ca"),
        "name": ("ten", "ten_tram", "ten_don_vi"),
        "kind": ("loai",),
        "hq_status": ("status", "tru_so", "tinh_trang_tru_so"),
        "officers": ("can_bo", "so_can_bo", "quan_so"),
        "services": ("dich_vu",),
        "contact": ("lien_he", "phone", "dien_thoai", "sdt"),
        "valid_from": (),
        "valid_to": (),
        "unit_code": _UNIT_CODE[1:],
    },
    "patrol-points": {
        "name": ("ten", "ten_diem", "ten_chot"),
        "kind": ("loai",),
        "visit_interval_hours": ("interval_hours", "visit_interval", "chu_ky_gio", "chu_ky"),
        "station_code": ("ma_tram", "ma_ca"),
        "model_name": ("mo_hinh",),
        "unit_code": _UNIT_CODE[1:],
    },
    "incidents": {
        "case_number": ("so_vu", "ma_vu", "so_ho_so", "case_no", "case_id", "so_vu_viec", "ma_vu_viec"),
        "category": ("loai", "loai_vu_viec", "nhom", "linh_vuc"),
        "severity": ("muc_do", "tinh_chat"),
        "occurred_at": ("thoi_gian", "thoi_diem", "ngay_xay_ra", "thoi_gian_xay_ra", "ngay_gio"),
        "status": ("trang_thai", "tinh_trang"),
        "description": ("mo_ta", "noi_dung", "tom_tat"),
        "reporter_name": ("reporter", "nguoi_bao", "nguoi_trinh_bao", "nguoi_to_giac"),
        "unit_code": _UNIT_CODE[1:],
    },
    "roads": {
        "road_class": ("class", "loai_duong", "cap_duong"),
        "highway": (),
        "ref": ("so_hieu", "so_hieu_duong"),
        "name": ("ten", "ten_duong"),
        "speed_kmh": ("speed", "toc_do"),
        "maxspeed": ("max_speed", "toc_do_toi_da"),
        "oneway": ("mot_chieu",),
        "junction": (),
        "slope_factor": (),
        "incline": ("grade_pct", "do_doc"),
        "osm_id": (),
    },
}


def key(name: str) -> str:
    """The form names are compared in: 'Mã xã' -> 'maxa'."""
    return re.sub(r"[^a-z0-9]", "", fold(str(name)))


def parse_mapping(text: str | None) -> dict[str, str]:
    """'code=MA_XA,name=TEN_XA' -> {'code': 'MA_XA', 'name': 'TEN_XA'}; ValueError says what is wrong."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        target, sep, column = part.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise ValueError(f"'{part.strip()}' is not field=COLUMN (e.g. code=MA_XA,name=TEN_XA)")
        out[target.strip()] = column.strip()
    return out


def resolve(source: Source, kind: str, report: ImportReport, mapping: dict[str, str] | None = None) -> None:
    """Rename the file's columns to field names; an explicit ``mapping`` (field -> column) wins. Unknown target
    fields, missing source columns and two columns meaning one field are file rejections."""
    fields = FIELDS.get(kind)
    if fields is None:
        return
    mapping = mapping or {}
    frame = source.frame
    # Columns carrying the coordinates of a CSV stay as they are: the reader's geometry names them.
    columns = [str(c) for c in frame.columns if c != "geometry" and c not in (source.lon_field, source.lat_field)]
    bad = False
    for target, col in mapping.items():
        if target not in fields:
            report.reject(None, target, f"--columns names unknown field '{target}' for {kind}; valid fields: "
                                        f"{', '.join(fields)}")
            bad = True
        if col not in columns:
            exact = {c.casefold(): c for c in columns}.get(col.casefold())
            if exact:
                mapping[target] = exact
            else:
                report.reject(None, target, f"--columns maps '{target}' to column '{col}', which the file does not "
                                            f"have; its columns are: {', '.join(columns) or 'none'}")
                bad = True
    if bad:
        raise FileRejected
    explicit = {col: target for target, col in mapping.items()}
    names = {}
    for target, aliases in fields.items():
        for alias in (target, *aliases):
            names.setdefault(key(alias), target)
            if source.format == "Shapefile" and len(alias) > 10:
                names.setdefault(key(alias[:10]), target)  # dBase cuts field names to 10 characters
    found: dict[str, list[str]] = {}
    for col in columns:
        target = explicit.get(col) or names.get(key(col))
        if target is not None and (col in explicit or target not in mapping):
            found.setdefault(target, []).append(col)
    renames: dict[str, str] = {}
    for target, cols in found.items():
        if len(cols) > 1:
            report.reject(None, target, f"columns {' and '.join(repr(c) for c in cols)} both mean '{target}': "
                                        f"remove one, or choose with --columns {target}={cols[0]}")
            bad = True
        else:
            renames[cols[0]] = target
    if bad:
        raise FileRejected
    # A column that would be shadowed by a rename (its own name is a field another column now takes) is set aside.
    taken = set(renames.values())
    for col in columns:
        if col not in renames and col in taken:
            renames[col] = f"{col} (not used)"
    source.frame = frame.rename(columns=renames)
    report.columns = {target: col for col, target in renames.items() if target in fields}
    mapped = [f"{col} → {target}" for col, target in renames.items() if target in fields and col != target]
    if mapped:
        report.notes.append("columns recognised: " + ", ".join(mapped))
