"""The method base class and registry; shared training machinery lives in engine.training.

A method module is one registry entry. Its schema, plan and checks run when a spec is validated, without
torch; torch and the training machinery (which needs it) are imported inside train and predict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..plan import Plan
from ..planning import default_plan
from ..registry import Registry
from ..schema import Param

if TYPE_CHECKING:
    import torch

    from ..prediction import Predictions
    from ..spec import Spec
    from ..training import StoredRuns, TrainContext

METHODS: Registry[Callable[["Spec"], "Method"]] = Registry("method")

MEMBERS = Param("members", int, 5, "independently trained networks in the ensemble", minimum=1, maximum=1000)
VECTORIZE = Param("vectorize", bool, True,
                  "train the members side by side as one vmap group (models with BatchNorm train one by one)",
                  label="train side by side")


class Method(ABC):
    """Turns a spec into the trained rows of an ensemble, reporting through the context's events."""

    # Methods whose learning rate follows a formula of their own (cyclic, SWA) set this: Setup greys out the
    # spec's schedule section for them.
    OWN_SCHEDULE = False
    # The parameter that counts independent trajectories; a method without it trains one.
    MEMBERS_PARAM = "members"
    # Rows with a meaningful order (boosting): metrics against k then use the first k rows in that order only,
    # instead of averaging over random member orders.
    ORDERED_ROWS = False

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.params = spec.method.params

    def members(self) -> int:
        """Independent trajectories this method trains: the members parameter, or one for methods without it."""
        return int(self.params.get(self.MEMBERS_PARAM, 1))

    def check(self) -> None:
        """Checks across sections that the schema alone cannot express; raise SpecError."""

    def check_stored(self, stored_runs: StoredRuns | None) -> None:
        """Checks of the run files the spec names (they may change after the spec is validated), made before a
        run starts so that a bad one stops it before its run file exists; raise SpecError."""

    def uses_schedule(self) -> bool:
        """Whether the spec's schedule section shapes the learning rate (cyclic methods bring their own)."""
        return not self.OWN_SCHEDULE

    def ordered_rows(self) -> bool:
        """Whether the rows have a meaningful order (see ORDERED_ROWS)."""
        return self.ORDERED_ROWS

    def plan(self, iters_per_epoch: int) -> Plan:
        return default_plan(self.spec, iters_per_epoch, self.members())

    def row_names(self, plan: Plan) -> list[str]:
        """A label for every ensemble row, in row order."""
        per = len(plan.snapshots)
        if per == 1:
            return [f"member {m}" for m in range(plan.members)]
        return [f"member {m} snapshot {j}" for m in range(plan.members) for j in range(per)]

    @abstractmethod
    def train(self, ctx: TrainContext) -> None:
        """Train, storing every finished ensemble row in ctx.rows and emitting events."""

    def stopped_rows(self, ctx: TrainContext) -> dict[int, float]:
        """After a stop, rows for the members stopped in flight, as they stand: row -> the epoch they reached.

        The default makes a stopped member's weights its next snapshot row (stored as a partial snapshot), so a
        deep ensemble stopped in its first epoch is still evaluated, member by member.
        """
        from ..events import SnapshotTaken

        per = len(ctx.plan.snapshots)
        stopped: dict[int, float] = {}
        for member, flight in sorted(ctx.in_flight.items()):
            taken = sum(1 for row in ctx.rows if row // per == member)
            if taken >= per or flight.step < 0:
                continue  # all its rows are finished, or it never took a step (a random net is not a row)
            row = member * per + taken
            ctx.rows[row] = flight.weights
            stopped[row] = flight.epoch
            ctx.emit(SnapshotTaken(member, taken, row, int(flight.epoch), flight.step,
                                   float(ctx.plan.lr[max(flight.step, 0)]), flight.weights, flight.epoch))
        return stopped

    def partial_eval_rows(self, ctx: TrainContext, stopped: dict[int, float]) -> dict[int, float]:
        """Which rows of the evaluation come from stopped members (row of /eval -> epoch reached).

        The default predicts one evaluation row per stored row, in row order (see predict).
        """
        order = sorted(ctx.rows)
        return {order.index(row): epoch for row, epoch in stopped.items()}

    def predict(self, ctx: TrainContext, inputs: list[torch.Tensor]) -> Predictions:
        """Probabilities (rows, N, C) float32 of the ensemble on each input set; progress per row.

        The default runs every stored row deterministically, once per input set, and keeps the logits for the
        margins; sampling methods (SWAG, MC dropout) override it and draw each sample once for all input sets, so
        validation and test see the same ensemble.
        """
        import torch

        from ..nets import load_state
        from ..prediction import Predictions, predict_logits, softmax_probs

        order = sorted(ctx.rows)
        model = ctx.build_model(0)
        logits: list[list[torch.Tensor]] = [[] for _ in inputs]
        for i, row in enumerate(order):
            load_state(model, ctx.rows[row])
            for j, x in enumerate(inputs):
                logits[j].append(predict_logits(model, x, ctx.spec.evaluation["batch_size"]))
            ctx.progress.phase_step(i + 1, len(order))
        stacked = [torch.stack(per_set) for per_set in logits]
        return Predictions([softmax_probs(t) for t in stacked], [t.numpy() for t in stacked])
