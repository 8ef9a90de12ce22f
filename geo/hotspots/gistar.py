"""Getis-Ord Gi* with binary weights, the False Discovery Rate, and the confidence classes users read.

Arrays in, arrays out: ``counts`` is (n,) or (n, T) (T slices, e.g. months, computed at once), ``weights`` an
n x n binary scipy sparse matrix of neighbours *without* the cell itself (Gi* adds it). The z-score is Ord and
Getis's (1995) standardised Gi*, the same number PySAL's ``esda.G_Local(star=True, transform='B')`` gives
(tests/test_hotspot_stats.py compares them to 1e-6); p-values are two-sided from the normal distribution, as
ArcGIS's Hot Spot Analysis reports them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import stats

from data import vocab

# Confidence of the classes, strongest first: (level, adjusted p below which a cell reaches it).
LEVELS = ((99, 0.01), (95, 0.05), (90, 0.10))
NOT_SIGNIFICANT = "not_significant"
INSUFFICIENT = "insufficient"
CLASSES = tuple(t.code for t in vocab.HOTSPOT_CLASSES)


def with_self(weights: sp.spmatrix) -> sp.csr_matrix:
    """Binary weights with every cell its own neighbour (the star in Gi*)."""
    w = sp.csr_matrix(weights, dtype=float, copy=True)
    w.data[:] = 1.0
    w.setdiag(1.0)
    w.eliminate_zeros()
    return w


def neighbourhood(counts: np.ndarray, weights: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's neighbourhood sum (self included) and neighbourhood size."""
    w = with_self(weights)
    return w @ np.asarray(counts, dtype=float), np.asarray(w.sum(axis=1)).ravel()


def gi_star(counts: np.ndarray, weights: sp.spmatrix) -> np.ndarray:
    """Gi* z-scores of each cell (and slice): (local sum - expected) / its standard error under randomness.

    NaN where the statistic is undefined: a slice whose counts are all equal (no variance).
    """
    y = np.asarray(counts, dtype=float)
    flat = y.ndim == 1
    y2 = y[:, None] if flat else y
    n = y2.shape[0]
    w = with_self(weights)
    k = np.asarray(w.sum(axis=1)).ravel()[:, None]           # neighbours incl. self (binary: sum of w^2 too)
    mean = y2.mean(axis=0)[None, :]
    sd = np.sqrt((y2 ** 2).mean(axis=0)[None, :] - mean ** 2)  # population sd, as Getis and Ord define S
    local = w @ y2
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (local - mean * k) / (sd * np.sqrt((n * k - k ** 2) / (n - 1)))
    z[:, (sd.ravel() <= 1e-12 * np.maximum(1.0, np.abs(mean.ravel())))] = np.nan
    return z[:, 0] if flat else z


def p_values(z: np.ndarray) -> np.ndarray:
    """Two-sided p-values of z-scores under the normal distribution (NaN stays NaN)."""
    return 2.0 * stats.norm.sf(np.abs(z))


def count_p_values(local: np.ndarray, total: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Two-sided exact p-values of neighbourhood counts ``local`` when each of ``total`` incidents falls in
    the neighbourhood with probability ``share`` (binomial): the count model behind Gi*'s expectation.

    Gi*'s normal approximation is far too confident when a neighbourhood expects only a few incidents
    (one or two incidents in a quiet area reach z > 4); ``significance`` requires this test too.
    """
    local, total, share = (np.asarray(a, dtype=float) for a in (local, total, share))
    upper = stats.binom.sf(local - 1, total, share)
    lower = stats.binom.cdf(local, total, share)
    return np.minimum(1.0, 2.0 * np.minimum(upper, lower))


def significance(z: np.ndarray, local: np.ndarray, total: np.ndarray, share: np.ndarray) -> np.ndarray:
    """p-values a cell's class rests on: the larger of Gi*'s normal p and the exact count p (NaN stays)."""
    return np.where(np.isnan(z), np.nan, np.maximum(p_values(z), count_p_values(local, total, share)))


def fdr_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values within each column (one family of tests per slice); NaN ignored."""
    p = np.asarray(p, dtype=float)
    flat = p.ndim == 1
    p2 = p[:, None] if flat else p
    out = np.full_like(p2, np.nan)
    for t in range(p2.shape[1]):
        ok = ~np.isnan(p2[:, t])
        if ok.any():
            out[ok, t] = stats.false_discovery_control(p2[ok, t], method="bh")
    return out[:, 0] if flat else out


def classify(z: np.ndarray, p_adjusted: np.ndarray, usable: np.ndarray | None = None) -> np.ndarray:
    """Class codes (hot_99 ... cold_99, not_significant, insufficient) from z and adjusted p.

    ``usable`` (same shape, bool) marks the cells and slices the statistic can speak for; the rest are
    "insufficient" rather than coloured as if they had been tested.
    """
    z = np.asarray(z, dtype=float)
    out = np.full(z.shape, NOT_SIGNIFICANT, dtype=object)
    for level, alpha in reversed(LEVELS):   # weakest first, the strongest overwrites
        sig = ~np.isnan(p_adjusted) & (p_adjusted < alpha)
        out[sig & (z > 0)] = f"hot_{level}"
        out[sig & (z < 0)] = f"cold_{level}"
    bad = np.isnan(z)
    if usable is not None:
        bad |= ~np.asarray(usable, dtype=bool)
    out[bad] = INSUFFICIENT
    return out


def confidence(classes: np.ndarray) -> np.ndarray:
    """Signed confidence of class codes: +99/+95/+90 hot, -99/-95/-90 cold, 0 otherwise."""
    out = np.zeros(np.shape(classes), dtype=int)
    for level, _alpha in LEVELS:
        out[classes == f"hot_{level}"] = level
        out[classes == f"cold_{level}"] = -level
    return out
