"""Folding of Vietnamese names for search and for the ``name_ascii`` columns (one rule for the whole project)."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lower-case ASCII form of a Vietnamese name: 'Mường Chà' -> 'muong cha' (đ/Đ -> d, spaces collapsed)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return re.sub(r"\s+", " ", stripped.lower()).strip()
