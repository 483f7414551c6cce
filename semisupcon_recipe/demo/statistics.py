"""Paired comparison of two models over pretraining seeds, and the words the report may use.

Seed ``s`` of both models shares data, steps and augmentations, so the per-seed
differences are paired. Their mean gets a two-sided Student t interval over seeds
(:func:`scipy.stats.ttest_rel`'s); the report says "higher" only when the whole interval
is above 0, "lower" when it is below, and "within seed spread" otherwise (always with one
seed: no interval then).
"""

from __future__ import annotations

import math
from typing import Sequence

WITHIN = "within seed spread"


def paired_difference(first: Sequence[float], second: Sequence[float], confidence: float = 0.95) -> dict:
    """Per-seed differences ``second - first``, their mean and its t interval over seeds.

    Parameters
    ----------
    first, second : sequence of float
        Scores of the two models, seed by seed.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    dict
        ``per_seed``, ``mean``, ``low`` and ``high`` (nan with fewer than two seeds) and
        ``reading`` (:func:`reading`).

    Example
    -------
    >>> result = paired_difference([0.30, 0.33, 0.35], [0.40, 0.41, 0.46])
    >>> [round(value, 3) for value in (result["mean"], result["low"], result["high"])], result["reading"]
    ([0.097, 0.059, 0.135], 'higher')
    >>> paired_difference([0.5], [0.6])["reading"]
    'within seed spread'
    """
    from scipy import stats

    if len(first) != len(second) or not first:
        raise ValueError(f"paired scores need one score per seed for both models, got {len(first)} and {len(second)}")
    differences = [float(b) - float(a) for a, b in zip(first, second)]
    mean = sum(differences) / len(differences)
    low = high = math.nan
    if len(differences) > 1:
        interval = stats.ttest_rel(second, first).confidence_interval(confidence)
        low, high = float(interval.low), float(interval.high)
        if math.isnan(low):  # every difference equal: no spread, the interval is that value
            low = high = mean
    return {"per_seed": differences, "mean": mean, "low": low, "high": high, "reading": reading(low, high)}


def reading(low: float, high: float) -> str:
    """``"higher"`` when the interval lies above 0, ``"lower"`` below, else :data:`WITHIN`.

    Example
    -------
    >>> reading(0.01, 0.2), reading(-0.2, -0.01), reading(-0.1, 0.2), reading(float("nan"), float("nan"))
    ('higher', 'lower', 'within seed spread', 'within seed spread')
    """
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return WITHIN
