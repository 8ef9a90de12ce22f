"""A deterministic synthetic terrain (elevation in metres) for the demo: no open DEM is shipped.

It is labelled synthetic wherever it is used (road slope factors, where generated villages sit). Ridges and
valleys come from a sum of random plane waves at a few wavelengths; the seed fixes it.
"""

from __future__ import annotations

import numpy as np


class Terrain:
    def __init__(self, rng: np.random.Generator, *, base_m: float, relief_m: float,
                 wavelengths_m: tuple[float, ...]) -> None:
        self.base, self.relief = base_m, relief_m
        waves = []
        for i, wl in enumerate(wavelengths_m):
            for _ in range(4):
                angle = rng.uniform(0, np.pi)
                k = 2 * np.pi / wl * rng.uniform(0.8, 1.25)
                waves.append((k * np.cos(angle), k * np.sin(angle), rng.uniform(0, 2 * np.pi), 0.6 ** i))
        self.waves = np.array(waves)
        self.norm = float(np.sqrt((self.waves[:, 3] ** 2).sum() / 2))

    def elevation(self, xy: np.ndarray) -> np.ndarray:
        xy = np.atleast_2d(xy)
        phase = xy[:, :1] * self.waves[:, 0] + xy[:, 1:2] * self.waves[:, 1] + self.waves[:, 2]
        z = (np.cos(phase) * self.waves[:, 3]).sum(axis=1) / self.norm
        # tanh keeps values in (-1, 1); squaring the positive part sharpens ridges and widens valley floors.
        t = (np.tanh(z) + 1) / 2
        return self.base + self.relief * t ** 1.6

    def grade(self, xy: np.ndarray) -> np.ndarray:
        """Mean absolute grade (rise/run) along each segment of a polyline given as (n, 2) points."""
        z = self.elevation(xy)
        run = np.hypot(*np.diff(xy, axis=0).T)
        return np.abs(np.diff(z)) / np.maximum(run, 1.0)
