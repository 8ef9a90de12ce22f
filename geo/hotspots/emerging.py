"""Emerging hot spots: Gi* in each bin of a space-time cube, a Mann-Kendall trend per cell, and the pattern.

The cube is (n cells, T bins). As ArcGIS's Emerging Hot Spot Analysis does, a bin's Gi* counts the cell's
spatial neighbours (and itself) in that bin and in the ``time_steps`` bins before it, against the mean and
spread of the whole cube; a bin's p-value is the larger of Gi*'s and the exact count test's
(geo/hotspots/gistar.significance), corrected with the False Discovery Rate over the whole cube; the
Mann-Kendall test runs on each cell's series of z-scores. The patterns follow ArcGIS Pro's definitions
(learn more: "How Emerging Hot Spot Analysis works"), spelled out in ``pattern`` below; "at least 90 % of the
bins" is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from geo.hotspots import gistar
from geo.hotspots.trend import Trend, mann_kendall

MOSTLY = 0.9   # "ninety percent of the time-step intervals"


@dataclass(frozen=True)
class Cube:
    z: np.ndarray          # (n, T) Gi* z-scores
    p: np.ndarray          # (n, T) FDR-adjusted p-values
    hot: np.ndarray        # (n, T) bool: significant hot bins
    cold: np.ndarray       # (n, T) bool
    usable: np.ndarray     # (n, T) bool: bins the statistic can speak for
    trend: Trend           # per cell
    patterns: np.ndarray   # (n,) pattern codes (data/vocab.py EMERGING_PATTERNS)


@dataclass(frozen=True)
class Windows:
    z: np.ndarray       # (n, T) Gi* z-scores
    local: np.ndarray   # (n, T) incidents in each bin's neighbourhood window
    total: np.ndarray   # (T,) incidents in all cells over each bin's window
    share: np.ndarray   # (n, T) the window's share of the cube's cells of that window


def space_time_gi_star(cube: np.ndarray, weights: sp.spmatrix, time_steps: int) -> Windows:
    """Gi* of every bin of ``cube`` (n, T), the neighbourhood reaching ``time_steps`` bins back.

    This is Gi* over n * T features with binary weights: the bins of the spatial neighbours (self included)
    within the time window; the window is shorter in the first bins, which the expected value accounts for.
    """
    y = np.asarray(cube, dtype=float)
    n, t_bins = y.shape
    w = gistar.with_self(weights)
    spatial = w @ y                                        # (n, T) neighbourhood sums in each bin
    csum = np.cumsum(spatial, axis=1)
    lagged = np.zeros_like(csum)
    k = time_steps + 1
    lagged[:, k:] = csum[:, :-k]
    local = csum - lagged                                  # sum over bins t - time_steps .. t
    window = np.minimum(np.arange(t_bins) + 1, k)[None, :]
    size = np.asarray(w.sum(axis=1)).ravel()[:, None] * window   # neighbours per bin (binary: also sum w^2)
    big_n = n * t_bins
    mean = y.mean()
    sd = np.sqrt((y ** 2).mean() - mean ** 2)
    totals = np.cumsum(y.sum(axis=0))
    total = totals - np.concatenate([np.zeros(k), totals[:-k]])[:t_bins]
    share = np.broadcast_to(size / (n * window), size.shape)
    if sd <= 1e-12 * max(1.0, abs(mean)):
        return Windows(np.full(y.shape, np.nan), local, total, share)
    z = (local - mean * size) / (sd * np.sqrt((big_n * size - size ** 2) / (big_n - 1)))
    return Windows(z, local, total, share)


def pattern(hot: np.ndarray, cold: np.ndarray, rising: bool, falling: bool) -> str:
    """The pattern of one cell from its significant hot and cold bins (oldest first) and its trend."""
    n = len(hot)
    for sign, h, c, up, down in (("hot", hot, cold, rising, falling), ("cold", cold, hot, falling, rising)):
        share = h.sum() / n
        if not h.any():
            continue
        last = bool(h[-1])
        final_run = n - int(np.flatnonzero(~h)[-1]) - 1 if (~h).any() else n
        if last and h.sum() == 1:
            return f"new_{sign}"                   # significant for the final bin only, never before
        if last and final_run >= 2 and h.sum() == final_run and share < MOSTLY:
            return f"consecutive_{sign}"           # one uninterrupted run ending now, nothing before it
        if share >= MOSTLY and last and up:
            return f"intensifying_{sign}"          # >= 90 % of bins incl. the last, clustering increasing
        if share >= MOSTLY and last and down:
            return f"diminishing_{sign}"           # >= 90 % of bins incl. the last, clustering decreasing
        if share >= MOSTLY and not last:
            return f"historical_{sign}"            # >= 90 % of bins but not the most recent
        if share >= MOSTLY:
            return f"persistent_{sign}"            # >= 90 % of bins, no significant trend
        if last and c.any():
            return f"oscillating_{sign}"           # significant now, the opposite kind in an earlier bin
        if not c.any():
            return f"sporadic_{sign}"              # on again, off again; never the opposite kind
    return "no_pattern"


def analyse(cube: np.ndarray, weights: sp.spmatrix, time_steps: int = 1, confidence: int = 90,
            usable: np.ndarray | None = None) -> Cube:
    """Emerging hot-spot analysis of ``cube`` (n cells, T bins of counts) with ``weights`` (no self).

    ``confidence`` (90, 95 or 99) decides which bins count as significant and how strong a trend must be;
    bins not ``usable`` (e.g. a month with too few incidents) never count as hot or cold.
    """
    alpha = next(a for level, a in gistar.LEVELS if level == confidence)
    win = space_time_gi_star(cube, weights, time_steps)
    z = win.z
    p = gistar.significance(z, win.local, win.total[None, :], win.share)
    p_adj = gistar.fdr_adjust(p.ravel()).reshape(z.shape)
    ok = ~np.isnan(z) if usable is None else (~np.isnan(z) & np.asarray(usable, dtype=bool))
    sig = ok & (p_adj < alpha)
    hot, cold = sig & (z > 0), sig & (z < 0)
    trend = mann_kendall(np.nan_to_num(z, nan=0.0))
    rising, falling = (trend.p < alpha) & (trend.s > 0), (trend.p < alpha) & (trend.s < 0)
    patterns = np.array([pattern(hot[i], cold[i], bool(rising[i]), bool(falling[i])) for i in range(len(z))],
                        dtype=object)
    return Cube(z=z, p=p_adj, hot=hot, cold=cold, usable=ok, trend=trend, patterns=patterns)


def bin_marks(cube: Cube) -> list[str]:
    """One character per bin and cell, oldest first: + hot, - cold, . neither, ? not usable."""
    marks = np.where(cube.hot, "+", np.where(cube.cold, "-", np.where(cube.usable, ".", "?")))
    return ["".join(row) for row in marks]
