"""The Mann-Kendall trend test, for many series at once: is a cell's clustering rising or falling over time?

``series`` is (n, T), one row per cell, oldest slice first. S = sum over i < j of sign(x_j - x_i); its
variance has the usual correction for ties; Z carries the continuity correction (S -/+ 1); p is two-sided.
This is Mann (1945) and Kendall (1975) as ``pymannkendall.original_test`` computes it (tests compare them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Trend:
    s: np.ndarray      # Kendall's S
    z: np.ndarray      # standardised, continuity-corrected
    p: np.ndarray      # two-sided
    tau: np.ndarray    # S / (T (T - 1) / 2)


def _tie_terms(series: np.ndarray) -> np.ndarray:
    """sum over groups of tied values of t (t - 1) (2t + 5), per row."""
    srt = np.sort(series, axis=1)
    out = np.zeros(series.shape[0])
    same = np.isclose(srt[:, 1:], srt[:, :-1], rtol=0.0, atol=1e-12)
    for row in np.flatnonzero(same.any(axis=1)):
        _, t = np.unique(np.round(srt[row], 12), return_counts=True)
        t = t[t > 1].astype(float)
        out[row] = float(np.sum(t * (t - 1) * (2 * t + 5)))
    return out


def mann_kendall(series: np.ndarray) -> Trend:
    x = np.asarray(series, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    n = x.shape[1]
    i, j = np.triu_indices(n, k=1)
    diff = x[:, j] - x[:, i]
    s = np.sign(np.where(np.abs(diff) <= 1e-12, 0.0, diff)).sum(axis=1)
    var = (n * (n - 1) * (2 * n + 5) - _tie_terms(x)) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    z = np.where(var > 0, z, 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return Trend(s=s, z=z, p=p, tau=s / (n * (n - 1) / 2))
