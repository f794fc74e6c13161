"""Cyclic learning-rate schedules and their snapshot points (methods.md sections 1, 2 and 11a), as pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def cycle_length(total_iters: int, cycles: int) -> int:
    """L = ceil(T/M): iterations of every cosine cycle but the last, which may be up to M-1 shorter."""
    if total_iters < 1 or cycles < 1:
        raise ValueError(f"need at least one iteration and one cycle, got T = {total_iters}, M = {cycles}")
    return math.ceil(total_iters / cycles)


def full_cycles(total_iters: int, cycles: int) -> int:
    """How many cycles the formula's L = ceil(T/M) really fits into T iterations (M whenever T > (M-1)^2)."""
    return math.ceil(total_iters / cycle_length(total_iters, cycles))


def cyclic_cosine_lr(total_iters: int, cycles: int, alpha0: float) -> np.ndarray:
    """SSE / cSGLD step size of every 0-based iteration: (alpha0/2)(cos(pi mod(t-1, L)/L) + 1), t = 1..T."""
    length = cycle_length(total_iters, cycles)
    position = np.arange(total_iters) % length  # mod(t-1, L) with t the 1-based iteration
    return alpha0 / 2.0 * (np.cos(np.pi * position / length) + 1.0)


def sse_snapshots(total_iters: int, cycles: int) -> np.ndarray:
    """0-based last iteration of every cycle (t = kL, and t = T for the last one), where the rate is lowest."""
    length = cycle_length(total_iters, cycles)
    ends = np.arange(1, full_cycles(total_iters, cycles) + 1, dtype=np.int64) * length
    return np.minimum(ends, total_iters) - 1


def even_cycle_iters(cycle_epochs: float, iters_per_epoch: int) -> int:
    """An FGE cycle in iterations, rounded to the nearest even number (at least 2) so its middle is an iteration."""
    return max(2, 2 * math.floor(cycle_epochs * iters_per_epoch / 2 + 0.5))


def fge_triangular_lr(iters: int, cycle_iters: int, alpha1: float, alpha2: float) -> np.ndarray:
    """FGE's rate for i = 1..iters: alpha1 -> alpha2 at mid-cycle -> alpha1 at the cycle end, linearly."""
    if cycle_iters < 2 or cycle_iters % 2:
        raise ValueError(f"the FGE cycle must be an even number of iterations, got {cycle_iters}")
    t = (np.arange(iters) % cycle_iters + 1) / cycle_iters  # t(i) = (mod(i-1, c) + 1)/c
    falling = (1.0 - 2.0 * t) * alpha1 + 2.0 * t * alpha2
    rising = (2.0 - 2.0 * t) * alpha2 + (2.0 * t - 1.0) * alpha1
    return np.where(t <= 0.5, falling, rising)


def fge_snapshots(iters: int, cycle_iters: int) -> np.ndarray:
    """0-based iterations at t = 1/2 (rate alpha2); like FGE-code, a last partial cycle counts once past its middle."""
    return np.arange(cycle_iters // 2 - 1, iters, cycle_iters, dtype=np.int64)


@dataclass(frozen=True)
class CsgldStage:
    """Where a cSGLD trajectory explores (plain SGD) and where it samples (Langevin noise)."""

    r: np.ndarray  # float64 (T,): r(k) = mod(k-1, L)/L of every 0-based iteration
    sampling: np.ndarray  # bool (T,): r >= beta, the steps after which noise is added


def csgld_stage(total_iters: int, cycles: int, beta: float) -> CsgldStage:
    """The position r(k) inside its cycle of every iteration and the sampling mask r(k) >= beta."""
    length = cycle_length(total_iters, cycles)
    r = (np.arange(total_iters) % length) / length
    return CsgldStage(r, r >= beta)


def csgld_samples(total_iters: int, cycles: int, beta: float, per_cycle: int) -> np.ndarray:
    """0-based sample iterations: per_cycle evenly spaced ends of equal parts of each cycle's sampling stage.

    The last sample of a cycle is its last iteration (as cSG-code samples at the ends of the last epochs).
    A cycle whose sampling stage is shorter than per_cycle iterations gives fewer, distinct samples.
    """
    sampling = csgld_stage(total_iters, cycles, beta).sampling
    length = cycle_length(total_iters, cycles)
    samples: list[int] = []
    for start in range(0, total_iters, length):
        stage = np.flatnonzero(sampling[start:start + length])
        if not len(stage):
            continue
        first, size = start + int(stage[0]), len(stage)
        ends = {first - 1 + (j + 1) * size // per_cycle for j in range(per_cycle)}
        samples.extend(sorted(e for e in ends if e >= first))
    return np.array(samples, dtype=np.int64)
