"""Where ensemble members lie: parameter distances between snapshots and prediction disagreement between rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

State = Mapping[str, np.ndarray]

# BatchNorm buffers: statistics of the data, not trained parameters, so they do not place a
# network in parameter space (and num_batches_tracked would dominate any distance).
BUFFER_SUFFIXES: tuple[str, ...] = ("running_mean", "running_var", "num_batches_tracked")


def is_parameter(name: str, value: np.ndarray) -> bool:
    """Whether a state entry is a trained parameter: floating point and not a BatchNorm running statistic."""
    if name.rsplit(".", 1)[-1] in BUFFER_SUFFIXES:
        return False
    return np.issubdtype(np.asarray(value).dtype, np.floating)


def parameter_names(state: State) -> list[str]:
    """The parameter entries of a state, sorted so that every snapshot is flattened in the same order."""
    return sorted(name for name, value in state.items() if is_parameter(name, value))


def flatten_parameters(state: State, names: Sequence[str] | None = None) -> np.ndarray:
    """All parameters of a state as one float64 vector, in the order of names (parameter_names by default)."""
    names = parameter_names(state) if names is None else list(names)
    missing = [n for n in names if n not in state]
    if missing:
        raise ValueError(f"the snapshot has no parameter {missing[0]!r}; snapshots of different models cannot be "
                         f"compared")
    if not names:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate([np.asarray(state[n], dtype=np.float64).ravel() for n in names])


def _flat_with(names: list[str], state: State, first: np.ndarray) -> np.ndarray:
    flat = flatten_parameters(state, names)
    if flat.shape != first.shape:
        raise ValueError(f"snapshot has {flat.size} parameters, the first one {first.size}: different models")
    return flat


def distances_from_first(snapshots: Iterable[State]) -> np.ndarray:
    """(S,) L2 distance of every snapshot's parameters from the first snapshot's (so the first is 0).

    Only parameters count (is_parameter); the names come from the first snapshot. snapshots may be a
    generator: one snapshot at a time is held besides the first, so long runs fit in memory.
    """
    it = iter(snapshots)
    try:
        head = next(it)
    except StopIteration:
        return np.zeros(0, dtype=np.float64)
    names = parameter_names(head)
    first = flatten_parameters(head, names)
    out = [0.0]
    for state in it:
        out.append(float(np.linalg.norm(_flat_with(names, state, first) - first)))
    return np.asarray(out, dtype=np.float64)


def pairwise_distances(snapshots: Iterable[State]) -> np.ndarray:
    """(S, S) symmetric matrix of L2 distances between the snapshots' parameters, zero diagonal."""
    states = list(snapshots)
    if not states:
        return np.zeros((0, 0), dtype=np.float64)
    names = parameter_names(states[0])
    first = flatten_parameters(states[0], names)
    flat = np.stack([first] + [_flat_with(names, s, first) for s in states[1:]])
    # Differences rather than the Gram-matrix identity: nearby snapshots (FGE) differ by far less
    # than their norms, and |a|^2 + |b|^2 - 2ab would lose those digits to cancellation.
    n = flat.shape[0]
    out = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        d = np.linalg.norm(flat[i + 1:] - flat[i], axis=1)
        out[i, i + 1:] = d
        out[i + 1:, i] = d
    return out


def disagreement(probs: np.ndarray) -> np.ndarray:
    """(K, K) fraction of objects whose arg-max class differs between rows i and j of probs (K, N, C).

    Symmetric with a zero diagonal; with N = 0 every entry is 0.
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must have shape (K, N, C), got {probs.shape}")
    k, n = probs.shape[:2]
    if n == 0:
        return np.zeros((k, k), dtype=np.float64)
    labels = np.argmax(probs, axis=2)  # (K, N)
    out = np.zeros((k, k), dtype=np.float64)
    # One row against all later rows at a time: K^2 N comparisons of small integers, without the
    # (K, N, C) one-hot copies a matrix product would need.
    for i in range(k - 1):
        d = np.count_nonzero(labels[i + 1:] != labels[i], axis=1) / n
        out[i, i + 1:] = d
        out[i + 1:, i] = d
    return out


__all__ = ["BUFFER_SUFFIXES", "disagreement", "distances_from_first", "flatten_parameters", "is_parameter",
           "pairwise_distances", "parameter_names"]
