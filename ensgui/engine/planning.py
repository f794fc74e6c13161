"""The plan of a run, known before training: iterations, learning rate of each, and snapshot points."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .schedules import SCHEDULES, Schedule, lr_table

if TYPE_CHECKING:
    from .spec import Spec


@dataclass(frozen=True)
class Plan:
    """What one member's trajectory will look like; the GUI previews it, the run file stores it."""

    lr: np.ndarray  # float64 (iterations,): learning rate of every iteration, 0-based
    snapshots: np.ndarray  # int64: index of the last iteration trained before each snapshot
    iters_per_epoch: int
    epochs: int
    members: int  # independent trajectories
    rows: int  # ensemble members in the predictions (members x snapshots per member)

    @property
    def total_iters(self) -> int:
        return len(self.lr)


def iters_per_epoch(spec: Spec) -> int:
    """Optimisation steps in one pass over the training subset (the last, smaller batch included)."""
    from .data import DATASETS, effective_sizes

    train_size, _ = effective_sizes(DATASETS.get(spec.data.name).factory.info, spec.data.params)
    return math.ceil(train_size / spec.budget["batch_size"])


def build_schedule(spec: Spec, total_iters: int, per_epoch: int) -> Schedule:
    """The spec's schedule as a function of the iteration, scaled to the optimiser's learning rate."""
    factory = SCHEDULES.get(spec.schedule.name).factory
    return factory(spec.schedule.params, spec.optimizer["lr"], total_iters, per_epoch)


MAX_ITERATIONS = 10_000_000


def plan_for(spec: Spec) -> Plan:
    """Ask the spec's method for its plan (a method may replace the schedule, e.g. cyclic ones)."""
    from .errors import SpecError
    from .methods import method_for

    per_epoch = iters_per_epoch(spec)
    total = per_epoch * spec.budget["epochs"]
    if total > MAX_ITERATIONS:
        # The plan holds one learning rate per iteration; beyond this it would not fit a preview or a file.
        raise SpecError(f"budget.epochs = {spec.budget['epochs']} gives {total:,} iterations of batch "
                        f"{spec.budget['batch_size']}, more than {MAX_ITERATIONS:,}; lower budget.epochs or "
                        f"raise budget.batch_size")
    return method_for(spec).plan(per_epoch)


def default_plan(spec: Spec, per_epoch: int, members: int) -> Plan:
    """Every member follows the spec's schedule for the whole budget; one snapshot at the end."""
    total = per_epoch * spec.budget["epochs"]
    lr = lr_table(build_schedule(spec, total, per_epoch), total)
    return Plan(lr, np.array([total - 1], dtype=np.int64), per_epoch, spec.budget["epochs"], members, members)
