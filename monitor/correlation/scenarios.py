"""Seeded synthetic series with known ground truth, for tests, the benchmark and the docs.

Each generator returns plain numpy arrays on a grid of ``n`` cells; nothing here knows about
storage. ``linked_pair`` builds a KPI that responds to a model metric with a known lag and
effect; the others are the classic sources of spurious correlation (persistence, random walks,
trends, a shared daily season, a common driver, a KPI that moves first), and the sparse series
whose innovations sit in a few cells (a window-level score, a flag, a KPI's one level shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "LinkedPair",
    "ar1",
    "confounded_pair",
    "flags",
    "level_shift",
    "linked_pair",
    "random_walk",
    "reverse_pair",
    "seasonal",
    "trending",
    "window_score",
]

Floats = npt.NDArray[np.float64]


def ar1(rng: np.random.Generator, n: int, phi: float = 0.8, scale: float = 1.0) -> Floats:
    """A stationary AR(1) series ``x_t = phi x_{t-1} + e_t``.

    Examples
    --------
    >>> ar1(np.random.default_rng(0), 4).round(2).tolist()
    [0.21, 0.04, 0.67, 0.64]
    """
    noise = rng.normal(scale=scale, size=n)
    out = np.empty(n)
    out[0] = noise[0] / np.sqrt(max(1 - phi * phi, 1e-9))
    for t in range(1, n):
        out[t] = phi * out[t - 1] + noise[t]
    return out


def random_walk(rng: np.random.Generator, n: int) -> Floats:
    """Cumulative sum of standard normal steps."""
    return np.cumsum(rng.normal(size=n))


def trending(rng: np.random.Generator, n: int, slope: float | None = None) -> Floats:
    """A linear trend (random slope unless given) plus AR(1) noise."""
    s = rng.uniform(-0.02, 0.02) if slope is None else slope
    return s * np.arange(n) + ar1(rng, n, 0.7)


def seasonal(rng: np.random.Generator, n: int, period: int = 144, amplitude: float = 3.0) -> Floats:
    """A sine season of ``period`` cells (random phase) plus AR(1) noise."""
    return _sine(rng, n, period, amplitude) + ar1(rng, n, 0.6)


def _sine(rng: np.random.Generator, n: int, period: int, amplitude: float) -> Floats:
    phase = rng.uniform(0, 2 * np.pi)
    return amplitude * np.sin(2 * np.pi * np.arange(n) / period + phase)


@dataclass(frozen=True, slots=True)
class LinkedPair:
    """A model metric ``x``, a KPI ``y`` and the truth: ``y[t + lag]`` moves ``effect`` per unit of ``x[t]``."""

    x: Floats
    y: Floats
    lag: int
    effect: float


def linked_pair(rng: np.random.Generator, n: int, lag: int, effect: float, noise: float = 1.0) -> LinkedPair:
    """KPI = 50 + effect * metric (``lag`` cells earlier) + a season of 144 cells + AR(1) noise.

    Examples
    --------
    >>> pair = linked_pair(np.random.default_rng(4), 500, lag=7, effect=-2.0)
    >>> pair.lag, pair.effect, pair.x.shape == pair.y.shape
    (7, -2.0, True)
    """
    x = ar1(rng, n + lag, 0.7)
    y = 50.0 + effect * x[:n] + _sine(rng, n, 144, 1.0) + noise * ar1(rng, n, 0.5)
    return LinkedPair(x[lag:], y, lag, effect)


def confounded_pair(rng: np.random.Generator, n: int, lag: int) -> tuple[Floats, Floats, Floats]:
    """A driver ``z`` that moves the metric at once and the KPI ``lag`` cells later: (driver, metric, KPI)."""
    z = ar1(rng, n + lag, 0.7)
    metric = z[lag:] + 0.5 * ar1(rng, n, 0.5)
    kpi = 20.0 + 1.5 * z[:n] + 0.5 * ar1(rng, n, 0.5)
    return z[lag:], metric, kpi


def reverse_pair(rng: np.random.Generator, n: int, lag: int) -> tuple[Floats, Floats]:
    """A KPI that moves first and a metric that follows it ``lag`` cells later: (metric, KPI)."""
    pair = linked_pair(rng, n, lag, 1.0, noise=0.5)
    return pair.y, pair.x


def window_score(rng: np.random.Generator, n: int, width: int = 30) -> Floats:
    """A statistic per window of ``width`` cells (gamma, like a drift score), spread over the window's cells.

    Examples
    --------
    >>> score = window_score(np.random.default_rng(0), 90)
    >>> score.shape, len(set(score.tolist()))
    ((90,), 3)
    """
    return np.repeat(rng.gamma(2.0, 0.02, size=-(-n // width)), width)[:n]


def flags(rng: np.random.Generator, n: int, count: int = 3) -> Floats:
    """0 everywhere but 1 in ``count`` random cells (an anomaly flag that fired a few times)."""
    out = np.zeros(n)
    out[rng.choice(n, count, replace=False)] = 1.0
    return out


def level_shift(rng: np.random.Generator, n: int, size: float = 12.0, margin: int = 60) -> Floats:
    """A KPI of white noise around 100 that shifts by ``size`` once, at a random cell ``margin`` from the ends."""
    kpi = 100.0 + rng.normal(size=n)
    kpi[rng.integers(margin, n - margin) :] += size
    return kpi
