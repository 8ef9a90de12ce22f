"""The coverage curve as a small hand-written SVG: the share of the population reached against minutes by
road, one line per named curve (today, a scenario), dashed marks at the limits asked, the title, the axis
labels in Vietnamese or English and, when the roads are generated, the note saying so (also in <desc>).

No plotting library: the figure is a few lines, ticks and texts, so it stays sharp in the map's panel and
the printed briefing and needs nothing at run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

import pandas as pd

WIDTH, HEIGHT = 720, 450
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 48, 104
COLORS = ("#1f5fa8", "#d9591b", "#2e8b57", "#8e44ad", "#b8860b", "#555555")

TEXT = {
    "title": ("Tỷ lệ dân số trong tầm tiếp cận đồn công an",
              "Share of the population within reach of a police station"),
    "x": ("Số phút đi đường đến đồn gần nhất", "Minutes by road to the nearest station"),
    "y": ("Tỷ lệ dân số", "Share of the population"),
    "today": ("Hiện nay", "Today"),
    "note": ("Đường và tốc độ đi lại của cơ sở dữ liệu này là giả lập (dữ liệu mẫu): số liệu minh họa phương pháp, "
             "không phải kết quả về đi lại thực tế.", None),
}


def text(key: str, lang: str) -> str:
    vi, en = TEXT[key]
    return vi if lang == "vi" or en is None else en


def _lines(note: str, width: int = 105) -> list[str]:
    out, line = [], ""
    for word in note.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line] if line else out


def curve_svg(curves: Sequence[tuple[str, pd.DataFrame]], *, lang: str = "vi", title: str | None = None,
              marks: Sequence[float] = (), roads_generated: bool = False, note: str = "") -> str:
    """An SVG document of ``curves`` (name, frame with ``minutes`` and ``share`` as ``curve_points`` gives).

    ``marks``: limits to draw as dashed verticals, labelled with the first curve's share there;
    ``roads_generated``: add the generated-roads note (``note`` in English, the Vietnamese one for
    ``lang="vi"``). Texts are escaped; the names may come from users (scenario names).
    """
    if not curves:
        raise ValueError("a coverage curve needs at least one curve")
    top_min = max(float(c["minutes"].max()) for _, c in curves) or 1.0
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(m: float) -> float:
        return LEFT + pw * m / top_min

    def y(share: float) -> float:
        return TOP + ph * (1 - share)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" role="img">']
    heading = title or text("title", lang)
    note_text = (note if lang == "en" else text("note", lang)) if roads_generated else ""
    out.append(f"<title>{escape(heading)}</title>")
    if note_text:
        out.append(f"<desc>{escape(note_text)}</desc>")
    out.append('<rect width="100%" height="100%" fill="#ffffff"/>')
    out.append(f'<text x="{WIDTH / 2:.0f}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
               f"{escape(heading)}</text>")
    # Grid and ticks: every 10 % up, every 30 minutes (every 10 below an hour's range) across.
    for k in range(0, 11):
        yy = y(k / 10)
        out.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" y2="{yy:.1f}" stroke="#e4e4e4"/>')
        if k % 2 == 0:
            out.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{k * 10} %</text>')
    step = 10 if top_min <= 60 else 30 if top_min <= 240 else 60
    m = 0
    while m <= top_min + 1e-9:
        xx = x(m)
        out.append(f'<line x1="{xx:.1f}" y1="{TOP + ph}" x2="{xx:.1f}" y2="{TOP + ph + 5}" stroke="#333"/>')
        out.append(f'<text x="{xx:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{m}</text>')
        m += step
    out.append(f'<path d="M{LEFT},{TOP} V{TOP + ph} H{LEFT + pw}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{LEFT + pw / 2:.0f}" y="{TOP + ph + 38}" text-anchor="middle">{escape(text("x", lang))}'
               "</text>")
    out.append(f'<text transform="translate(16,{TOP + ph / 2:.0f}) rotate(-90)" text-anchor="middle">'
               f"{escape(text('y', lang))}</text>")
    first = curves[0][1]
    for limit in marks:
        if 0 < limit <= top_min:
            xx = x(limit)
            reached = first.loc[first["minutes"] <= limit, "share"]
            share = float(reached.iloc[-1]) if len(reached) else 0.0
            out.append(f'<line class="mark" x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{TOP + ph}" stroke="#999" '
                       f'stroke-dasharray="4 3" data-minutes="{limit:g}" data-share="{share:.4f}"/>')
            out.append(f'<text x="{xx + 3:.1f}" y="{TOP + 12}" font-size="11" fill="#555">{limit:g}′: '
                       f"{share * 100:.0f} %</text>")
    for i, (name, c) in enumerate(curves):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(f"{x(float(mm)):.1f},{y(float(s)):.1f}" for mm, s in zip(c["minutes"], c["share"],
                                                                                   strict=True) if s == s)
        out.append(f'<g class="curve" data-name={quoteattr(name)}>'
                   f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/></g>')
        ly = TOP + ph - 14 - 18 * (len(curves) - 1 - i)
        lx = LEFT + pw - 190
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 28}" y="{ly}">{escape(name)}</text>')
    for k, line in enumerate(_lines(note_text)):
        out.append(f'<text class="note" x="{LEFT}" y="{TOP + ph + 62 + 15 * k}" font-size="11" fill="#8a1c1c">'
                   f"{escape(line)}</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
