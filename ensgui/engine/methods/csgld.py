"""Cyclical SGLD: SSE's cosine cycles with Langevin noise in each cycle's sampling stage, samples taken there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..cyclic import csgld_samples, csgld_stage, cyclic_cosine_lr
from ..errors import SpecError
from ..plan import Plan
from ..planning import iters_per_epoch
from ..schema import Param
from ..seeding import derive_seed
from .base import METHODS, Method
from .snapshot import ALPHA0, CYCLES, check_cycles

if TYPE_CHECKING:
    import torch

    from ..members import MemberGroup
    from ..training import TrainContext

# A derive_seed purpose beyond seeding's own streams, so the noise is independent of init and data order.
LANGEVIN = 100
TEMPERATURES = ("1/N", "B^2/N", "1")


def temperature_value(choice: str, train_objects: int, batch_size: int) -> float:
    """T of the tempered posterior: 1/N (cSG-code's cold default), B^2/N (PE's effective value) or 1."""
    values = {"1/N": 1.0 / train_objects, "B^2/N": batch_size**2 / train_objects, "1": 1.0}
    return values[choice]


@dataclass
class LangevinNoise:
    """The after_step hook: theta += sqrt(2 lr T / N) xi after every optimiser step of the sampling stage.

    With the batch-mean loss and weight decay as the Gaussian prior, the optimiser's lr is N times the
    Langevin step on the potential U, which turns sqrt(2 eta T) into this (methods.md 11a).
    """

    sampling: np.ndarray  # bool per 0-based step: r(k) >= beta
    temperature: float
    train_objects: int
    generator: torch.Generator

    def std(self, lr: float) -> float:
        return math.sqrt(2.0 * lr * self.temperature / self.train_objects)

    def __call__(self, group: MemberGroup, ids: list[int], step: int, lr: float) -> None:
        import torch

        if not self.sampling[step]:
            return
        scale = self.std(lr)
        with torch.no_grad():
            for tensor in group.parameters():
                noise = torch.randn(tensor.shape, generator=self.generator, device=tensor.device, dtype=tensor.dtype)
                tensor.add_(noise, alpha=scale)


@METHODS.register(
    "csgld",
    (
        CYCLES,
        ALPHA0,
        Param("beta", float, 0.8,
              "share of every cycle explored by plain SGD; Langevin noise and samples come after it (r ≥ β)",
              minimum=0.0, maximum=0.99, label="exploration β"),
        Param("samples_per_cycle", int, 3,
              "samples evenly spaced in each cycle's sampling stage, the last at the cycle end",
              minimum=1, maximum=1000, label="samples per cycle"),
        Param("temperature", str, "1/N",
              "posterior temperature T with N training objects and B the batch size: 1/N (cSG-code), "
              "B^2/N (PE's effective value) or 1 (the true posterior)",
              choices=TEMPERATURES),
    ),
    title="Cyclical SGLD (cSGLD)",
    help="Zhang et al. 2020: SSE's cosine cycles; after a share β of each cycle, noise sqrt(2·lr·T/N) joins "
         "every step and samples are kept. For plain SGLD use SGD with momentum 0 (with momentum it is "
         "SGHMC-like); alpha0 replaces optimizer.lr.",
)
class CyclicalSGLD(Method):
    OWN_SCHEDULE = True  # see plan

    def check(self) -> None:
        self.plan(iters_per_epoch(self.spec))

    def plan(self, per_epoch: int) -> Plan:
        p, optimizer = self.params, self.spec.optimizer
        if optimizer.name != "sgd":
            raise SpecError(f"optimizer.name = {optimizer.name!r} does not fit cSGLD: its noise scale assumes "
                            f"SGD steps; choose optimizer sgd (momentum 0 for plain SGLD)")
        total = per_epoch * self.spec.budget["epochs"]
        check_cycles(total, p["cycles"])
        samples = csgld_samples(total, p["cycles"], p["beta"], p["samples_per_cycle"])
        wanted = p["cycles"] * p["samples_per_cycle"]
        if len(samples) < wanted:
            raise SpecError(f"method.samples_per_cycle = {p['samples_per_cycle']} does not fit: the sampling "
                            f"stages (the last {1 - p['beta']:.0%} of each cycle) hold only {len(samples)} "
                            f"distinct sample points of the {wanted} asked for; lower method.samples_per_cycle "
                            f"or method.beta, or raise budget.epochs")
        lr = cyclic_cosine_lr(total, p["cycles"], p["alpha0"])
        return Plan(lr, samples, per_epoch, self.spec.budget["epochs"], 1, len(samples))

    def row_names(self, plan: Plan) -> list[str]:
        per_cycle = self.params["samples_per_cycle"]
        return [f"cycle {j // per_cycle} sample {j % per_cycle}" for j in range(len(plan.snapshots))]

    def noise(self, ctx: TrainContext) -> LangevinNoise:
        """The hook for this run, with its own generator seeded from the spec seed."""
        import torch

        p = self.params
        stage = csgld_stage(ctx.plan.total_iters, p["cycles"], p["beta"])
        n = len(ctx.data.train_y)
        generator = torch.Generator(device=ctx.device).manual_seed(derive_seed(self.spec.seed, 0, LANGEVIN))
        return LangevinNoise(stage.sampling, temperature_value(p["temperature"], n, self.spec.budget["batch_size"]),
                             n, generator)

    def train(self, ctx: TrainContext) -> None:
        from ..training import TrainHooks, train_on_all_data

        noise = self.noise(ctx)
        momentum = self.spec.optimizer["momentum"]
        if momentum > 0:
            ctx.log(f"optimizer.momentum = {momentum} > 0: this chain is SGHMC-like, not plain SGLD (the noise "
                    f"keeps SGLD's scale); set optimizer.momentum = 0 for plain SGLD")
        ctx.log(f"cSGLD: noise sqrt(2·lr·T/N) with T = {self.params['temperature']} = {noise.temperature:.3g} and "
                f"N = {noise.train_objects} on {int(noise.sampling.sum())} of {len(noise.sampling)} steps; "
                f"{ctx.plan.rows} samples")
        train_on_all_data(ctx, 1, vectorize=False, hooks=TrainHooks(after_step=noise, generators=(noise.generator,)))
