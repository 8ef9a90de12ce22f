"""Administrative-unit search that ignores diacritics and spans both eras (2025 and the units before it).

Folding is done the same way on both sides: the query in Python, the stored names in SQL with
``translate()`` over the full Vietnamese alphabet. ``translate`` needs no extension (``unaccent`` is in
contrib but not guaranteed on an external server) and, unlike ``lower()``, does not depend on the
database's ctype locale, which is ``C`` in the embedded cluster (where ``lower('Đ')`` is a no-op).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import psycopg
from psycopg.rows import dict_row

from data import vocab
from data.text import fold


def _translation_table() -> tuple[str, str]:
    letters = "aăâeêioôơuưyd"
    source, target = [], []
    for base in letters:
        for upper in (False, True):
            b = base.upper() if upper else base
            for mark in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"):
                composed = unicodedata.normalize("NFC", b + mark)
                if len(composed) != 1 or composed.isascii():
                    continue
                source.append(composed)
                target.append(fold(composed).upper() if upper else fold(composed))
    source += ["đ", "Đ"]
    target += ["d", "D"]
    return "".join(source), "".join(target)


_FROM, _TO = _translation_table()


# lower() after translate() only has ASCII letters left to lower, which every locale handles.
_SQL = """
WITH hits AS (
    SELECT u.id, NULL::text AS variant
    FROM admin_unit u
    WHERE lower(translate(u.name, %(tr_from)s, %(tr_to)s)) LIKE %(pattern)s
    UNION
    SELECT l.old_unit_id, l.old_name_resolution
    FROM admin_lineage l
    WHERE l.old_name_resolution IS NOT NULL
      AND lower(translate(l.old_name_resolution, %(tr_from)s, %(tr_to)s)) LIKE %(pattern)s
), became AS (
    -- A former commune became what its lineage rows say; a former district became what its communes did.
    SELECT h.id, n.id AS new_id, n.code, n.name
    FROM hits h
    JOIN admin_unit o ON o.id = h.id
    JOIN admin_lineage l ON l.old_unit_id = o.id
         OR l.old_unit_id IN (SELECT c.id FROM admin_unit c WHERE c.parent_id = o.id)
    JOIN admin_unit n ON n.id = l.new_unit_id
    GROUP BY h.id, n.id, n.code, n.name
)
SELECT u.id, u.code, u.name, u.kind, u.era, u.valid_from, u.valid_to,
       p.name AS parent_name,
       max(h.variant) AS variant,
       (u.era <> %(current_era)s) AS former,
       COALESCE((SELECT json_agg(json_build_object('id', b.new_id, 'code', b.code, 'name', b.name)
                                 ORDER BY b.name)
                 FROM became b WHERE b.id = u.id), '[]'::json) AS became,
       ST_X(ST_PointOnSurface(u.geom)) AS lon, ST_Y(ST_PointOnSurface(u.geom)) AS lat,
       ST_XMin(u.geom) AS xmin, ST_YMin(u.geom) AS ymin, ST_XMax(u.geom) AS xmax, ST_YMax(u.geom) AS ymax,
       (lower(translate(u.name, %(tr_from)s, %(tr_to)s)) = %(exact)s
        OR lower(translate(u.name, %(tr_from)s, %(tr_to)s)) LIKE %(suffix)s) AS exact
FROM hits h
JOIN admin_unit u ON u.id = h.id
LEFT JOIN admin_unit p ON p.id = u.parent_id
GROUP BY u.id, p.name
ORDER BY former, exact DESC, u.kind = 'district' DESC, u.name
LIMIT %(limit)s
"""


def search_params(query: str, limit: int, current_era: str) -> dict[str, Any]:
    q = fold(query)
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"pattern": f"%{escaped}%", "exact": q, "suffix": f"% {escaped}", "limit": limit,
            "current_era": current_era, "tr_from": _FROM, "tr_to": _TO}


def _kind_label(kind: str) -> dict[str, str]:
    term = next((t for t in vocab.UNIT_KINDS if t.code == kind), None)
    return {"vi": term.vi, "en": term.en} if term else {"vi": kind, "en": kind}


async def search_units(conn: psycopg.AsyncConnection, query: str, limit: int = 20,
                       current_era: str = "2025") -> list[dict[str, Any]]:
    """Units whose name (or a recorded spelling variant) contains ``query``, diacritics ignored.

    Units of ``current_era`` come first; the others are marked ``former`` and list the current units they
    became. Each hit carries a point on its surface and its bounding box (EPSG:4326) for the map to zoom to.
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_SQL, search_params(query, limit, current_era))
        rows = await cur.fetchall()
    return [{
        "id": r["id"], "code": r["code"], "name": r["name"], "kind": r["kind"], "kind_label": _kind_label(r["kind"]),
        "era": r["era"], "former": r["former"], "parent": r["parent_name"],
        # A recorded spelling that differs from the unit's own name (how "sa tong" finds Xã Xá Tổng).
        "variant": r["variant"] if r["variant"] and r["variant"] != r["name"] else None,
        "valid_from": r["valid_from"].isoformat() if r["valid_from"] else None,
        "valid_to": r["valid_to"].isoformat() if r["valid_to"] else None,
        "became": r["became"] if r["former"] else [],
        "point": [r["lon"], r["lat"]], "bbox": [r["xmin"], r["ymin"], r["xmax"], r["ymax"]],
    } for r in rows]
