"""SWA, SWAG-Diagonal and SWAG: a Gaussian over weights fitted to SGD iterates at a high constant rate."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

import numpy as np

from ..errors import SpecError
from ..plan import Plan
from ..planning import iters_per_epoch
from ..schema import Param
from ..seeding import derive_seed
from .base import METHODS, Method

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..prediction import Predictions

    from ..training import TrainContext

VARIANTS = ("swag", "swag_diag", "swa")
# A seed purpose of its own, beyond seeding's shared ones, so that drawing SWAG samples shares no
# random stream with initialisation, data order or dropout masks.
SAMPLING = 1001
VARIANCE_FLOOR = 1e-30  # SWAG-code clamps the diagonal variance here so that its square root exists


@dataclass(frozen=True)
class SwagMoments:
    """The running moments of the collected weight vectors (parameters only), float64."""

    mean: np.ndarray  # (d,) theta_SWA
    sq_mean: np.ndarray  # (d,) running mean of theta**2
    deviations: np.ndarray  # (d, K): theta_i minus the running mean right after adding theta_i; last K, oldest first
    count: int  # weight vectors collected

    @property
    def diag_var(self) -> np.ndarray:
        return np.maximum(self.sq_mean - self.mean ** 2, VARIANCE_FLOOR)

    @property
    def rank(self) -> int:
        """K: the number of deviation columns kept (the rank asked for; fewer only for a run cancelled early)."""
        return int(self.deviations.shape[1])


def running_moments(vectors: Iterable[np.ndarray], max_rank: int) -> SwagMoments:
    """SWAG-code collect_model over the vectors in order: running first and second moments, FIFO deviations."""
    mean: np.ndarray | None = None
    sq_mean: np.ndarray | None = None
    columns: deque[np.ndarray] = deque(maxlen=max_rank)
    count = 0
    for vector in vectors:
        theta = np.asarray(vector, dtype=np.float64)
        if mean is None or sq_mean is None:
            mean, sq_mean = np.zeros_like(theta), np.zeros_like(theta)
        mean = (count * mean + theta) / (count + 1)
        sq_mean = (count * sq_mean + theta ** 2) / (count + 1)
        columns.append(theta - mean)
        count += 1
    if mean is None or sq_mean is None:
        raise ValueError("SWAG needs at least one collected weight vector")
    deviations = np.stack(columns, axis=1) if columns else np.zeros((len(mean), 0))
    return SwagMoments(mean, sq_mean, deviations, count)


def sample_weights(moments: SwagMoments, variant: str, scale: float, generator: torch.Generator) -> np.ndarray:
    """One draw theta = theta_SWA + sqrt(s) (Sigma_diag^1/2 z1 + D z2 / sqrt(K - 1)), float64 (d,).

    SWAG-code sample_fullrank scales by sqrt(s), which gives the covariance s (Sigma_diag + D D^T / (K-1));
    K is the number of columns actually collected, not the rank asked for. With fewer than two columns
    the low-rank term does not exist and only the diagonal part is drawn.
    """
    import torch

    if variant == "swa":
        return moments.mean.copy()
    mean = torch.from_numpy(moments.mean)
    z1 = torch.randn(len(mean), generator=generator, dtype=torch.float64)
    noise = torch.from_numpy(np.sqrt(moments.diag_var)) * z1
    k = moments.rank
    if variant == "swag" and k >= 2:
        z2 = torch.randn(k, generator=generator, dtype=torch.float64)
        noise = noise + torch.from_numpy(moments.deviations) @ z2 / math.sqrt(k - 1)
    return (mean + math.sqrt(scale) * noise).numpy()


def moments_summary(moments: SwagMoments) -> str:
    """One log line describing the fitted Gaussian (the Sigma_diag histogram's centre and spread)."""
    diag = moments.diag_var
    columns = np.linalg.norm(moments.deviations, axis=0)
    column_norm = f"{columns.mean():.3g}" if len(columns) else "none"
    return (f"SWAG moments of {moments.count} collected weight vectors (d = {len(diag):,}, rank K = "
            f"{moments.rank}): Sigma_diag mean {diag.mean():.3g}, median {np.median(diag):.3g}, "
            f"max {diag.max():.3g}; |theta_SWA| = {np.linalg.norm(moments.mean):.4g}; "
            f"mean deviation column norm {column_norm}")


def swag_learning_rates(total_iters: int, iters_per_epoch: int, swa_start: float, lr_init: float,
                        swa_lr: float) -> np.ndarray:
    """run_swag.py's schedule per iteration: u = epoch / swa_start; 1 to u = 0.5, linear to swa_lr / lr_init
    at u = 0.9, then that ratio; the epoch is fractional (the iteration over the iterations per epoch)."""
    u = np.arange(total_iters, dtype=np.float64) / iters_per_epoch / swa_start
    ratio = swa_lr / lr_init
    factor = np.where(u <= 0.5, 1.0, np.where(u <= 0.9, 1.0 - (1.0 - ratio) * (u - 0.5) / 0.4, ratio))
    return lr_init * factor


def collection_iterations(iters_per_epoch: int, epochs: int, swa_start: float, per_epoch: int) -> np.ndarray:
    """The last iteration before each collection: per_epoch evenly spaced points in every epoch e (1-based)
    with e > swa_start, the last of them at the epoch's end (run_swag.py collects when epoch + 1 > swa_start)."""
    points = [(e - 1) * iters_per_epoch + math.ceil((j + 1) * iters_per_epoch / per_epoch) - 1
              for e in range(1, epochs + 1) if e > swa_start for j in range(per_epoch)]
    return np.asarray(points, dtype=np.int64)


def parameter_names(model: nn.Module) -> list[str]:
    """The modelled weights: parameters only, since BN buffers are recomputed for every sample."""
    return [name for name, _ in model.named_parameters()]


def flatten_parameters(state: Mapping[str, np.ndarray], names: list[str]) -> np.ndarray:
    return np.concatenate([np.asarray(state[n], dtype=np.float64).ravel() for n in names])


def assign_parameters(model: nn.Module, vector: np.ndarray) -> None:
    """Write a flat weight vector into the model's parameters, in named_parameters order."""
    import torch

    offset = 0
    with torch.no_grad():
        for parameter in model.parameters():
            n = parameter.numel()
            chunk = torch.from_numpy(vector[offset:offset + n]).view_as(parameter)
            parameter.copy_(chunk.to(dtype=parameter.dtype, device=parameter.device))
            offset += n
    if offset != len(vector):
        raise ValueError(f"a weight vector of {len(vector)} values does not fit a model of {offset} parameters")


@METHODS.register(
    "swag",
    (
        Param("variant", str, "swag",
              "swag: full Gaussian (diagonal plus rank-K); swag_diag: diagonal only; swa: the mean alone "
              "(one row, no sampling)", choices=VARIANTS),
        Param("swa_start_fraction", float, 0.5,
              "where the SWA phase starts, as a fraction of the epochs in the budget (0.5 of 20 epochs = epoch "
              "10); a fraction keeps the schedule's shape when the budget changes. The rate falls "
              "from the optimiser's to swa_lr between 50% and 90% of this point, and weights are collected "
              "in every later epoch", minimum=0.0, maximum=0.95, exclusive_minimum=True, label="SWA start fraction"),
        Param("swa_lr", float, 0.01, "constant learning rate of the SWA phase (replaces the spec's schedule)",
              minimum=0.0, maximum=10.0, exclusive_minimum=True, label="SWA learning rate", log_scale=True),
        Param("collect_per_epoch", int, 2,
              "weight vectors collected per epoch of the SWA phase (twice: K = 20 at the small-scale setup)",
              choices=(1, 2), label="collections per epoch"),
        Param("rank", int, 20, "K: the most recent deviation columns kept for the low-rank part",
              minimum=2, maximum=1000, label="rank K"),
        Param("scale", float, 0.5, "s: samples are drawn with covariance s (Sigma_diag + D D^T / (K - 1)); "
              "0 gives SWA", minimum=0.0, maximum=10.0, label="scale s"),
        Param("samples", int, 30, "S: weight samples averaged in the ensemble (ignored for swa, which is one)",
              minimum=1, maximum=1000, label="samples S"),
    ),
    title="SWA / SWAG",
    help="Maddox et al. 2019: a Gaussian fitted to the weights one net visits at the SWA learning rate; "
         "BatchNorm is recomputed for every sample.",
)
class Swag(Method):
    OWN_SCHEDULE = True  # see plan

    def samples(self) -> int:
        return 1 if self.params["variant"] == "swa" else int(self.params["samples"])

    def swa_start(self) -> float:
        """The SWA start in (fractional) epochs."""
        return float(self.params["swa_start_fraction"]) * self.spec.budget["epochs"]

    def plan(self, iters_per_epoch: int) -> Plan:
        epochs = self.spec.budget["epochs"]
        per_epoch = int(self.params["collect_per_epoch"])
        if iters_per_epoch < per_epoch:
            raise SpecError(f"method.collect_per_epoch = {per_epoch} needs at least {per_epoch} iterations per "
                            f"epoch, but the training subset gives {iters_per_epoch}; lower budget.batch_size "
                            f"or collect once per epoch")
        lr = swag_learning_rates(iters_per_epoch * epochs, iters_per_epoch, self.swa_start(),
                                 float(self.spec.optimizer["lr"]), float(self.params["swa_lr"]))
        snapshots = collection_iterations(iters_per_epoch, epochs, self.swa_start(), per_epoch)
        return Plan(lr, snapshots, iters_per_epoch, epochs, 1, self.samples())

    def check(self) -> None:
        if self.params["variant"] != "swag":
            return  # the rank is used by the low-rank part alone
        collected = len(self.plan(iters_per_epoch(self.spec)).snapshots)
        budget = (f"budget.epochs = {self.spec.budget['epochs']} with swa_start_fraction = "
                  f"{self.params['swa_start_fraction']} and collect_per_epoch = {self.params['collect_per_epoch']} "
                  f"collects {collected}")
        if collected < 2:
            raise SpecError(f"method.variant = 'swag' needs at least 2 collected weight vectors for its low-rank "
                            f"part, but {budget}; raise the epochs, collect twice per epoch, or choose swag_diag")
        rank = int(self.params["rank"])
        if rank > collected:  # the deviation matrix would hold fewer columns than the rank the run file states
            raise SpecError(f"method.rank = {rank} is more than the weight vectors SWAG collects: {budget}; lower "
                            f"method.rank to at most {collected}, or raise budget.epochs")

    def row_names(self, plan: Plan) -> list[str]:
        if self.params["variant"] == "swa":
            return ["SWA"]
        return [f"sample {i}" for i in range(plan.rows)]

    def train(self, ctx: TrainContext) -> None:
        from ..training import train_on_all_data

        ctx.log(f"SWA phase from epoch {self.swa_start():g} at learning rate {self.params['swa_lr']:g}; "
                f"{len(ctx.plan.snapshots)} weight vectors will be collected")
        train_on_all_data(ctx, 1, vectorize=False)

    def stopped_rows(self, ctx: TrainContext) -> dict[int, float]:
        # The Gaussian is fitted to the collected iterates only; the one in flight was never collected.
        return {}

    def partial_eval_rows(self, ctx: TrainContext, stopped: dict[int, float]) -> dict[int, float]:
        # Stopped before its last collection, every sample comes from a Gaussian of fewer iterates.
        if not ctx.in_flight or not ctx.rows:
            return {}
        epoch = max(flight.epoch for flight in ctx.in_flight.values())
        return {i: epoch for i in range(self.samples())}

    def moments(self, ctx: TrainContext) -> tuple[SwagMoments, list[str]]:
        """The moments of the collected snapshots in the order they were taken (also after a cancel)."""
        names = parameter_names(ctx.build_model(0))
        vectors = (flatten_parameters(ctx.rows[row], names) for row in sorted(ctx.rows))
        return running_moments(vectors, int(self.params["rank"])), names

    def predict(self, ctx: TrainContext, inputs: list[torch.Tensor]) -> Predictions:
        import torch

        from ..bn_update import update_batchnorm
        from ..prediction import Predictions, predict_probs

        variant, scale = self.params["variant"], float(self.params["scale"])
        moments, _ = self.moments(ctx)
        ctx.log(moments_summary(moments))
        if variant == "swag" and moments.rank < 2:
            ctx.log("fewer than 2 deviation columns were collected: samples use the diagonal part only")
        # Buffers of the last snapshot; BN ones are recomputed below.
        model = ctx.build_model(0, ctx.rows[max(ctx.rows)], trained=True)
        generator = torch.Generator().manual_seed(derive_seed(self.spec.seed, 0, SAMPLING))
        samples = self.samples()
        out: list[list[np.ndarray]] = [[] for _ in inputs]
        batch = self.spec.evaluation["batch_size"]
        for i in range(samples):
            assign_parameters(model, sample_weights(moments, variant, scale, generator))
            recomputed = update_batchnorm(model, ctx.data.train_x, self.spec.budget["batch_size"])
            if i == 0 and not recomputed:
                ctx.log("the model has no BatchNorm: no statistics to recompute for the samples")
            for j, x in enumerate(inputs):
                out[j].append(predict_probs(model, x, batch))
            ctx.progress.phase_step(i + 1, samples)
        return Predictions([np.stack(rows) for rows in out])
