"""Deep Ensemble Equivalent: the deep-ensemble size that matches a method's calibrated score."""

from __future__ import annotations

import numpy as np


def _oriented_envelope(reference_curve: np.ndarray, higher_is_better: bool) -> np.ndarray:
    ref = np.asarray(reference_curve, dtype=np.float64)
    if ref.ndim != 1 or ref.shape[0] < 1:
        raise ValueError(f"reference_curve must have shape (K,) with K >= 1, got {ref.shape}")
    if not np.all(np.isfinite(ref)):
        raise ValueError("reference_curve must be finite at every ensemble size")
    if not higher_is_better:
        ref = -ref
    # An independent search on the cumulative max does not assume the method's curve is monotone
    # (the notebook's single iterator does) and ignores dips in a noisy reference.
    return np.maximum.accumulate(ref)


def dee(reference_curve: np.ndarray, values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """DEE of each value against a deep-ensemble reference curve (methods.md section 5).

    reference_curve[k - 1] is the deep ensemble's mean score at size k = 1..K (by default the
    calibrated log-likelihood, higher is better); set higher_is_better=False for losses such as
    calibrated NLL or Brier. The reference is replaced by its monotone envelope and interpolated
    linearly between integer sizes; each value gets min{l >= 1 : reference(l) reaches value},
    so DEE >= 1, DEE = 1 for values no better than a single member, and DEE = K for values
    beyond the largest reference ensemble. nan values give nan. Returns float64 of values' shape.
    """
    env = _oriented_envelope(reference_curve, higher_is_better)
    v = np.asarray(values, dtype=np.float64)
    if not higher_is_better:
        v = -v
    n_ref = env.shape[0]
    # First index whose envelope value reaches v: i == 0 means size 1 already suffices,
    # i == K means no reference size does.
    i = np.searchsorted(env, v, side="left")
    lo = env[np.clip(i - 1, 0, n_ref - 1)]
    hi = env[np.clip(i, 0, n_ref - 1)]
    inner = (i > 0) & (i < n_ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        # On inner points env[i - 1] < v <= env[i], so the step is strictly positive and the
        # result lies in (i, i + 1] in 1-based sizes.
        interpolated = i + (v - lo) / (hi - lo)
    out = np.where(i == 0, 1.0, np.where(inner, interpolated, float(n_ref)))
    return np.where(np.isnan(v), np.nan, out)


def dee_limits(reference_curve: np.ndarray, values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Where dee() is only a bound: -1 for values worse than one reference member (DEE < 1, shown as 1), +1 for
    values better than the largest reference ensemble (DEE >= K, shown as K), 0 where DEE is read off the curve.
    int8 of values' shape; nan values give 0."""
    env = _oriented_envelope(reference_curve, higher_is_better)
    v = np.asarray(values, dtype=np.float64)
    if not higher_is_better:
        v = -v
    with np.errstate(invalid="ignore"):
        return np.where(v < env[0], -1, np.where(v > env[-1], 1, 0)).astype(np.int8)


def dee_cnll_limits(reference_cnll_mean: np.ndarray, method_cnll_mean: np.ndarray) -> np.ndarray:
    """dee_limits of calibrated NLL curves (lower is better)."""
    return dee_limits(reference_cnll_mean, method_cnll_mean, higher_is_better=False)


def dee_text(value: float, limit: int, reference_size: int) -> str:
    """A DEE as read: "< 1" below one reference member, "≥ K" beyond the reference, else four significant digits."""
    if limit < 0:
        return "< 1"
    if limit > 0:
        return f"≥ {reference_size}"
    if not np.isfinite(value):
        return "–"
    return f"{value:#.4g}".rstrip(".")


def dee_from_cnll(reference_cnll_mean: np.ndarray, method_cnll_mean: np.ndarray) -> np.ndarray:
    """DEE from calibrated NLL curves: the log-likelihood is the negated NLL."""
    return dee(-np.asarray(reference_cnll_mean, dtype=np.float64), -np.asarray(method_cnll_mean, dtype=np.float64))


def dee_band(
    reference_mean: np.ndarray,
    reference_std: np.ndarray,
    values: np.ndarray,
    higher_is_better: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) DEE against the reference shifted by one std towards better and towards worse.

    A better reference needs fewer members to reach a value, so low <= dee(reference_mean, values)
    <= high, as in the band the Pitfalls notebook draws.
    """
    mean = np.asarray(reference_mean, dtype=np.float64)
    std = np.asarray(reference_std, dtype=np.float64)
    if std.shape != mean.shape:
        raise ValueError(f"reference_std {std.shape} must match reference_mean {mean.shape}")
    if np.any(std < 0):
        raise ValueError("reference_std must be non-negative")
    towards_better = std if higher_is_better else -std
    low = dee(mean + towards_better, values, higher_is_better)
    high = dee(mean - towards_better, values, higher_is_better)
    return low, high
