"""Learning-rate schedules: pure functions from the 0-based iteration to the learning rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from .registry import Registry
from .schema import Param


class Schedule(Protocol):
    """Maps 0-based iterations (an integer array) to learning rates (a float64 array)."""

    def __call__(self, iterations: np.ndarray) -> np.ndarray: ...


ScheduleFactory = Callable[[Mapping[str, Any], float, int, int], Schedule]
SCHEDULES: Registry[ScheduleFactory] = Registry("schedule")


def lr_table(schedule: Schedule, total_iters: int) -> np.ndarray:
    """The planned learning rate of every iteration 0..total_iters-1."""
    return np.asarray(schedule(np.arange(total_iters)), dtype=np.float64)


@dataclass(frozen=True)
class ConstantSchedule:
    base_lr: float

    def __call__(self, iterations: np.ndarray) -> np.ndarray:
        return np.full(np.shape(iterations), self.base_lr, dtype=np.float64)


@dataclass(frozen=True)
class StepSchedule:
    """Multiply by gamma every step_epochs epochs (torch's StepLR, counted in iterations)."""

    base_lr: float
    step_iters: int
    gamma: float

    def __call__(self, iterations: np.ndarray) -> np.ndarray:
        return self.base_lr * self.gamma ** (np.asarray(iterations) // self.step_iters)


@dataclass(frozen=True)
class LinearDecaySchedule:
    """The "base" schedule of FGE and SWAG code: flat, then a linear fall to a final factor, then flat."""

    base_lr: float
    total_iters: int
    final_factor: float
    start: float = 0.5
    end: float = 0.9

    def __call__(self, iterations: np.ndarray) -> np.ndarray:
        u = np.asarray(iterations, dtype=np.float64) / self.total_iters
        fall = (u - self.start) / (self.end - self.start)
        factor = 1.0 - (1.0 - self.final_factor) * np.clip(fall, 0.0, 1.0)
        return self.base_lr * factor


@dataclass(frozen=True)
class CosineSchedule:
    """Cosine annealing from the base rate to final_factor times it over the whole budget."""

    base_lr: float
    total_iters: int
    final_factor: float

    def __call__(self, iterations: np.ndarray) -> np.ndarray:
        u = np.asarray(iterations, dtype=np.float64) / self.total_iters
        low = self.base_lr * self.final_factor
        return low + (self.base_lr - low) * 0.5 * (1.0 + np.cos(np.pi * u))


@SCHEDULES.register("constant", title="Constant", help="The optimiser's learning rate throughout.")
def constant(params: Mapping[str, Any], base_lr: float, total_iters: int, iters_per_epoch: int) -> Schedule:
    return ConstantSchedule(base_lr)


@SCHEDULES.register(
    "step",
    (
        Param("step_epochs", int, 10, "epochs between two drops", minimum=1),
        Param("gamma", float, 0.1, "factor applied at every drop", minimum=0.0, maximum=1.0, exclusive_minimum=True),
    ),
    title="Step",
    help="Multiply the learning rate by gamma every step_epochs epochs.",
)
def step(params: Mapping[str, Any], base_lr: float, total_iters: int, iters_per_epoch: int) -> Schedule:
    return StepSchedule(base_lr, params["step_epochs"] * iters_per_epoch, params["gamma"])


@SCHEDULES.register(
    "base",
    (
        Param("final_factor", float, 0.01, "learning rate at the end, as a fraction of the initial one",
              minimum=0.0, maximum=1.0),
        Param("start", float, 0.5, "fraction of the budget where the decay starts", minimum=0.0, maximum=1.0),
        Param("end", float, 0.9, "fraction of the budget where the decay ends", minimum=0.0, maximum=1.0),
    ),
    title="Base (linear decay)",
    help="The rate stays at its initial value for the first half of the budget, falls linearly to 1% of it at 90%, "
         "then stays there (the schedule of the method-comparison papers).",
)
def base(params: Mapping[str, Any], base_lr: float, total_iters: int, iters_per_epoch: int) -> Schedule:
    from .errors import SpecError

    if params["end"] <= params["start"]:
        raise SpecError(
            f"schedule.end = {params['end']} must be greater than schedule.start = {params['start']}"
        )
    return LinearDecaySchedule(base_lr, total_iters, params["final_factor"], params["start"], params["end"])


@SCHEDULES.register(
    "cosine",
    (Param("final_factor", float, 0.0, "learning rate at the end, as a fraction of the initial one",
           minimum=0.0, maximum=1.0),),
    title="Cosine",
    help="Cosine annealing over the whole budget.",
)
def cosine(params: Mapping[str, Any], base_lr: float, total_iters: int, iters_per_epoch: int) -> Schedule:
    return CosineSchedule(base_lr, total_iters, params["final_factor"])
