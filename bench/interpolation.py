"""Interpolation speed: the λ loop before issue 12 against the new engines, on the same pairs, side by side.

Usage: python bench/interpolation.py [--tree OLD_CHECKOUT] [--models lenet5_caffe,lenet300_100,resnet20]
                                     [--repeat 2] [--threads N] [--device cpu|cuda] [--batches 64,128,256,512,1000]

Fashion-MNIST as a default run sees it (55k training objects, the 10k test split). Each model gets snapshot
pairs like the screen's default "final vs each earlier snapshot": snapshots 0..P of random-initialised weights
(seeds 1..P+1), pairs (j, P) for j < P; the timing does not depend on what the weights learnt. Per model, in one
process and on the same pairs and data tensors:
- old: `interpolate` of engine/line_losses.py in the --tree checkout (the commit before issue 12), loaded as a
  module of this ensgui (its helpers build_model, update_batchnorm and load_splits are unchanged by issue 12);
- sequential / vmap: the new engines at the same objects as old (the speed-up at equal objects);
- auto at the new defaults (DEFAULT_TRAIN_OBJECTS / DEFAULT_TEST_OBJECTS): what a user now gets by default.
LeNet-5-Caffe and LeNet-300-100 are measured at the old defaults (3 pairs x 21 points, 5000 training objects,
the whole test split). ResNet-20 (BatchNorm: statistics recomputed at every λ) is measured on 1 pair x 21 points
at 1000 / 1000 objects, since the old loop needs about 20 minutes per pair at the old defaults on 2 cores.
Seconds are the best of --repeat repeats (old and new interleaved) of interpolating all pairs; loading the data is
left out. The differences to old are the largest relative difference of the two losses and the largest difference
of the errors in objects, over all pairs and points. --batches times the new sequential engine at several
inference batch sizes on 1 pair x 5 points at the new defaults (how CPU_BATCH was chosen).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

# This checkout's ensgui, not whichever one the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ensgui.engine.data import load_splits  # noqa: E402
from ensgui.engine.interpolation import (DEFAULT_TEST_OBJECTS, DEFAULT_TRAIN_OBJECTS, InterpolationResult,
                                         lambda_grid, train_subset_size)
from ensgui.engine.line_losses import activation_bytes, choose_engine, chunk_size, default_batch, interpolate
from ensgui.engine.models import MODELS
from ensgui.engine.nets import build_model
from ensgui.engine.spec import Spec

ALL = 10 ** 9  # more test objects than any split has: the whole test split, as the old loop used


@dataclass(frozen=True)
class Case:
    model: str
    pairs: int
    train: int  # the objects old and new are compared at
    test: int


CASES = {
    "lenet5_caffe": Case("lenet5_caffe", 3, 5000, ALL),
    "lenet300_100": Case("lenet300_100", 3, 5000, ALL),
    "resnet20": Case("resnet20", 1, 1000, 1000),
}


def spec_for(model: str, device: str) -> Spec:
    return Spec.from_dict({
        "name": "bench-interpolation", "seed": 0, "device": device,
        "data": {"name": "fashion-mnist", "train_size": 0, "val_size": 5000, "test_size": 0},
        "model": {"name": model}, "method": {"name": "snapshot", "cycles": 4},
        "optimizer": {"name": "sgd", "lr": 0.05}, "schedule": {"name": "base"},
        "budget": {"epochs": 4, "batch_size": 128},  # the BatchNorm recomputation's batch
    })


def snapshot_pairs(spec: Spec, data, pairs: int) -> list[tuple[dict, dict]]:
    def state(seed: int) -> dict[str, np.ndarray]:
        torch.manual_seed(seed)
        net = MODELS.get(spec.model.name).factory(spec.model.params, data.input_shape, data.num_classes)
        return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}

    snaps = [state(seed) for seed in range(1, pairs + 2)]
    return [(snaps[j], snaps[-1]) for j in range(pairs)]


def load_old(tree: Path) -> Callable:
    """The old checkout's interpolate, its relative imports resolved in this ensgui."""
    path = tree / "ensgui" / "engine" / "line_losses.py"
    spec = importlib.util.spec_from_file_location("ensgui.engine._line_losses_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.interpolate


def timed(run: Callable[[], list[InterpolationResult]]) -> tuple[float, list[InterpolationResult]]:
    start = time.perf_counter()
    results = run()
    return time.perf_counter() - start, results


def differences(new: list[InterpolationResult], old: list[InterpolationResult], n_train: int,
                n_test: int) -> tuple[float, float]:
    """Largest relative loss difference and largest error difference in objects, over pairs and points."""
    rel, objects = 0.0, 0.0
    for r, o in zip(new, old):
        for name in ("train_loss", "test_loss"):
            rel = max(rel, float(np.max(np.abs(getattr(r, name) / getattr(o, name) - 1.0))))
        objects = max(objects, float(np.max(np.abs(r.train_error - o.train_error))) * n_train,
                      float(np.max(np.abs(r.test_error - o.test_error))) * n_test)
    return rel, objects


def bench_model(case: Case, old: Callable | None, args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    spec = spec_for(case.model, args.device)
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    pairs = snapshot_pairs(spec, data, case.pairs)
    grid = lambda_grid(21)
    n_train, n_test = train_subset_size(data, case.train), min(case.test, len(data.test_y))
    net = build_model(spec, data.input_shape, data.num_classes)
    per_object = activation_bytes(net, data.test_x[:1])
    evaluation_batch = int(spec.evaluation["batch_size"])
    seq_batch, vmap_batch = (default_batch(e, device, evaluation_batch) for e in ("sequential", "vmap"))

    def new(engine: str, train: int, test: int) -> Callable[[], list[InterpolationResult]]:
        return lambda: [interpolate(spec, a, b, grid, data, device, train_objects=train, test_objects=test,
                                    engine=engine) for a, b in pairs]

    variants: list[tuple[str, str, int, int, Callable]] = []
    if old is not None:
        variants.append(("old loop", f"{evaluation_batch}", n_train, n_test,
                         lambda: [old(spec, a, b, grid, data, device, train_objects=case.train) for a, b in pairs]))
    chunk = chunk_size(per_object, vmap_batch, len(grid), device)
    variants += [("sequential", f"{seq_batch}", n_train, n_test, new("sequential", case.train, case.test)),
                 ("vmap", f"{vmap_batch}, {chunk} λ per chunk", n_train, n_test, new("vmap", case.train, case.test))]
    d_train = train_subset_size(data, DEFAULT_TRAIN_OBJECTS)
    d_test = min(DEFAULT_TEST_OBJECTS, len(data.test_y))
    auto = choose_engine("auto", device)
    variants.append((f"auto ({auto}), new defaults", f"{default_batch(auto, device, evaluation_batch)}", d_train,
                     d_test, new("auto", DEFAULT_TRAIN_OBJECTS, DEFAULT_TEST_OBJECTS)))
    best = {name: float("inf") for name, *_ in variants}
    results: dict[str, list[InterpolationResult]] = {}
    for repeat in range(args.repeat):
        for name, _batch, _tr, _te, run in variants:
            seconds, out = timed(run)
            best[name] = min(best[name], seconds)
            results[name] = out
            print(f"  {case.model} repeat {repeat + 1}: {name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    rows = []
    reference = best.get("old loop")
    for name, batch, tr, te, _run in variants:
        equal = (tr, te) == (n_train, n_test)
        rel, objects = (differences(results[name], results["old loop"], n_train, n_test)
                        if old is not None and equal and name != "old loop" else (None, None))
        rows.append({"model": case.model, "pairs": f"{case.pairs} x {len(grid)}", "objects": f"{tr} / {te}",
                     "engine": name, "batch": batch, "seconds": best[name],
                     "speedup": reference / best[name] if reference else None, "rel": rel, "errors": objects})
    return rows


def batch_sweep(model: str, batches: list[int], args: argparse.Namespace) -> list[tuple[int, float]]:
    spec = spec_for(model, args.device)
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    (a, b), = snapshot_pairs(spec, data, 1)
    out = []
    for batch in batches:
        best = float("inf")
        for _ in range(args.repeat):
            seconds, _r = timed(lambda: [interpolate(spec, a, b, np.linspace(0, 1, 5), data, args.device,
                                                     engine="sequential", batch_size=batch)])
            best = min(best, seconds)
        out.append((batch, best))
        print(f"  {model} sequential batch {batch}: {best:.2f} s", file=sys.stderr, flush=True)
    return out


def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="checkout whose engine/line_losses.py is the old loop")
    parser.add_argument("--models", default=",".join(CASES), help="comma-separated, of " + ", ".join(CASES))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batches", default="", help="e.g. 64,128,256,512,1000: time the sequential engine's batch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    old = load_old(args.tree) if args.tree else None
    models = [m for m in args.models.split(",") if m]
    print(f"{datetime.datetime.now().isoformat(timespec='seconds')} · {platform.processor() or platform.machine()} · "
          f"torch {torch.__version__} · {torch.get_num_threads()} threads · device {args.device} · "
          f"best of {args.repeat}")
    rows = [row for model in models for row in bench_model(CASES[model], old, args)]
    head = ["model", "pairs x points", "train / test objects", "engine", "batch", "seconds", "speed-up vs old",
            "max rel. loss diff", "max error diff (objects)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["model"], r["pairs"], r["objects"], r["engine"], r["batch"], f"{r['seconds']:.1f}",
                 fmt(r["speedup"], ".1f") + ("x" if r["speedup"] else ""), fmt(r["rel"], ".1e"),
                 fmt(r["errors"], ".0f")]
        print("| " + " | ".join(cells) + " |")
    batches = [int(b) for b in args.batches.split(",") if b]
    if batches:
        print()
        print("| model | " + " | ".join(f"batch {b}" for b in batches) + " |")
        print("|---|" + "---|" * len(batches))
        for model in models:
            sweep = batch_sweep(model, batches, args)
            print(f"| {model} (1 x 5 points, s) | " + " | ".join(f"{s:.2f}" for _b, s in sweep) + " |")


if __name__ == "__main__":
    main()
