"""Fast geometric ensembling (FGE): pre-train, then short triangular cycles with a snapshot at every mid-cycle."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cyclic import even_cycle_iters, fge_snapshots, fge_triangular_lr
from ..data import DATASETS
from ..errors import EnsguiError, SpecError, one_line
from ..plan import Plan
from ..planning import build_schedule, iters_per_epoch
from ..schedules import lr_table
from ..schema import Param
from .base import METHODS, Method

if TYPE_CHECKING:
    from ..training import StoredRuns, TrainContext


@dataclass(frozen=True)
class FgeStages:
    """How one FGE trajectory splits its iterations."""

    pretrain_iters: int  # the spec's schedule with optimizer.lr (0 when starting from a stored run)
    fge_iters: int  # the triangular cycles
    cycle_iters: int  # c, even, so the middle of a cycle is an iteration


@METHODS.register(
    "fge",
    (
        Param("pretrain_fraction", float, 0.8,
              "share of budget.epochs (rounded to whole epochs) pre-trained with the schedule section and "
              "optimizer.lr; the rest runs the FGE cycles (ignored with start_from)",
              minimum=0.0, maximum=0.99, label="pre-training share"),
        Param("cycle_epochs", float, 1.0,
              "cycle length c in epochs, counted in iterations and rounded to an even number",
              minimum=0.0, maximum=1000.0, exclusive_minimum=True, label="cycle c (epochs)"),
        Param("alpha1", float, 0.025, "largest learning rate, at every cycle start and end",
              minimum=0.0, maximum=10.0, exclusive_minimum=True, label="α1 (max lr)", log_scale=True),
        Param("alpha2", float, 2.5e-4, "smallest learning rate, at mid-cycle where each snapshot is taken",
              minimum=0.0, maximum=10.0, exclusive_minimum=True, label="α2 (min lr)", log_scale=True),
        Param("start_from", str, "",
              "a stored run file whose final weights (member 0's last snapshot) replace pre-training; the "
              "whole budget then runs FGE cycles with a fresh optimiser (empty: pre-train here)",
              label="start from run", run_file=True),
    ),
    title="Fast geometric ensembling (FGE)",
    help="Garipov et al. 2018: after pre-training, triangular cycles α1 → α2 → α1 of c iterations; a snapshot "
         "at each mid-cycle, so ensemble rows = FGE iterations / c. The optimiser state (momentum) continues "
         "from pre-training into the cycles, as the authors' code does.",
)
class FastGeometricEnsembling(Method):
    @property
    def start_from(self) -> str:
        return str(self.params["start_from"]).strip()

    def stages(self, per_epoch: int) -> FgeStages:
        """The iterations of each stage; raises SpecError naming the field when no cycle fits."""
        p, epochs = self.params, self.spec.budget["epochs"]
        if p["alpha2"] > p["alpha1"]:
            raise SpecError(f"method.alpha2 = {p['alpha2']} is invalid: must not exceed method.alpha1 = "
                            f"{p['alpha1']} (the cycle falls from α1 to α2 at its middle)")
        pretrain_epochs = 0 if self.start_from else math.floor(p["pretrain_fraction"] * epochs + 0.5)
        if not self.start_from and pretrain_epochs == 0:
            raise SpecError(f"method.pretrain_fraction = {p['pretrain_fraction']} gives no pre-training epoch "
                            f"of budget.epochs = {epochs}, so FGE would start from a random initialisation; "
                            f"raise it, raise budget.epochs, or set method.start_from")
        fge_iters = (epochs - pretrain_epochs) * per_epoch
        if fge_iters == 0:
            raise SpecError(f"method.pretrain_fraction = {p['pretrain_fraction']} leaves no epoch of "
                            f"budget.epochs = {epochs} for the FGE cycles; lower it or raise budget.epochs")
        cycle = even_cycle_iters(p["cycle_epochs"], per_epoch)
        if cycle > fge_iters:
            raise SpecError(f"method.cycle_epochs = {p['cycle_epochs']} is too long: one cycle of {cycle} "
                            f"iterations does not fit the {fge_iters} FGE iterations "
                            f"({epochs - pretrain_epochs} epoch(s)); lower method.cycle_epochs, lower "
                            f"method.pretrain_fraction or raise budget.epochs")
        return FgeStages(pretrain_epochs * per_epoch, fge_iters, cycle)

    def check(self) -> None:
        self.stages(iters_per_epoch(self.spec))

    def plan(self, per_epoch: int) -> Plan:
        p = self.params
        stages = self.stages(per_epoch)
        pretrain = np.empty(0)
        if stages.pretrain_iters:
            # The spec's schedule runs its whole shape (e.g. the base decay) inside the pre-training stage.
            schedule = build_schedule(self.spec, stages.pretrain_iters, per_epoch)
            pretrain = lr_table(schedule, stages.pretrain_iters)
        cycles = fge_triangular_lr(stages.fge_iters, stages.cycle_iters, p["alpha1"], p["alpha2"])
        snapshots = stages.pretrain_iters + fge_snapshots(stages.fge_iters, stages.cycle_iters)
        return Plan(np.concatenate([pretrain, cycles]), snapshots, per_epoch, self.spec.budget["epochs"], 1,
                    len(snapshots))

    def train(self, ctx: TrainContext) -> None:
        from ..training import NO_HOOKS, TrainHooks, train_on_all_data

        stages = self.stages(ctx.plan.iters_per_epoch)
        hooks = NO_HOOKS
        if self.start_from:
            # A resumed run continues from its checkpoint: the run it started from need not exist any more.
            if not ctx.trained_before(0):
                hooks = TrainHooks(initial_weights={0: self.stored_weights(ctx.stored_runs)})
            ctx.log(f"FGE from the final weights of {self.start_from}: {stages.fge_iters} iterations of cycles "
                    f"of {stages.cycle_iters}, with a fresh optimiser (a run file keeps no optimiser state)")
        else:
            ctx.log(f"FGE: {stages.pretrain_iters} pre-training iterations, then {stages.fge_iters} in cycles "
                    f"of {stages.cycle_iters}; the optimiser state carries over from pre-training")
        train_on_all_data(ctx, 1, vectorize=False, hooks=hooks)

    def check_stored(self, stored_runs: StoredRuns | None) -> None:
        if self.start_from:
            self.stored_weights(stored_runs)

    def stored_weights(self, stored_runs: StoredRuns | None) -> dict[str, np.ndarray]:
        """Member 0's final weights in the start_from run, checked to fit this spec's net."""
        from ..nets import build_model

        where = f"method.start_from = {self.start_from!r}"
        if stored_runs is None:
            raise SpecError(f"{where} needs a caller that can read run files; run from the GUI or the CLI, or leave "
                            f"method.start_from empty")
        if not Path(self.start_from).is_file():
            raise SpecError(f"{where}: no such run file; pick a finished run (.h5) or leave method.start_from empty")
        try:
            weights = stored_runs.final_weights(self.start_from)
        except (EnsguiError, OSError) as exc:
            raise SpecError(f"{where} gives no weights: {one_line(exc)}") from None
        info = DATASETS.get(self.spec.data.name).factory.info
        net = build_model(self.spec, info.input_shape, info.num_classes)
        expected = {name: tuple(t.shape) for name, t in net.state_dict().items()}
        found = {name: tuple(np.shape(w)) for name, w in weights.items()}
        if found != expected:
            raise SpecError(f"{where} holds weights of another network than model.name = "
                            f"{self.spec.model.name!r} with these parameters; start from a run of the same model")
        return weights
