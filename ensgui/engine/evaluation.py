"""Ensemble metrics as a function of ensemble size, averaged over random member orders."""

from __future__ import annotations

import os
import sys
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
    """Settings of ensemble_curves; cnll_* are PE metrics_kfold's n_splits and n_runs. in_order evaluates the
    rows in the order given (boosting, whose k-th ensemble is its first k rows): one order, the identity."""

    n_orders: int = 5
    n_bins: int = 15
    cnll_splits: int = 2
    cnll_runs: int = 5
    seed: int = 0
    in_order: bool = False

    def __post_init__(self) -> None:
        if self.in_order and self.n_orders != 1:
            raise ValueError(f"in_order evaluates one order, got n_orders = {self.n_orders}")
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
    """(n_orders, K) member orders, all random permutations from seed.

    None is the identity: with it every order-averaged curve started at member 0 whatever the seed, and the k = 1
    row showed one member with a std of 0 (ensemble_curves computes that row over every member instead)."""
    rng = np.random.default_rng([seed, _ORDER_SALT])
    return np.stack([rng.permutation(n_members) for _ in range(n_orders)])


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


def _threads() -> int:
    # As many threads as torch is given where it is loaded (the engine sets that once per run), else the cores.
    torch = sys.modules.get("torch")
    return max(1, torch.get_num_threads() if torch is not None else os.cpu_count() or 1)


def _off_top(probs: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Mass off the arg-max class of class-major (C, B, N) probabilities, summed without the cancellation of
    1 - p_max (metrics.auroc's score, whose float32 p_max rounds to 1 for confident nets). Overwrites probs."""
    np.put_along_axis(probs, top[None], 0.0, axis=0)
    return probs.sum(axis=0)


def _arg_max(probs: np.ndarray, top_value: np.ndarray) -> np.ndarray:
    """The first class holding each object's maximum in class-major (C, B, N): argmax(axis=0) without the copy
    that numpy makes to reduce over a leading axis."""
    top = np.full(top_value.shape, probs.shape[0] - 1, dtype=np.intp)
    for c in range(probs.shape[0] - 2, -1, -1):
        top[probs[c] == top_value] = c
    return top


@dataclass
class _Split:
    """One split's member stack (class-major) and the running state of its curves over k, for all orders at once."""

    probs: np.ndarray  # (K, C, N) member probabilities
    labels: np.ndarray  # (N,)
    folds: m.CrossValidation  # one set of cross-validation folds per order
    sums: np.ndarray  # (C, R, N) float64 running sums of the members so far, per order
    auroc: m.AurocRows
    auroc_t: m.AurocRows
    beta_cv: np.ndarray | None = None  # (R, J * S) the last k's cross-validation fits (beta = 1 / tau)
    beta_val: np.ndarray | None = None  # (R,) the last k's fits on the whole split (validation only)
    # Of the current k: shifted log-probabilities (C, R, N) and their label entries, arg-max and correct (R, N).
    z: np.ndarray | None = None
    z_y: np.ndarray | None = None
    top: np.ndarray | None = None
    correct: np.ndarray | None = None

    @classmethod
    def of(cls, name: str, probs: np.ndarray, labels: np.ndarray, options: EvalOptions,
           streams: Sequence[int] | None = None) -> _Split:
        """The split with one ensemble per stream: streams[r] (default r) names the random stream of ensemble
        r's folds, (seed, cnll salt, split salt, streams[r]), the same for every k."""
        streams = range(options.n_orders) if streams is None else streams
        rngs = [np.random.default_rng([options.seed, _CNLL_SALT, _SPLIT_SALT[name], r]) for r in streams]
        folds = m.CrossValidation.draw(labels.shape[0], options.cnll_splits, options.cnll_runs, rngs)
        sums = np.zeros((probs.shape[2], len(rngs), probs.shape[1]))
        probs = np.ascontiguousarray(probs.transpose(0, 2, 1))
        return cls(probs, labels, folds, sums, m.AurocRows(), m.AurocRows())

    def add(self, members: np.ndarray, k: int, n_bins: int, threads: int) -> dict[str, np.ndarray]:
        """Add member members[r] to order r's ensemble, which then has k members: error, nll, brier, ece,
        auroc and cnll of every order (R,)."""
        # Running sums: adding one member per step keeps the cost per k at one (C, R, N) addition. log(sum / k)
        # is the log-space ensemble average of metrics.ensemble_log_mean, evaluated in float64.
        np.add(self.sums, self.probs[members].transpose(1, 0, 2), out=self.sums)
        pbar = self.sums / k
        self.z, self.z_y = m.shift_log_probs(_log(pbar), self.labels)
        p_max = pbar.max(axis=0)
        self.top = _arg_max(pbar, p_max)
        self.correct = self.top == self.labels
        p_y = np.take_along_axis(pbar, np.broadcast_to(self.labels, p_max.shape)[None], axis=0)[0]
        nll = -np.log(m.NLL_EPS + p_y)
        # The cross-validation's fits start from the last k's; its rule "never worse than tau = 1" takes the NLL
        # of pbar, which is the temperature NLL at tau = 1 up to rounding.
        cnll, self.beta_cv = self.folds.cnll(self.z, self.z_y, _shared_start(self.beta_cv), threads, at_one=nll)
        return {
            "error": np.mean(~self.correct, axis=1),
            "nll": np.mean(nll, axis=1),
            # Brier expanded as in metrics.brier: sum_c p_c^2 - 2 p_y + 1.
            "brier": np.mean(np.einsum("crn,crn->rn", pbar, pbar) - 2.0 * p_y + 1.0, axis=1),
            "ece": m.ece_rows(p_max, self.correct, n_bins),
            "auroc": self.auroc(-_off_top(pbar, self.top), self.correct),
            "cnll": cnll,
        }

    def fit(self, threads: int) -> np.ndarray:
        """beta (R,) fitted on this (validation) split's ensembles of the current k, warm-started from the last."""
        self.beta_val = m.fit_betas(self.z, self.z_y, self.beta_val, threads)
        return self.beta_val

    def scaled(self, beta: np.ndarray, n_bins: int) -> dict[str, np.ndarray]:
        """cnll_val, brier_t, ece_t, auroc_t (R,) of the current ensembles scaled by beta_r = 1 / tau_r."""
        b = beta[:, None]
        e = np.exp(self.z * b)  # the arg-max class has z = 0, so e = 1 there and the sum is at least 1
        s0 = e.sum(axis=0)
        q_y = np.exp(b * self.z_y - np.log(s0))  # as metrics.temperature_terms computes it
        return {
            "cnll_val": -np.mean(np.log(q_y + m.NLL_EPS), axis=1),
            "brier_t": np.mean(np.einsum("crn,crn->rn", e, e) / (s0 * s0) - 2.0 * q_y + 1.0, axis=1),
            "ece_t": m.ece_rows(1.0 / s0, self.correct, n_bins),
            "auroc_t": self.auroc_t(-_off_top(e, self.top) / s0, self.correct),
            "tau_val": 1.0 / beta,
        }


def _shared_start(last: np.ndarray | None) -> np.ndarray | None:
    """Where the next k's cross-validation fits start: each order's last fits pooled into one beta (geometric
    mean) that all its fits share, so that the first evaluation is one pass for them all
    (metrics.CrossValidation.cnll)."""
    if last is None:
        return None
    return np.broadcast_to(np.exp(np.log(last).mean(axis=1, keepdims=True)), last.shape)


def ensemble_curves(
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    val_probs: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    options: EvalOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    threads: int | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Metrics of the ensemble of the first k members, k = 1..K, as (K, 2) [mean, std over orders].

    Returns {"test": {metric: (K, 2)}, "val": {...}}; "val" only when validation predictions are
    given. Row k - 1 holds ensemble size k. Row 0 (k = 1) is exact: the mean and std over every single
    row. Rows k >= 2 average options.n_orders random permutations drawn from options.seed (none of
    them the identity); the std is the population std (ddof 0) over those orders. With
    options.in_order, row k - 1 is the ensemble of the first k rows as given (std 0).

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

    All orders of one k are computed at once, and every temperature fit (all orders, runs and folds) is one
    batched search warm-started from the previous k's; threads (default: torch's thread count where torch is
    loaded, else the cores) share the work and do not change the numbers.

    progress(done, total) is called for every (order, k) cell, k by k; raising from it (for instance
    CancelledError) stops the evaluation.
    """
    options = EvalOptions() if options is None else options
    threads = _threads() if threads is None else max(1, threads)
    test_probs, test_labels = _check_stack(test_probs, test_labels, "test")
    given: dict[str, tuple[np.ndarray, np.ndarray]] = {"test": (test_probs, test_labels)}
    if (val_probs is None) != (val_labels is None):
        raise ValueError("give both val_probs and val_labels, or neither")
    has_val = val_probs is not None
    if has_val:
        val_probs, val_labels = _check_stack(val_probs, val_labels, "val")
        if val_probs.shape[0] != test_probs.shape[0] or val_probs.shape[2] != test_probs.shape[2]:
            raise ValueError(
                f"val probs {val_probs.shape} and test probs {test_probs.shape} must have the same K and C"
            )
        given["val"] = (val_probs, val_labels)

    n_members = test_probs.shape[0]
    orders = np.arange(n_members)[None] if options.in_order else member_orders(n_members, options.n_orders, options.seed)
    names = list(m.METRIC_NAMES) + (["brier_t", "ece_t", "auroc_t", "tau_val"] if has_val else [])
    values = {s: {n: np.full((options.n_orders, n_members), np.nan) for n in names} for s in given}
    splits = {s: _Split.of(s, p, y, options) for s, (p, y) in given.items()}
    total = options.n_orders * n_members

    for k in range(1, n_members + 1):
        computed = {s: split.add(orders[:, k - 1], k, options.n_bins, threads) for s, split in splits.items()}
        if has_val:
            beta = splits["val"].fit(threads)
            for s, split in splits.items():
                computed[s] |= split.scaled(beta, options.n_bins)
        for s, metrics in computed.items():
            for name, v in metrics.items():
                values[s][name][:, k - 1] = v
        if progress is not None:
            for r in range(options.n_orders):
                progress((k - 1) * options.n_orders + r + 1, total)

    curves = {
        s: {name: np.stack([v.mean(axis=0), v.std(axis=0)], axis=1) for name, v in per.items()}
        for s, per in values.items()
    }
    for s, per in ({} if options.in_order else _single_rows(given, options, names, threads)).items():
        for name, v in per.items():
            curves[s][name][0] = [v.mean(), v.std()]
    return curves


# Single rows evaluated together in _single_rows: (C, 16, N) float64 running sums are 13 MB for 10k objects.
_SINGLES_CHUNK = 16
# Fold streams of the single rows, apart from the orders' (0 .. n_orders - 1).
_SINGLE_STREAM = 1 << 20


def _single_rows(given: dict[str, tuple[np.ndarray, np.ndarray]], options: EvalOptions, names: list[str],
                 threads: int) -> dict[str, dict[str, np.ndarray]]:
    """Every metric of the curves for each row alone (K,): the exact k = 1 row is their mean and std, which a
    few random orders would only sample. Row j's cross-validation folds have a stream of their own."""
    n_members = next(iter(given.values()))[0].shape[0]
    out = {s: {n: np.full(n_members, np.nan) for n in names} for s in given}
    for first in range(0, n_members, _SINGLES_CHUNK):
        rows = np.arange(first, min(first + _SINGLES_CHUNK, n_members))
        splits = {s: _Split.of(s, p, y, options, streams=_SINGLE_STREAM + rows) for s, (p, y) in given.items()}
        computed = {s: split.add(rows, 1, options.n_bins, threads) for s, split in splits.items()}
        if "val" in splits:
            beta = splits["val"].fit(threads)
            for s, split in splits.items():
                computed[s] |= split.scaled(beta, options.n_bins)
        for s, metrics in computed.items():
            for name, v in metrics.items():
                out[s][name][rows] = v
    return out


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
    # The members' temperatures in batched searches (metrics.cnll_oracle of each, as one fit per member).
    for first in range(0, probs.shape[0], _MEMBER_CHUNK):
        chunk = np.asarray(probs[first:first + _MEMBER_CHUNK], dtype=np.float64).transpose(2, 0, 1)
        z, z_y = m.shift_log_probs(_log(chunk), labels)
        beta = m.fit_betas(z, z_y, threads=_threads())
        out["cnll"][first:first + _MEMBER_CHUNK] = m.temperature_terms(z, z_y, beta[:, None], derivatives=False)[0].mean(axis=1)
    return out


# Members fitted together in member_metrics: (C, 16, N) float64 is 13 MB for 10k objects and 10 classes.
_MEMBER_CHUNK = 16


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
