"""Generated village names: plausible Thái, H'Mông and Kinh place names of the north-western uplands.

The syllables are common elements of real village names in the region (``Huổi`` stream, ``Nà`` rice field,
``Pá`` forest, ``Phiêng`` flat land, ``Háng`` valley, ...). The generated names are labelled as generated in
the database; they are not claimed to exist.
"""

from __future__ import annotations

import numpy as np

from data.text import fold

# Thái first elements (landscape words) and second elements.
THAI_FIRST = ("Huổi", "Nậm", "Nà", "Pá", "Phiêng", "Co", "Hua", "Noong", "Na", "Pom", "Xôm", "Kéo", "Hin",
              "Púng", "Tà", "Bó", "Khá", "Lọng", "Sái", "Ten", "Pắc", "Mường")
THAI_SECOND = ("Lếch", "Cáy", "Ban", "Hẹ", "Lay", "Nưa", "Cang", "Tấu", "Hỏm", "Phăng", "Xa", "Lót", "Thín",
               "Sáy", "Chuông", "Mển", "Tâu", "Puôn", "Luông", "Đán", "Hốc", "Mạ", "Khoang", "Bon", "Pục",
               "Ỏ", "Sản", "Lịch", "Noọng", "Chả", "Piềng", "Vai", "Nghịu", "Khiêng", "Sọ", "Lương", "Ngựu")
# H'Mông-style names, frequent on the high ground.
HMONG_FIRST = ("Háng", "Sáng", "Tả", "Phình", "Sín", "Lồng", "Chua", "Dề", "Tìa", "Xá", "Sủng", "Pàng", "Làng",
               "Pú", "Trạng", "Thào", "Dền", "Lao", "Hồng", "Mống")
HMONG_SECOND = ("Lìa", "Chải", "Phìn", "Thàng", "Sua", "Chồ", "Dình", "Giàng", "Pao", "Nhè", "Ngài", "Chúa",
                "Củ", "Sang", "Mùa", "Tông", "Hầu", "Vàng", "Sùng", "Thếnh", "Khổ", "Páo", "Xí")
SUFFIXES = ("", "", "", "", "", "", "", " 1", " 2", " Trên", " Dưới", " Mới", " Cũ")


def village_name(rng: np.random.Generator, highland: bool) -> str:
    """A bản name; ``highland`` favours H'Mông-style names."""
    if highland and rng.random() < 0.7:
        core = f"{rng.choice(HMONG_FIRST)} {rng.choice(HMONG_SECOND)}"
    else:
        core = f"{rng.choice(THAI_FIRST)} {rng.choice(THAI_SECOND)}"
    return core + str(rng.choice(SUFFIXES))


def settlement_names(rng: np.random.Generator, count: int, *, urban: bool, highland: np.ndarray,
                     hamlet_share: float, taken: set[str]) -> list[tuple[str, str]]:
    """``count`` (name, kind) pairs unique within ``taken``: wards get numbered residential groups
    (``Tổ dân phố 7``), communes mostly bản and a share of thôn."""
    out: list[tuple[str, str]] = []
    number = 1
    for i in range(count):
        if urban:
            while f"Tổ dân phố {number}" in taken:
                number += 1
            name, kind = f"Tổ dân phố {number}", "to_dan_pho"
        else:
            kind = "thon" if rng.random() < hamlet_share else "ban"
            prefix = "Thôn" if kind == "thon" else "Bản"
            for _ in range(50):
                name = f"{prefix} {village_name(rng, bool(highland[i]))}"
                if name not in taken:
                    break
            else:
                name = f"{name} {i + 2}"
        taken.add(name)
        out.append((name, kind))
    return out


def name_key(name: str) -> str:
    """Comparison key: no unit prefix, no accents, no spaces, lower case."""
    plain = fold(name)
    for prefix in ("thi tran ", "phuong ", "xa ", "ban ", "thon "):
        if plain.startswith(prefix):
            plain = plain[len(prefix):]
            break
    return plain.replace(" ", "").replace("-", "")
