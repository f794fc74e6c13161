"""Ensemble metrics as a function of ensemble size, averaged over random member orders."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ensgui.engine import metrics as m

# Salts that give every use of randomness its own stream derived from EvalOptions.seed.
_ORDER_SALT = 0
_CNLL_SALT = 1
_SPLIT_SALT = {"test": 0, "val": 1}


@dataclass(frozen=True)
class EvalOptions:
    """Settings of ensemble_curves; cnll_* are PE metrics_kfold's n_splits and n_runs."""

    n_orders: int = 5
    n_bins: int = 15
    cnll_splits: int = 2
    cnll_runs: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_orders < 1:
            raise ValueError(f"n_orders must be >= 1, got {self.n_orders}")
        if self.n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {self.n_bins}")
        if self.cnll_splits < 2:
            raise ValueError(f"cnll_splits must be >= 2, got {self.cnll_splits}")
        if self.cnll_runs < 1:
            raise ValueError(f"cnll_runs must be >= 1, got {self.cnll_runs}")


def _check_stack(probs: np.ndarray, labels: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 3 or probs.shape[0] < 1:
        raise ValueError(f"{name} probs must have shape (K, N, C) with K >= 1, got {probs.shape}")
    if labels.shape != (probs.shape[1],):
        raise ValueError(f"{name} labels must have shape ({probs.shape[1]},), got {labels.shape}")
    return probs, labels.astype(np.int64, copy=False)


def member_orders(n_members: int, n_orders: int, seed: int) -> np.ndarray:
    """(n_orders, K) member orders: the identity first, then random permutations from seed."""
    rng = np.random.default_rng([seed, _ORDER_SALT])
    orders = [np.arange(n_members)]
    orders += [rng.permutation(n_members) for _ in range(n_orders - 1)]
    return np.stack(orders)


def _log(pbar: np.ndarray) -> np.ndarray:
    # Zero probabilities (float32 underflow) become -inf, which the temperature code handles.
    with np.errstate(divide="ignore"):
        return np.log(pbar)


def _point_metrics(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> dict[str, float]:
    return {
        "error": m.error(probs, labels),
        "nll": m.nll(probs, labels),
        "brier": m.brier(probs, labels),
        "ece": m.ece(probs, labels, n_bins),
        "auroc": m.auroc(probs, labels),
    }


def ensemble_curves(
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    val_probs: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    options: EvalOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Metrics of the ensemble of the first k members, k = 1..K, as (K, 2) [mean, std over orders].

    Returns {"test": {metric: (K, 2)}, "val": {...}}; "val" only when validation predictions are
    given. Row k - 1 holds ensemble size k. Order 0 is the identity, the rest are random
    permutations drawn from options.seed; the std is the population std (ddof 0) over orders.

    Metrics of every split:
    - error, nll, brier, ece, auroc: on the plain averaged probabilities (no temperature);
      auroc uses the max probability as the score.
    - cnll: test-time cross-validated calibrated NLL (metrics.cnll_cv) on that split alone,
      refitted for every k and order. Its folds come from a stream derived from the seed, the
      split and the order, and are the same for every k within an order, so the curve over k is
      not shaken by fold noise.
    - cnll_val: NLL after temperature scaling with tau fitted on the validation split's ensemble of
      the same first k members of the same order; on the validation split this is the oracle
      CNLL. nan when no validation predictions are given.
    - brier_t, ece_t, auroc_t, tau_val (validation given only): Brier, ECE and AUROC of the
      validation-temperature-scaled probabilities, and the fitted tau itself.

    progress(done, total) is called after every (order, k) step; raising from it (for instance
    CancelledError) stops the evaluation.
    """
    options = EvalOptions() if options is None else options
    test_probs, test_labels = _check_stack(test_probs, test_labels, "test")
    splits: dict[str, tuple[np.ndarray, np.ndarray]] = {"test": (test_probs, test_labels)}
    if (val_probs is None) != (val_labels is None):
        raise ValueError("give both val_probs and val_labels, or neither")
    has_val = val_probs is not None
    if has_val:
        val_probs, val_labels = _check_stack(val_probs, val_labels, "val")
        if val_probs.shape[0] != test_probs.shape[0] or val_probs.shape[2] != test_probs.shape[2]:
            raise ValueError(
                f"val probs {val_probs.shape} and test probs {test_probs.shape} must have the same K and C"
            )
        splits["val"] = (val_probs, val_labels)

    n_members = test_probs.shape[0]
    orders = member_orders(n_members, options.n_orders, options.seed)
    names = list(m.METRIC_NAMES) + (["brier_t", "ece_t", "auroc_t", "tau_val"] if has_val else [])
    values = {s: {n: np.full((options.n_orders, n_members), np.nan) for n in names} for s in splits}
    total = options.n_orders * n_members

    for r, order in enumerate(orders):
        # Running sums of member probabilities: adding one member per step keeps the cost per k
        # at one (N, C) addition. log(sum / k) is the log-space ensemble average of
        # metrics.ensemble_log_mean, evaluated in float64.
        sums = {s: np.zeros(p.shape[1:], dtype=np.float64) for s, (p, _) in splits.items()}
        for k in range(1, n_members + 1):
            log_pbar: dict[str, np.ndarray] = {}
            for s, (p, y) in splits.items():
                np.add(sums[s], p[order[k - 1]], out=sums[s])
                pbar = sums[s] / k
                log_pbar[s] = _log(pbar)
                row = values[s]
                for name, v in _point_metrics(pbar, y, options.n_bins).items():
                    row[name][r, k - 1] = v
                cnll_rng = np.random.default_rng([options.seed, _CNLL_SALT, _SPLIT_SALT[s], r])
                row["cnll"][r, k - 1] = m.cnll_cv(
                    log_pbar[s], y, options.cnll_splits, options.cnll_runs, cnll_rng
                )
            if has_val:
                tau, val_cnll = m.fit_temperature_with_nll(log_pbar["val"], splits["val"][1])
                for s, (_, y) in splits.items():
                    row = values[s]
                    row["tau_val"][r, k - 1] = tau
                    row["cnll_val"][r, k - 1] = (
                        val_cnll if s == "val" else m.temperature_nll(log_pbar[s], y, tau)
                    )
                    scaled = m.apply_temperature(log_pbar[s], tau)
                    row["brier_t"][r, k - 1] = m.brier(scaled, y)
                    row["ece_t"][r, k - 1] = m.ece(scaled, y, options.n_bins)
                    row["auroc_t"][r, k - 1] = m.auroc(scaled, y)
            if progress is not None:
                progress(r * n_members + k, total)

    return {
        s: {name: np.stack([v.mean(axis=0), v.std(axis=0)], axis=1) for name, v in per.items()}
        for s, per in values.items()
    }


def member_metrics(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per-member error, nll, brier, ece, auroc (max-probability score) and cnll, each of shape (K,).

    cnll here is the oracle calibrated NLL (tau fitted and evaluated on the same set), which is
    deterministic and cheap; the ensemble curves use the cross-validated value instead.
    """
    probs, labels = _check_stack(probs, labels, "member")
    names = ("error", "nll", "brier", "ece", "auroc", "cnll")
    out = {n: np.empty(probs.shape[0], dtype=np.float64) for n in names}
    for j in range(probs.shape[0]):
        p = np.asarray(probs[j], dtype=np.float64)
        for name, v in _point_metrics(p, labels, n_bins).items():
            out[name][j] = v
        out["cnll"][j] = m.cnll_oracle(_log(p), labels)
    return out


def temperature_for_ensemble(
    val_probs: np.ndarray, val_labels: np.ndarray, members: Sequence[int] | None = None
) -> float:
    """Temperature fitted on the validation ensemble of the given members (all by default)."""
    val_probs, val_labels = _check_stack(val_probs, val_labels, "val")
    index = np.arange(val_probs.shape[0]) if members is None else np.asarray(members, dtype=np.int64)
    if index.size == 0:
        raise ValueError("members must name at least one member")
    pbar = np.mean(np.asarray(val_probs[index], dtype=np.float64), axis=0)
    return m.fit_temperature(_log(pbar), val_labels)
