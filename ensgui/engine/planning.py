"""Pieces every method's plan is made of: iterations per epoch, the spec's schedule, the default plan."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .data import DATASETS, effective_sizes
from .plan import Plan
from .schedules import SCHEDULES, Schedule, lr_table

if TYPE_CHECKING:
    from .spec import Spec

# The plan holds one learning rate per iteration; beyond this it would not fit a preview or a file.
MAX_ITERATIONS = 10_000_000


def iters_per_epoch(spec: Spec) -> int:
    """Optimisation steps in one pass over the training subset (the last, smaller batch included)."""
    train_size, _ = effective_sizes(DATASETS.get(spec.data.name).factory.info, spec.data.params)
    return math.ceil(train_size / spec.budget["batch_size"])


def build_schedule(spec: Spec, total_iters: int, per_epoch: int) -> Schedule:
    """The spec's schedule as a function of the iteration, scaled to the optimiser's learning rate."""
    factory = SCHEDULES.get(spec.schedule.name).factory
    return factory(spec.schedule.params, spec.optimizer["lr"], total_iters, per_epoch)


def default_plan(spec: Spec, per_epoch: int, members: int) -> Plan:
    """Every member follows the spec's schedule for the whole budget; one snapshot at the end."""
    total = per_epoch * spec.budget["epochs"]
    lr = lr_table(build_schedule(spec, total, per_epoch), total)
    return Plan(lr, np.array([total - 1], dtype=np.int64), per_epoch, spec.budget["epochs"], members, members)


__all__ = ["MAX_ITERATIONS", "Plan", "build_schedule", "default_plan", "iters_per_epoch"]
