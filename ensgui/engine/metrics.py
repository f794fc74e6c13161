"""Metrics of (ensemble-averaged) class probabilities: error, NLL, Brier, ECE, AUROC, calibrated NLL."""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.special import entr, logsumexp

METRIC_NAMES: tuple[str, ...] = ("error", "nll", "cnll", "cnll_val", "brier", "ece", "auroc")

# PE metrics.py adds this inside the log so that a zero probability costs a finite amount.
NLL_EPS = 1e-12

# Bounds of the search over log(tau) (methods.md section 5).
LOG_TAU_BOUNDS = (-5.0, 5.0)


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
    return float(rank_auroc_rows(np.asarray(score)[None], np.asarray(positive, dtype=bool)[None])[0])


def rank_auroc_rows(score: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """rank_auroc of every row of (B, N) scores and positive flags, as (B,)."""
    return AurocRows()(score, positive)


class AurocRows:
    """rank_auroc of rows of (B, N) scores that change little from one call to the next (an ensemble that grows
    by one member): each call sorts the rows from the order that sorted them last time, which a merge sort does
    in near-linear time (5-15x faster than sorting afresh). The result does not depend on the previous rows."""

    def __init__(self) -> None:
        self._order: np.ndarray | None = None  # (B, N) flat indices into the last score array

    def __call__(self, score: np.ndarray, positive: np.ndarray) -> np.ndarray:
        n_rows, n = score.shape
        flat = score.ravel()
        if self._order is None or self._order.shape != score.shape:
            self._order = np.argsort(score, axis=1) + n * np.arange(n_rows)[:, None]
        nearly = flat[self._order]
        moves = np.argsort(nearly, axis=1, kind="stable")
        self._order = np.take_along_axis(self._order, moves, axis=1)
        ranked = flat[self._order]
        flags = positive.ravel()[self._order]
        n_pos = flags.sum(axis=1)
        n_neg = n - n_pos
        # Without ties U = sum over positives of the negatives ranked below = sum of their positions minus the
        # positives below each: sum(position) - n_pos (n_pos - 1) / 2.
        u = (flags * np.arange(n)).sum(axis=1) - n_pos * (n_pos - 1) / 2.0
        ties = (ranked[:, 1:] == ranked[:, :-1]).any(axis=1)
        out = np.full(n_rows, np.nan)
        for row in range(n_rows):
            if n_pos[row] and n_neg[row]:
                out[row] = _sorted_auroc(ranked[row], flags[row]) if ties[row] else u[row] / (n_pos[row] * n_neg[row])
        return out


def _sorted_auroc(ranked: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUROC of ascending scores and their positive flags; ties count one half."""
    n_pos = int(positive.sum())
    n_neg = positive.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    negatives_so_far = np.cumsum(~positive)
    new_value = np.empty(ranked.shape[0], bool)
    new_value[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new_value[1:])
    # A positive counts the negatives before its group of equal scores, and half of those within it.
    group = np.cumsum(new_value) - 1
    starts = np.flatnonzero(new_value)
    before = (negatives_so_far - ~positive)[starts]
    within = np.add.reduceat((~positive).astype(np.int64), starts)
    u = float(before[group[positive]].sum()) + 0.5 * float(within[group[positive]].sum())
    return u / (n_pos * n_neg)


def ece_rows(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> np.ndarray:
    """ece of every row of (B, N) max-probability confidences and correct flags, as (B,): one bincount for all."""
    n_rows, n = confidence.shape
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins (edges[b], edges[b + 1]] as in reliability(), whose searchsorted this reproduces: the
    # bin by arithmetic, then corrected by one where rounding put an object next to its bin. The count-weighted
    # |accuracy - confidence| of a bin is |sum of correct - sum of confidences| over its objects.
    index = np.clip(np.ceil(confidence * n_bins).astype(np.intp) - 1, 0, n_bins - 1)
    index -= (confidence <= edges[index]) & (index > 0)
    index += (confidence > edges[index + 1]) & (index < n_bins - 1)
    index += n_bins * np.arange(n_rows)[:, None]
    conf_sum = np.bincount(index.ravel(), confidence.ravel(), minlength=n_rows * n_bins)
    acc_sum = np.bincount(index.ravel(), correct.ravel().astype(np.float64), minlength=n_rows * n_bins)
    return np.abs(acc_sum - conf_sum).reshape(n_rows, n_bins).sum(axis=1) / n


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


# Temperature scaling. The NLL of softmax(beta * z) is convex in beta = 1 / tau (a log-sum-exp of functions
# linear in beta, minus a linear one; the 1e-12 inside the log bends it only where p_y falls below about 1e-6),
# so every fit is a safeguarded Newton search over beta with the exact first two derivatives of the clamped
# objective, run for many fits at once (orders, cross-validation runs and folds) and warm-started by the caller.
#
# Data layout: class-major (C, *B, N) log-probabilities, shifted so that every object's max is 0 (exp(beta * z)
# then lies in [0, 1] for every beta and the sum over classes is at least 1), reduced over axis 0 (adding C
# contiguous rows). The search evaluates in float32 with float64 sums (its fixed point moves tau by about 1e-8);
# the NLLs reported (held-out folds, calibrated NLLs) are evaluated in float64.

_BETA_MIN, _BETA_MAX = math.exp(-LOG_TAU_BOUNDS[1]), math.exp(-LOG_TAU_BOUNDS[0])
# Newton stops once its step in log beta is below this; the step is still taken and convergence is quadratic
# (the error after a step was at most 2 step^2 on the bench's ensembles), so a fit is exact to about 2e-7 in log
# tau, 500 times closer than the Brent search it replaces (1e-4). The bound lets a cross-validation warm-started
# from the last k end after one pass per run (its steps are about 1.5e-4 there).
BETA_RTOL = 3e-4
_MAX_STEPS = 100
SEARCH_DTYPE = np.float32
# exp(beta * floor) is exactly 0 for every beta in the bounds, as exp(-inf) is, but floor * 0 is 0, not nan.
_Z_FLOOR = -1e6
# Objects per unit of work, which threads share (the blocks do not depend on the thread count, so neither do the
# numbers). Measured on 2 cores: blocks of 2,500 objects of 5 orders x 5 runs run 1.6-1.8x faster on 2 threads;
# blocks of 5,000 not at all in float64 (their temporaries, 10 MB each, no longer fit the caches).
_BLOCK = 2560


def shift_log_probs(log_pbar: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class-major (C, *B, N) log-probabilities shifted to a max of 0 per object (zeros floored), and (*B, N) at labels."""
    z = np.subtract(log_pbar, log_pbar.max(axis=0), order="C")  # reductions over axis 0 need C order
    np.maximum(z, _Z_FLOOR, out=z)
    index = np.broadcast_to(np.asarray(labels, dtype=np.int64), z.shape[1:])[None]
    return z, np.take_along_axis(z, index, axis=0)[0]


def _class_major(log_pbar: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    log_pbar = np.asarray(log_pbar, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if log_pbar.ndim != 2 or labels.shape != (log_pbar.shape[0],):
        raise ValueError(f"log_pbar (N, C) and labels (N,) do not match: {log_pbar.shape}, {labels.shape}")
    if labels.shape[0] == 0:
        return np.zeros((log_pbar.shape[1], 1, 0)), np.zeros((1, 0))
    return shift_log_probs(log_pbar.T[:, None, :], labels)


def temperature_terms(
    z: np.ndarray, z_y: np.ndarray, beta: np.ndarray | float, derivatives: bool = True
) -> tuple[np.ndarray, ...]:
    """Per-object NLL -log(1e-12 + softmax(beta z)_y) and, with derivatives, its first two derivatives in beta.

    z is (C, *B) shifted class-major log-probabilities, z_y (*B) its label entries, beta broadcasts to (*B);
    computed in z's dtype. Returns (f,) or (f, df/dbeta, d2f/dbeta2), each of shape (*B).
    """
    e = np.multiply(z, beta)
    np.exp(e, out=e)
    s0 = e.sum(axis=0)
    log_p_y = beta * z_y - np.log(s0)
    p_y = np.exp(log_p_y)
    # Same 1e-12 as nll(), so that tau = 1 reproduces the unscaled NLL.
    f = -np.log(p_y + NLL_EPS)
    if not derivatives:
        return (f,)
    # log p_y = beta z_y - lse(beta z) has derivative z_y - E[z] and second derivative -Var[z] under softmax(beta z);
    # the clamp weighs them by w = p_y / (eps + p_y) and adds the curvature of log(eps + exp(.)).
    ez = np.multiply(e, z, out=e)
    s1 = ez.sum(axis=0)
    ez *= z
    s2 = ez.sum(axis=0)
    mean = s1 / s0
    var = s2 / s0 - mean * mean
    d = z_y - mean
    w = p_y / (p_y + NLL_EPS)
    v = NLL_EPS / (p_y + NLL_EPS)
    return f, -w * d, w * (var - v * d * d)


def _newton(evaluate, beta0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimise independent objectives of beta in the bounds; evaluate(beta, active) gives (F,) sums f, f', f''.

    Safeguarded Newton in log beta (where the NLL is closer to a parabola than in beta): every evaluation narrows
    a bracket [lo, hi] by the sign of the derivative; a step moves log beta by at most 1, and one that is not
    defined (curvature <= 0) or leaves the bracket bisects it instead, or tries the bound it points beyond (so
    a minimum beyond a bound ends exactly there). Returns beta (F,) and f at the last point evaluated.
    """
    t = np.log(np.clip(np.array(beta0, dtype=np.float64), _BETA_MIN, _BETA_MAX))
    lo, hi = np.full_like(t, math.log(_BETA_MIN)), np.full_like(t, math.log(_BETA_MAX))
    lo_seen, hi_seen = np.zeros(t.shape, bool), np.zeros(t.shape, bool)
    value = np.full_like(t, np.nan)
    active = np.ones(t.shape, bool)
    for _ in range(_MAX_STEPS):
        beta = np.exp(t)
        f, g, h = evaluate(beta, active)
        value = np.where(active, f, value)
        g_t, h_t = beta * g, beta * beta * h + beta * g
        rising, falling = active & (g_t > 0), active & (g_t < 0)
        hi, hi_seen = np.where(rising, t, hi), hi_seen | rising
        lo, lo_seen = np.where(falling, t, lo), lo_seen | falling
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = np.clip(np.where(h_t > 0, t - g_t / h_t, np.nan), t - 1.0, t + 1.0)
        step = np.where(
            (newton > lo) & (newton < hi),
            newton,
            np.where((newton >= hi) & ~hi_seen, hi, np.where((newton <= lo) & ~lo_seen, lo, 0.5 * (lo + hi))),
        )
        step = np.where(g_t == 0, t, step)
        done = np.abs(step - t) <= BETA_RTOL
        t = np.where(active, step, t)
        active &= ~done
        if not active.any():
            break
    return np.exp(t), value


@functools.lru_cache(maxsize=None)
def _executor(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="ensgui-metrics")


def _map(fn, items: list, threads: int) -> list:
    """fn over items, in threads (numpy's loops release the GIL); results in the order of items."""
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    return list(_executor(threads).map(fn, items))


def _blocks(n: int) -> list[slice]:
    edges = np.linspace(0, n, -(-n // _BLOCK) + 1).astype(int) if n else np.array([0, 0])
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def fit_betas(
    z: np.ndarray, z_y: np.ndarray, beta0: np.ndarray | None = None, threads: int = 1
) -> np.ndarray:
    """beta = 1 / tau (G,) minimising the NLL of each of G sets of shifted log-probabilities z (C, G, N).

    Never worse than tau = 1 on its set (beta = 1 is kept unless the minimum is lower). beta0 warm-starts the
    search (default 1). The float32 search ends with one Newton step in float64, so that a fit does not depend
    on where the search started (a whole-set fit is cheap next to the cross-validation's).
    """
    n_sets, n = z_y.shape
    blocks = _blocks(n)

    def sums(z: np.ndarray, z_y: np.ndarray, derivatives: bool = True):
        def evaluate(beta: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
            b_sets = beta.astype(z.dtype)[:, None]

            def one(b: slice) -> np.ndarray:
                terms = temperature_terms(z[:, :, b], z_y[:, b], b_sets, derivatives)
                return np.stack([t.sum(axis=1, dtype=np.float64) for t in terms])

            return tuple(np.sum(_map(one, blocks, threads), axis=0))

        return evaluate

    every = np.ones(n_sets, bool)
    at_one, = sums(z, z_y, derivatives=False)(np.ones(n_sets), every)
    beta, _ = _newton(sums(z.astype(SEARCH_DTYPE), z_y.astype(SEARCH_DTYPE)), np.ones(n_sets) if beta0 is None else beta0)
    f, g, h = sums(z, z_y)(beta, every)
    g_t, h_t = beta * g, beta * beta * h + beta * g
    with np.errstate(divide="ignore", invalid="ignore"):
        polished = np.clip(beta * np.exp(-g_t / h_t), _BETA_MIN, _BETA_MAX)
    # Only a step as small as the float32 search's error is taken (none where the minimum lies at a bound).
    beta = np.where((h_t > 0) & (np.abs(polished / beta - 1.0) < 1e-5), polished, beta)
    return np.where(np.isfinite(f) & (f < at_one), beta, 1.0)


@dataclass(frozen=True)
class CrossValidation:
    """Test-time cross-validation folds of G sets of N objects: fold (G, J, N) is each object's fold in each run."""

    fold: np.ndarray
    n_splits: int

    @classmethod
    def draw(cls, n: int, n_splits: int, n_runs: int, rngs: list[np.random.Generator]) -> CrossValidation:
        """One set per rng: n_runs shuffles of n objects, each cut into n_splits folds as sklearn's KFold sizes."""
        fold = np.empty((len(rngs), n_runs, n), dtype=np.int64)
        for g, rng in enumerate(rngs):
            for j in range(n_runs):
                for i, part in enumerate(np.array_split(rng.permutation(n), n_splits)):
                    fold[g, j, part] = i
        return cls(fold, n_splits)

    @functools.cached_property
    def _layout(self) -> _FoldLayout:
        n_sets, n_runs, n = self.fold.shape
        s = self.n_splits
        # Fit i (held-out fold i) is fitted on every object outside fold i: the t-th fit of an object of fold f
        # is t, skipping f.
        t = np.arange(s - 1)[None, None, :, None]
        member = t + (t >= self.fold[:, :, None, :])  # (G, J, S - 1, N)
        in_fit = np.ones((n_sets, n, n_runs, s))
        np.put_along_axis(in_fit, self.fold.transpose(0, 2, 1)[..., None], 0.0, axis=3)
        sizes = np.stack([[np.bincount(f, minlength=s) for f in runs] for runs in self.fold])  # (G, J, S)
        weight = 1.0 / (np.take_along_axis(sizes, self.fold, axis=2) * s * n_runs)
        return _FoldLayout(
            np.stack([member == i for i in range(s)]).astype(SEARCH_DTYPE),
            in_fit.reshape(n_sets, n, n_runs * s),
            np.stack([self.fold == i for i in range(s)]).astype(np.float64),
            weight,
        )

    def cnll(
        self, z: np.ndarray, z_y: np.ndarray, beta0: np.ndarray | None = None, threads: int = 1,
        at_one: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Cross-validated calibrated NLL (G,) of z (C, G, N), and beta (G, J * S) of every fit (fit j * S + i
        held fold i of run j out); beta0 warm-starts the search. at_one (G, N), the NLL of every object at
        tau = 1 where the caller has it, saves computing it for the rule "never worse than tau = 1".

        Where the fits of every set start from one beta per set (as at tau = 1), the first evaluation is one
        pass over the sets instead of one per run. The caller warm-starts that way: the Newton step from it is
        within about 1e-4 of every fit (the fits of a set differ by fold noise), and one pass per run ends it.
        """
        n_sets, n_runs, n = self.fold.shape
        s = self.n_splits
        n_fits = n_runs * s
        layout = self._layout
        zs, zys = z.astype(SEARCH_DTYPE), z_y.astype(SEARCH_DTYPE)
        blocks = _blocks(n)

        def evaluate(beta: np.ndarray, active: np.ndarray, derivatives: bool = True) -> tuple[np.ndarray, ...]:
            # Every fit is evaluated until all are done: batched, and after a warm start all end together.
            per_set = beta.reshape(n_sets, n_fits)
            shared = bool(np.all(per_set == per_set[:, :1]))
            b32 = per_set.astype(SEARCH_DTYPE).reshape(n_sets, n_runs, s, 1, 1)

            def one(b: slice) -> np.ndarray:
                if shared:  # one pass for every fit of a set: (terms, G, N) summed per fit by in_fit
                    terms = temperature_terms(zs[:, :, b], zys[:, b], b32[:, 0, 0, 0], derivatives)
                    per_object = np.stack(terms, axis=1).astype(np.float64)  # (G, terms, n)
                    return (per_object @ layout.in_fit[:, b]).transpose(1, 0, 2)
                masks = layout.fit_mask[..., b]  # (S, G, J, S - 1, n): which fit of its run an object is in
                per_object = sum(b32[:, :, i] * masks[i] for i in range(s))
                terms = temperature_terms(zs[:, :, None, None, b], zys[:, None, None, b], per_object, derivatives)
                # Sums per fit in float64: (terms, G, J, S).
                return np.stack([np.stack([np.sum(t * masks[i], axis=(2, 3), dtype=np.float64) for i in range(s)], -1)
                                 for t in terms])

            parts = _map(one, blocks, threads)
            return tuple(np.sum(parts, axis=0).reshape(3 if derivatives else 1, -1))

        if at_one is None:
            at_one, = evaluate(np.ones(n_sets * n_fits), np.ones(n_sets * n_fits, bool), derivatives=False)
        else:
            at_one = (at_one[:, None, :] @ layout.in_fit).ravel()
        beta, value = _newton(evaluate, np.ones(n_sets * n_fits) if beta0 is None else np.ravel(beta0))
        beta = np.where(np.isfinite(value) & (value < at_one), beta, 1.0)

        held = beta.reshape(n_sets, n_runs, s, 1)

        def held_out(b: slice) -> np.ndarray:
            per_object = sum(held[:, :, i] * layout.fold_mask[i, ..., b] for i in range(s))  # (G, J, n)
            f, = temperature_terms(z[:, :, None, b], z_y[:, None, b], per_object, derivatives=False)
            return np.sum(f * layout.weight[..., b], axis=(1, 2))

        return np.sum(_map(held_out, blocks, threads), axis=0), beta.reshape(n_sets, n_fits)


@dataclass(frozen=True)
class _FoldLayout:
    """Where the objects of a CrossValidation go (G sets, J runs, S splits, N objects; fits (set, run, fold))."""

    fit_mask: np.ndarray  # (S, G, J, S - 1, N) 1 where the (t-th) fit of its run that an object is in is fit i
    in_fit: np.ndarray  # (G, N, J * S) 1 where an object is in a fit of its set, to sum from one pass for all runs
    fold_mask: np.ndarray  # (S, G, J, N) 1 where an object is in fold i of a run (held out by fit i)
    weight: np.ndarray  # (G, J, N) its weight in the mean over held-out folds


def fit_temperature(log_pbar: np.ndarray, labels: np.ndarray) -> float:
    """Temperature tau minimising the NLL of softmax(log_pbar / tau) on (log_pbar, labels)."""
    return fit_temperature_with_nll(log_pbar, labels)[0]


def fit_temperature_with_nll(log_pbar: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(tau, NLL at tau) on the fit set: fit_temperature and cnll_oracle in one search."""
    z, z_y = _class_major(log_pbar, labels)
    if z_y.size == 0:
        return 1.0, float("nan")
    beta = float(fit_betas(z, z_y)[0])
    return 1.0 / beta, float(np.mean(temperature_terms(z, z_y, beta, derivatives=False)[0]))


def temperature_nll(log_pbar: np.ndarray, labels: np.ndarray, tau: float) -> float:
    """NLL of softmax(log_pbar / tau), computed like nll()."""
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    z, z_y = _class_major(log_pbar, labels)
    return float(np.mean(temperature_terms(z, z_y, 1.0 / tau, derivatives=False)[0]))


def cnll_oracle(log_pbar: np.ndarray, labels: np.ndarray) -> float:
    """Calibrated NLL with tau fitted and evaluated on the same set (the paper's definition)."""
    return fit_temperature_with_nll(log_pbar, labels)[1]


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
    z, z_y = _class_major(log_pbar, labels)
    n = z_y.shape[1]
    if n < n_splits:
        raise ValueError(f"cannot cut {n} objects into {n_splits} folds")
    folds = CrossValidation.draw(n, n_splits, n_runs, [np.random.default_rng(rng)])
    return float(folds.cnll(z, z_y)[0][0])


def misclassification_auroc_by_margin(margins: np.ndarray, correct: np.ndarray) -> float:
    """How well the margin separates correct (positive) from misclassified objects (0..1, nan if one class)."""
    margins = np.asarray(margins, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if margins.ndim != 1 or correct.shape != margins.shape:
        raise ValueError(f"margins and correct must be 1-D of one length, got {margins.shape} and {correct.shape}")
    return rank_auroc(margins, correct)
