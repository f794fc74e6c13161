"""Training throughput per member: vectorised (torch.func.vmap) against sequential members, side by side.

Usage: python bench/throughput.py [--steps 20] [--threads N] [--device cpu|cuda] [--markdown]
Prints samples per second per member and the vectorised/sequential speed-up for K = 1, 5, 10 on
LeNet-5-Caffe and LeNet-300-100 (MLP) with batch 128 on 28x28 inputs, using the engine's own groups,
loss and optimiser step.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import time

import torch

from ensgui.engine.members import SingleMember, StackedMembers
from ensgui.engine.models import MODELS
from ensgui.engine.optim import OPTIMIZERS
from ensgui.engine.group_loop import cross_entropy_per_member

SGD = {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}


def step_time(groups, batch: int, steps: int, device: torch.device, repeats: int = 3) -> float:
    """Seconds per optimisation step of all members (every group once): the best of several repeats,
    since on a shared 2-core machine any other process only ever makes a repeat slower."""
    optimizers = [OPTIMIZERS.get("sgd").factory(SGD, g.parameters()) for g in groups]
    x = [torch.randn(g.size, batch, 1, 28, 28, device=device) for g in groups]
    y = [torch.randint(0, 10, (g.size, batch), device=device) for g in groups]

    def one_step() -> None:
        for g, opt, xs, ys in zip(groups, optimizers, x, y):
            loss = cross_entropy_per_member(g.forward(xs), ys).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    for _ in range(3):  # warm-up: allocator, vmap tracing, cuDNN autotuning
        one_step()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            one_step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 5, 10])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# {datetime.date.today()} · {name} · {os.cpu_count()} cores, torch threads {args.threads} · "
          f"torch {torch.__version__} · batch {args.batch} · best of 3 x {args.steps} timed steps")
    importlib.import_module("torch._dynamo")  # the first vmap call imports it; keep that out of the timings
    print("| model | K | vectorised samples/s/member | sequential samples/s/member | speed-up |")
    print("|---|---|---|---|---|")
    for model in ("lenet5_caffe", "lenet300_100"):
        factory = MODELS.get(model).factory
        for k in args.members:
            nets = [factory({"dropout": 0.0}, (1, 28, 28), 10).to(device) for _ in range(k)]
            vec = step_time([StackedMembers(nets)], args.batch, args.steps, device)
            seq = step_time([SingleMember(n) for n in nets], args.batch, args.steps, device)
            print(f"| {model} | {k} | {args.batch / vec:,.0f} | {args.batch / seq:,.0f} | {seq / vec:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
