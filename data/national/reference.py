"""The official July 2025 division list, read from the PyPI package ``vietnam-provinces`` (the ``bench``
extra): data/reference/ holds only Điện Biên's 45 communes, the package holds the whole country."""

from __future__ import annotations

from dataclasses import dataclass

PACKAGE_VERSION = "2025.10.1"
# division_type values of vietnam_provinces mapped to admin_unit.kind (its check constraint's vocabulary):
# a đặc khu (special zone, island) is a commune-level unit, so it is filed as a commune.
WARD_KIND = {"phường": "ward", "xã": "commune", "đặc khu": "commune"}


@dataclass(frozen=True)
class Division:
    code: str  # admin_unit.code: two digits for a province, five for a commune (as in data/reference)
    name: str
    kind: str
    province_code: str


def divisions() -> tuple[list[Division], list[Division]]:
    """(provinces, communes) in code order."""
    try:
        from vietnam_provinces import Province, Ward
    except ModuleNotFoundError as exc:  # pragma: no cover (a clear message instead of a bare import error)
        raise RuntimeError(f"data.national needs vietnam-provinces=={PACKAGE_VERSION}: "
                           "pip install -e '.[bench]' (make deps-bench)") from exc
    provinces = sorted((Division(f"{int(p.code):02d}", p.name, "province", f"{int(p.code):02d}")
                        for p in Province.iter_all()), key=lambda d: d.code)
    communes = sorted((Division(f"{int(w.code):05d}", w.name, WARD_KIND[w.division_type.value],
                                f"{int(w.province_code):02d}") for w in Ward.iter_all()), key=lambda d: d.code)
    return provinces, communes
