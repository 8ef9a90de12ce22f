"""Neighbours of cells as binary sparse matrices (no self-neighbour: Gi* adds it): by distance band between
cell centres (metres), or from pairs of touching areas computed elsewhere (PostGIS for communes)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree


def distance_band(x: np.ndarray, y: np.ndarray, band_m: float) -> sp.csr_matrix:
    """Cells whose centres (x, y in metres) are at most ``band_m`` apart are neighbours."""
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(r=band_m, output_type="ndarray")
    return from_pairs(len(x), pairs[:, 0], pairs[:, 1])


def from_pairs(n: int, i: np.ndarray, j: np.ndarray) -> sp.csr_matrix:
    """Symmetric binary weights from neighbour pairs (i, j); duplicates and self-pairs dropped."""
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    keep = i != j
    i, j = i[keep], j[keep]
    w = sp.coo_matrix((np.ones(2 * len(i)), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)).tocsr()
    w.data[:] = 1.0
    return w


def neighbour_counts(weights: sp.spmatrix) -> np.ndarray:
    return np.diff(sp.csr_matrix(weights).indptr)
