"""MC dropout: one net trained with dropout, predicted by S stochastic passes with only dropout active."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import SpecError
from ..plan import Plan
from ..planning import default_plan
from ..schema import Param
from ..seeding import DROPOUT, derive_seed
from .base import METHODS, Method

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..prediction import Predictions
    from ..training import TrainContext

# The runner seeds training masks with derive_seed(seed, 0, DROPOUT); test-time masks take a sub-stream
# of their own so that they do not depend on how many masks training drew.
PREDICTION_STREAM = 1


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """Every dropout module (Dropout, Dropout1d/2d/3d, AlphaDropout and its feature variant)."""
    from torch import nn

    return [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def mc_dropout_probs(model: nn.Module, inputs: list[torch.Tensor], samples: int, seed: int, batch: int,
                     on_sample: Callable[[int, int], None] | None = None) -> list[np.ndarray]:
    """Probabilities (samples, N, C) float32 on each input set from stochastic passes.

    The model goes to eval mode and only its dropout modules back to train mode, so BatchNorm keeps its
    running statistics (PE ens/ens-dropout.py). Every pass draws fresh masks per example; the masks come
    from torch's global generator, forked so the caller's random state is left as it was.
    """
    import torch

    model.eval()
    for layer in dropout_layers(model):
        layer.train()
    device = next(model.parameters()).device
    devices: list[int] = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    out: list[list[np.ndarray]] = [[] for _ in inputs]
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for i in range(samples):
                for j, x in enumerate(inputs):
                    parts = [torch.softmax(model(x[k:k + batch]).double(), -1).float().cpu()
                             for k in range(0, len(x), batch)]
                    out[j].append(torch.cat(parts).numpy())
                if on_sample is not None:
                    on_sample(i + 1, samples)
    finally:
        model.eval()
    return [np.stack(rows) for rows in out]


@METHODS.register(
    "dropout",
    (Param("samples", int, 30, "S: stochastic forward passes averaged in the ensemble (PE uses up to 100)",
           minimum=1, maximum=1000, label="samples S"),),
    title="MC dropout",
    help="Gal & Ghahramani 2016: one net trained with dropout (set model.dropout, e.g. 0.5); at test time "
         "only the dropout layers stay stochastic, and S passes are averaged. Dropout 0 gives S copies of "
         "the deterministic net.",
)
class McDropout(Method):
    def samples(self) -> int:
        return int(self.params["samples"])

    def check(self) -> None:
        from ..models import MODELS

        entry = MODELS.get(self.spec.model.name)
        if "dropout" not in {p.name for p in entry.schema}:
            with_dropout = [e.name for e in MODELS if "dropout" in {p.name for p in e.schema}]
            raise SpecError(f"method 'dropout' needs a model with a dropout rate, but model {entry.name!r} has "
                            f"none; choose one of: {', '.join(with_dropout)}")

    def plan(self, iters_per_epoch: int) -> Plan:
        return replace(default_plan(self.spec, iters_per_epoch, 1), rows=self.samples())

    def row_names(self, plan: Plan) -> list[str]:
        return [f"pass {i}" for i in range(plan.rows)]

    def train(self, ctx: TrainContext) -> None:
        from ..training import train_on_all_data

        if float(self.spec.model.params.get("dropout", 0.0)) == 0.0:
            ctx.log("model.dropout = 0: every pass equals the deterministic net")
        train_on_all_data(ctx, 1, vectorize=False)

    def partial_eval_rows(self, ctx: TrainContext, stopped: dict[int, float]) -> dict[int, float]:
        # Every pass runs the one net: if it was stopped in flight, every row is partial.
        return {i: stopped[0] for i in range(self.samples())} if 0 in stopped else {}

    def predict(self, ctx: TrainContext, inputs: list[torch.Tensor]) -> Predictions:
        from ..prediction import Predictions

        model = ctx.build_model(0, ctx.rows[0], trained=True)
        seed = derive_seed(self.spec.seed, 0, DROPOUT, PREDICTION_STREAM)
        return Predictions(mc_dropout_probs(model, inputs, self.samples(), seed, self.spec.evaluation["batch_size"],
                                            ctx.progress.phase_step))
