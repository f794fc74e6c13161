"""Events: small immutable records the engine emits while it runs; sinks store or show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Union

import numpy as np

from .plan import Plan


@dataclass(frozen=True)
class RunStarted:
    spec_toml: str
    plan: Plan
    device: str
    row_names: tuple[str, ...]  # one label per ensemble row (member or snapshot)
    threads: int = 0  # torch's CPU threads: results on the CPU are bitwise reproducible only with the same count
    resumed_at: int | None = None  # the iteration a resumed run continues from (None: a new run)


@dataclass(frozen=True)
class LogLine:
    text: str


@dataclass(frozen=True)
class Progress:
    """How far a task is: a run counts member-steps while training, other phases and tasks count their own units."""

    phase: str  # "training", "predicting", "evaluating", "interpolating", ...
    done: int  # units done (in training: member-steps, a vectorised step of K members counts K)
    total: int
    member_done: tuple[int, ...] = ()  # iterations done by each member (runs only)
    member_total: int = 0
    epoch: int = 0
    elapsed: float = 0.0
    eta: float | None = None  # seconds, None until it can be estimated
    text: str = ""  # what is being done, e.g. "member 0 snapshot 1 → member 0 snapshot 3"
    # A run's share of all its phases (training, predicting, metrics, margins) and the time to its very end; None
    # for tasks that are one phase, where done / total and eta say it all.
    run_fraction: float | None = None
    run_eta: float | None = None


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
    partial_epoch: float | None = None  # a member stopped in flight: the (fractional) epoch it had reached


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
    partial: Mapping[int, float] = field(default_factory=dict)  # row -> epoch reached, for rows of stopped members


@dataclass(frozen=True)
class MarginsMeasured:
    """Live margins of one member at an epoch end, on a fixed subset of one split (Monitor histograms)."""

    member: int
    epoch: int  # 1-based number of finished epochs
    split: str  # "train" or "val"
    raw: np.ndarray  # float32 (n,): l_y - max_{j != y} l_j
    normalized: np.ndarray  # float32 (n,): the same on l / ||l||_2


AttrValue = Union[str, int, float, bool]


@dataclass(frozen=True)
class Artefact:
    """What a method or an analysis produces beyond predictions: named arrays and attributes.

    The run file stores it under /analysis/<name> (a name may hold '/', e.g. "margins/test"), a result
    panel registered for the name's first part shows it. With append = True every array gains its rows
    along the first axis of what is stored (one boosting round, say); otherwise the group is replaced.
    """

    name: str
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    append: bool = False


@dataclass(frozen=True)
class TrainingState:
    """Where a group of members stands in the shared training loop, with everything needed to go on from there
    exactly: weights, optimiser state, random generator states, the position in the data order, counters.

    Torch-free (numpy arrays and text), so that storage can write it; engine.checkpoint packs and unpacks it.
    """

    members: tuple[int, ...]  # the group in flight
    finished: tuple[int, ...]  # every member whose training has ended, this group's too once it is done
    epoch: int  # 0-based epoch in progress; the plan's epoch count once the group is done
    batch: int  # the next batch of that epoch
    step: int  # iterations the group's members have trained
    reason: str  # "epoch": an epoch ended; "stop": the user stopped the run mid-epoch
    elapsed: float  # seconds of training and evaluation the run has spent so far, over all its sessions
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointTaken:
    """A resumable checkpoint: the run file's writer keeps the latest one beside the file."""

    state: TrainingState


@dataclass(frozen=True)
class SweepPoint:
    """A gap sweep is about to train point `index` (0-based) of `total`; label names its gap ("1", "mean")."""

    index: int
    total: int
    label: str


@dataclass(frozen=True)
class SweepDone:
    """A gap sweep has written its summary file (also after a cancel: it holds the finished points)."""

    path: Path


@dataclass(frozen=True)
class RunEnded:
    status: str  # finished, cancelled, failed, diverged
    error: str = ""
    elapsed: float = 0.0
    extra: Mapping[str, float] = field(default_factory=dict)


Event = Union[RunStarted, LogLine, Progress, Scalar, MemberData, SnapshotTaken, EpochEnded, Evaluated,
              MarginsMeasured, Artefact, CheckpointTaken, SweepPoint, SweepDone, RunEnded]
Sink = Callable[[Event], None]
