"""Snapshot ensembles (SSE): one run with M cosine cycles restarting at alpha0, a snapshot at every cycle end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..cyclic import cycle_length, cyclic_cosine_lr, full_cycles, sse_snapshots
from ..errors import SpecError
from ..plan import Plan
from ..planning import default_plan, iters_per_epoch
from ..schema import Param
from .base import METHODS, VECTORIZE, Method

if TYPE_CHECKING:
    from ..training import TrainContext

# Shared with cSGLD, which runs the same cyclic cosine schedule (methods.md 11a).
CYCLES = Param("cycles", int, 4, "cosine cycles M in the budget; one snapshot (or sample group) per cycle",
               minimum=1, maximum=1000, label="cycles M")
ALPHA0 = Param("alpha0", float, 0.1,
               "learning rate at every cycle start; the cyclic schedule replaces optimizer.lr and the "
               "schedule section, which are ignored",
               minimum=0.0, maximum=10.0, exclusive_minimum=True, label="restart lr α0", log_scale=True)
VARIANTS = ("cyclic", "nocycle", "singlecycle")
VARIANT = Param("variant", str, "cyclic",
                "cyclic: one run of M cosine cycles (SSE); nocycle: the schedule section and optimizer.lr "
                "(alpha0 unused) with a snapshot every B/M epochs; singlecycle: M independent re-initialised "
                "runs of B/M epochs, one cosine cycle each",
                choices=VARIANTS)
SIDE_BY_SIDE = Param(VECTORIZE.name, bool, True,
                     "singlecycle only: train the M short runs side by side as one vmap group",
                     label=VECTORIZE.label)
# A cycle whose snapshot still sees more than this fraction of alpha0 has not annealed (too few iterations).
ANNEALED = 0.05


def check_cycles(total_iters: int, cycles: int) -> None:
    """Raise SpecError unless the formula's L = ceil(T/M) gives exactly M cycles of at least 2 iterations."""
    length = cycle_length(total_iters, cycles)
    fitted = full_cycles(total_iters, cycles)
    if fitted < cycles or length < 2:
        raise SpecError(f"method.cycles = {cycles} is too many for {total_iters} iterations: cycles of "
                        f"ceil(T/M) = {length} iteration(s) give {fitted} cycle(s), and each needs at least 2; "
                        f"lower method.cycles or raise budget.epochs")


def check_annealed(lr: np.ndarray, snapshots: np.ndarray, alpha0: float, cycles: int) -> None:
    """Raise SpecError if some snapshot is taken where the cosine has not come down near zero."""
    worst = int(np.argmax(lr[snapshots]))
    if lr[snapshots[worst]] > ANNEALED * alpha0:
        raise SpecError(f"method.cycles = {cycles} leaves cycles too short to anneal: at snapshot {worst} "
                        f"the learning rate is still {lr[snapshots[worst]] / alpha0:.0%} of alpha0 (at most "
                        f"{ANNEALED:.0%} needed); lower method.cycles or raise budget.epochs")


@METHODS.register(
    "snapshot",
    (CYCLES, ALPHA0, VARIANT, SIDE_BY_SIDE),
    title="Snapshot ensemble (SSE)",
    help="Huang et al. 2017: one run whose learning rate restarts at α0 M times and anneals by a cosine; a "
         "snapshot at each cycle end (momentum is not reset at restarts). nocycle and singlecycle are the "
         "paper's baselines.",
)
class SnapshotEnsemble(Method):
    @property
    def variant(self) -> str:
        return str(self.params["variant"])

    def members(self) -> int:
        return int(self.params["cycles"]) if self.variant == "singlecycle" else 1

    def uses_schedule(self) -> bool:
        return self.variant == "nocycle"  # the cyclic variants anneal from alpha0 by their own formula

    def check(self) -> None:
        # The plan holds every check (it runs first when a spec is built), so checking means planning.
        self.plan(iters_per_epoch(self.spec))

    def plan(self, per_epoch: int) -> Plan:
        cycles, alpha0, epochs = self.params["cycles"], self.params["alpha0"], self.spec.budget["epochs"]
        if self.variant == "singlecycle":
            if epochs % cycles:
                # Every short run gets the same whole number of epochs, so the budgets compare exactly.
                raise SpecError(f"method.cycles = {cycles} must divide budget.epochs = {epochs} for the "
                                f"singlecycle variant (M runs of B/M epochs); change method.cycles or budget.epochs")
            run_epochs = epochs // cycles
            run_iters = run_epochs * per_epoch
            lr = cyclic_cosine_lr(run_iters, 1, alpha0)
            snapshots = sse_snapshots(run_iters, 1)
            check_annealed(lr, snapshots, alpha0, cycles)
            return Plan(lr, snapshots, per_epoch, run_epochs, cycles, cycles)
        total = per_epoch * epochs
        check_cycles(total, cycles)
        snapshots = sse_snapshots(total, cycles)
        if self.variant == "nocycle":
            lr = default_plan(self.spec, per_epoch, 1).lr
        else:
            lr = cyclic_cosine_lr(total, cycles, alpha0)
            check_annealed(lr, snapshots, alpha0, cycles)
        return Plan(lr, snapshots, per_epoch, epochs, 1, len(snapshots))

    def train(self, ctx: TrainContext) -> None:
        from ..training import train_on_all_data

        if self.variant == "singlecycle":
            ctx.log(f"singlecycle: {self.members()} independent runs of {ctx.plan.epochs} epoch(s), one cosine "
                    f"cycle each, every run from its own initialisation")
            train_on_all_data(ctx, self.members(), vectorize=bool(self.params["vectorize"]))
        else:
            # One trajectory; the shared loop keeps one optimiser, so momentum carries over the restarts.
            train_on_all_data(ctx, 1, vectorize=False)
