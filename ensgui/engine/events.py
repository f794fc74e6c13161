"""Events: small immutable records the engine emits while it runs; sinks store or show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Union

import numpy as np

from .planning import Plan


@dataclass(frozen=True)
class RunStarted:
    spec_toml: str
    plan: Plan
    device: str
    row_names: tuple[str, ...]  # one label per ensemble row (member or snapshot)


@dataclass(frozen=True)
class LogLine:
    text: str


@dataclass(frozen=True)
class Progress:
    phase: str  # "loading", "training", "evaluating"
    done: int  # member-steps done (a vectorised step of K members counts K)
    total: int
    member_done: tuple[int, ...]  # iterations done by each member
    member_total: int
    epoch: int
    elapsed: float
    eta: float | None  # seconds, None until it can be estimated


@dataclass(frozen=True)
class Scalar:
    member: int
    name: str  # train_loss, train_acc, val_loss, val_acc, lr
    step: int  # global 0-based iteration of this member after which the value was measured
    epoch: float
    value: float


@dataclass(frozen=True)
class MemberData:
    """Which training objects a member saw (bagging's bootstrap multiset and out-of-bag objects)."""

    member: int
    train_indices: np.ndarray
    oob_indices: np.ndarray


@dataclass(frozen=True)
class SnapshotTaken:
    member: int
    index: int  # j-th snapshot of this member
    row: int  # row of this snapshot in /eval/<split>/probs
    epoch: int
    step: int  # 0-based index of the last iteration trained before it
    lr: float
    state: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class EpochEnded:
    epoch: int  # 1-based number of finished epochs


@dataclass(frozen=True)
class Evaluated:
    split: str  # "val" or "test"
    probs: np.ndarray  # float32 (K, N, C)
    labels: np.ndarray  # int64 (N,)
    curves: Mapping[str, np.ndarray]  # metric -> (K, 2) mean and std over orders
    member_metrics: Mapping[str, np.ndarray]  # metric -> (K,)
    temperature: float | None = None  # validation-fitted temperature of the full ensemble


@dataclass(frozen=True)
class MarginsMeasured:
    """Live margins of one member at an epoch end, on a fixed subset of one split (Monitor histograms)."""

    member: int
    epoch: int  # 1-based number of finished epochs
    split: str  # "train" or "val"
    raw: np.ndarray  # float32 (n,): l_y - max_{j != y} l_j
    normalized: np.ndarray  # float32 (n,): the same on l / ||l||_2


@dataclass(frozen=True)
class MarginsComputed:
    """Margins of every ensemble row on one whole split once training ends (/analysis/margins/<split>)."""

    split: str  # "train", "val" or "test"
    raw: np.ndarray  # float32 (K, N)
    normalized: np.ndarray  # float32 (K, N)
    labels: np.ndarray  # int64 (N,)


@dataclass(frozen=True)
class BoostingRound:
    """The per-object gaps one gap-boosting model trains with, and the training margins they came from."""

    model: int  # 0-based index of the model that trains with these gaps
    gaps: np.ndarray  # float32 (N_train,)
    margins: np.ndarray  # float32 (N_train,): margins of the previous model or running ensemble


@dataclass(frozen=True)
class RunEnded:
    status: str  # finished, cancelled, failed, diverged
    error: str = ""
    elapsed: float = 0.0
    extra: Mapping[str, float] = field(default_factory=dict)


Event = Union[RunStarted, LogLine, Progress, Scalar, MemberData, SnapshotTaken, EpochEnded, Evaluated,
              MarginsMeasured, MarginsComputed, BoostingRound, RunEnded]
Sink = Callable[[Event], None]
