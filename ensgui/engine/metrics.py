"""Metrics of (ensemble-averaged) class probabilities: error, NLL, Brier, ECE, AUROC, calibrated NLL."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import entr, logsumexp
from scipy.stats import rankdata

METRIC_NAMES: tuple[str, ...] = ("error", "nll", "cnll", "cnll_val", "brier", "ece", "auroc")

# PE metrics.py adds this inside the log so that a zero probability costs a finite amount.
NLL_EPS = 1e-12

# Bounds and tolerance of the search over log(tau) (methods.md section 5).
LOG_TAU_BOUNDS = (-5.0, 5.0)
LOG_TAU_XATOL = 1e-4


def _check(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, C), got {probs.shape}")
    if labels.shape != (probs.shape[0],):
        raise ValueError(f"labels must have shape ({probs.shape[0]},), got {labels.shape}")
    return probs, labels.astype(np.int64, copy=False)


def _label_probs(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return probs[np.arange(labels.shape[0]), labels]


def error(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of objects whose arg-max class is not the label (0..1)."""
    probs, labels = _check(probs, labels)
    return float(np.mean(np.argmax(probs, axis=1) != labels))


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Negative log-likelihood -mean log(1e-12 + p[y])."""
    probs, labels = _check(probs, labels)
    return float(-np.mean(np.log(NLL_EPS + _label_probs(probs, labels))))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Brier score mean_i sum_c (p_c - [c = y_i])^2 (0..2)."""
    probs, labels = _check(probs, labels)
    # Expanding the square avoids building the one-hot matrix.
    p_y = _label_probs(probs, labels)
    return float(np.mean(np.einsum("nc,nc->n", probs, probs) - 2.0 * p_y + 1.0))


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin statistics of max-probability confidence; empty bins hold nan confidence/accuracy."""

    edges: np.ndarray  # (n_bins + 1,) equal-width bin edges on [0, 1]; bin b is (edges[b], edges[b+1]]
    confidence: np.ndarray  # (n_bins,) mean max-probability in the bin
    accuracy: np.ndarray  # (n_bins,) fraction correctly classified in the bin
    count: np.ndarray  # (n_bins,) int64 number of objects in the bin

    @property
    def ece(self) -> float:
        """Count-weighted mean of |accuracy - confidence| over the non-empty bins."""
        total = int(self.count.sum())
        if total == 0:
            return float("nan")
        filled = self.count > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(self.count[filled] * gaps) / total)


def reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> ReliabilityDiagram:
    """Bin objects by max probability into n_bins equal-width bins and summarise each bin."""
    probs, labels = _check(probs, labels)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    conf = probs.max(axis=1)
    correct = (np.argmax(probs, axis=1) == labels).astype(np.float64)
    # Bins are right-closed (lo, hi] as in PE metrics.py; confidence 0 cannot occur but is kept in bin 0.
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, acc_sum / count, np.nan)
    return ReliabilityDiagram(edges=edges, confidence=confidence, accuracy=accuracy, count=count)


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error with n_bins equal-width bins of max-probability confidence."""
    return reliability(probs, labels, n_bins).ece


def entropy(probs: np.ndarray) -> np.ndarray:
    """Predictive entropy of every row (nats), with 0 log 0 = 0."""
    return entr(np.asarray(probs, dtype=np.float64)).sum(axis=1)


def auroc(probs: np.ndarray, labels: np.ndarray, score: str = "maxprob") -> float:
    """Misclassification ROC-AUC: how well the confidence separates correct (positive) from wrong objects.

    score "maxprob" uses the max probability, "entropy" the negative entropy. Ties count one half
    (Mann-Whitney with average ranks). nan when all objects are correct or all are wrong.
    """
    probs, labels = _check(probs, labels)
    if score == "maxprob":
        # Ranked by minus the mass off the top class, 1 - p_max without the cancellation: a confident net's
        # stored float32 p_max rounds to exactly 1 for many right and wrong objects alike, and those ties
        # would pull the AUROC towards 0.5; the small probabilities keep their relative precision.
        s = -np.sort(probs, axis=1)[:, :-1].sum(axis=1)
    elif score == "entropy":
        s = -entropy(probs)
    else:
        raise ValueError(f"score must be 'maxprob' or 'entropy', got {score!r}")
    return rank_auroc(s, np.argmax(probs, axis=1) == labels)


def rank_auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUROC of a score separating positive from negative objects; ties one half, nan if one class."""
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score, method="average")
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def ensemble_log_mean(log_probs: np.ndarray) -> np.ndarray:
    """Log of the members' average probabilities: logsumexp over axis 0 of (K, N, C) minus log K."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must have shape (K, N, C), got {log_probs.shape}")
    return logsumexp(log_probs, axis=0) - np.log(log_probs.shape[0])


def apply_temperature(log_pbar: np.ndarray, tau: float) -> np.ndarray:
    """Temperature-scaled probabilities softmax(log_pbar / tau) of shape (N, C)."""
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    z = np.asarray(log_pbar, dtype=np.float64) / tau
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class _TemperatureObjective:
    """NLL of softmax(log_pbar / tau) as a function of log tau, with the row-constant work done once.

    The data are held as blocks of (C, n) shifted log-probabilities: class-major storage makes the
    per-object sum over classes a contiguous reduction, and blocks let the cross-validation pool
    folds without copying them together again.
    """

    def __init__(self, log_pbar: np.ndarray, labels: np.ndarray) -> None:
        log_pbar = np.asarray(log_pbar, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        if log_pbar.ndim != 2 or labels.shape != (log_pbar.shape[0],):
            raise ValueError(f"log_pbar (N, C) and labels (N,) do not match: {log_pbar.shape}, {labels.shape}")
        # Shifting every row so its max is 0 keeps exp(z / tau) in [0, 1] for every tau > 0, so no
        # per-evaluation max is needed and the sum over classes is at least 1.
        z = log_pbar - log_pbar.max(axis=1, keepdims=True)
        self.blocks = [(np.ascontiguousarray(z.T), z[np.arange(labels.shape[0]), labels])]
        self.n = labels.shape[0]

    @classmethod
    def _from_blocks(cls, blocks: list[tuple[np.ndarray, np.ndarray]]) -> _TemperatureObjective:
        obj = object.__new__(cls)
        obj.blocks = blocks
        obj.n = sum(z_y.shape[0] for _, z_y in blocks)
        return obj

    def subset(self, index: np.ndarray) -> _TemperatureObjective:
        # Sorted gathers walk memory forwards; the order of objects does not change a mean.
        index = np.sort(index)
        (zt, z_y), = self.blocks
        return self._from_blocks([(np.take(zt, index, axis=1), z_y[index])])

    @classmethod
    def pooled(cls, parts: list[_TemperatureObjective]) -> _TemperatureObjective:
        return cls._from_blocks([b for part in parts for b in part.blocks])

    def nll_at_beta(self, beta: float) -> float:
        total = 0.0
        for zt, z_y in self.blocks:
            scaled = np.multiply(zt, beta)
            np.exp(scaled, out=scaled)
            lse = np.log(np.add.reduce(scaled, axis=0))
            log_p_y = np.multiply(z_y, beta)
            log_p_y -= lse
            # Same 1e-12 as nll(), so that tau = 1 reproduces the unscaled NLL.
            np.exp(log_p_y, out=log_p_y)
            log_p_y += NLL_EPS
            total += float(np.log(log_p_y, out=log_p_y).sum())
        return -total / self.n

    def __call__(self, log_tau: float) -> float:
        return self.nll_at_beta(float(np.exp(-log_tau)))

    def fit(self) -> tuple[float, float]:
        """(tau, NLL at tau) minimising the NLL; never worse than tau = 1 on this set."""
        if self.n == 0:
            return 1.0, float("nan")
        at_one = self.nll_at_beta(1.0)
        res = minimize_scalar(self, bounds=LOG_TAU_BOUNDS, method="bounded", options={"xatol": LOG_TAU_XATOL})
        if np.isfinite(res.fun) and res.fun < at_one:
            return float(np.exp(res.x)), float(res.fun)
        return 1.0, at_one


def fit_temperature(log_pbar: np.ndarray, labels: np.ndarray) -> float:
    """Temperature tau minimising the NLL of softmax(log_pbar / tau) on (log_pbar, labels)."""
    return _TemperatureObjective(log_pbar, labels).fit()[0]


def fit_temperature_with_nll(log_pbar: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(tau, NLL at tau) on the fit set: fit_temperature and cnll_oracle in one search."""
    return _TemperatureObjective(log_pbar, labels).fit()


def temperature_nll(log_pbar: np.ndarray, labels: np.ndarray, tau: float) -> float:
    """NLL of softmax(log_pbar / tau), computed like nll()."""
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    return _TemperatureObjective(log_pbar, labels).nll_at_beta(1.0 / tau)


def cnll_oracle(log_pbar: np.ndarray, labels: np.ndarray) -> float:
    """Calibrated NLL with tau fitted and evaluated on the same set (the paper's definition)."""
    return _TemperatureObjective(log_pbar, labels).fit()[1]


def cnll_cv(
    log_pbar: np.ndarray,
    labels: np.ndarray,
    n_splits: int = 2,
    n_runs: int = 5,
    rng: np.random.Generator | int | None = None,
) -> float:
    """Calibrated NLL by test-time cross-validation (PE metrics_kfold).

    Each run shuffles the set with rng and cuts it into n_splits folds; tau is fitted on all folds
    but one and the NLL is measured on the held-out fold. The result is the plain mean over all
    n_splits * n_runs held-out folds.
    """
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2, got {n_splits}")
    if n_runs < 1:
        raise ValueError(f"n_runs must be >= 1, got {n_runs}")
    objective = _TemperatureObjective(log_pbar, labels)
    if objective.n < n_splits:
        raise ValueError(f"cannot cut {objective.n} objects into {n_splits} folds")
    rng = np.random.default_rng(rng)
    total = 0.0
    for _ in range(n_runs):
        # array_split gives the same fold sizes as sklearn's KFold.
        folds = [objective.subset(f) for f in np.array_split(rng.permutation(objective.n), n_splits)]
        for i, held_out in enumerate(folds):
            tau, _ = _TemperatureObjective.pooled([f for j, f in enumerate(folds) if j != i]).fit()
            total += held_out.nll_at_beta(1.0 / tau)
    return total / (n_splits * n_runs)


def misclassification_auroc_by_margin(margins: np.ndarray, correct: np.ndarray) -> float:
    """How well the margin separates correct (positive) from misclassified objects (0..1, nan if one class)."""
    margins = np.asarray(margins, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if margins.ndim != 1 or correct.shape != margins.shape:
        raise ValueError(f"margins and correct must be 1-D of one length, got {margins.shape} and {correct.shape}")
    return rank_auroc(margins, correct)
