"""After training: how long a run spends predicting, computing metrics and margins, against a plain forward pass.

Usage: python bench/evaluation.py [--members 20] [--train 256] [--tree CHECKOUT ...] [--markdown]

Runs the engine's own run_spec (a deep ensemble of LeNet-5-Caffe on Fashion-MNIST: the training subset, 1 epoch,
1k validation, the whole 10k test set) and records when each phase starts (training, predicting, evaluating,
margins, the end). Beside it, in the same process, a plain PyTorch forward pass of as many such nets over the same
validation + test objects at batch 256 and 1000: the floor the work after training is compared with. --tree runs
the same measurement on other checkouts (each in its own process, one after another) for a side-by-side table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

SPEC = """
name = "bench-evaluation"
seed = 0
device = "cpu"
[data]
name = "fashion-mnist"
train_size = {train}
val_size = 1000
test_size = 0
[model]
name = "lenet5_caffe"
[method]
name = "deep_ensemble"
members = {members}
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
weight_decay = 0.0005
[schedule]
name = "base"
[loss]
name = "cross_entropy"
[evaluation]
[budget]
epochs = 1
batch_size = 128
"""


def measure(members: int, train: int, threads: int) -> dict:
    """One run's phase times and the plain-forward floor, in this process (with the ensgui it imports)."""
    import torch

    from ensgui.engine.events import Progress, RunEnded
    from ensgui.engine.nets import build_model
    from ensgui.engine.runner import run_spec
    from ensgui.engine.spec import Spec
    from ensgui.engine.task_state import TaskState

    torch.set_num_threads(threads)
    spec = Spec.from_toml(SPEC.format(members=members, train=train))
    marks: dict[str, float] = {}
    start = time.perf_counter()
    status = {}

    def sink(event) -> None:
        now = time.perf_counter() - start
        if isinstance(event, Progress):
            marks.setdefault(event.phase, now)
        elif isinstance(event, RunEnded):
            marks["end"] = now
            status["status"] = event.status
            status["error"] = event.error

    data = {}
    run_spec(spec, TaskState([sink]), threads=threads)
    if status.get("status") != "finished":
        raise SystemExit(f"run did not finish: {status}")
    phases = [p for p in ("training", "predicting", "evaluating", "margins", "end") if p in marks]
    spans = {a: marks[b] - marks[a] for a, b in zip(phases, phases[1:])}
    after = marks["end"] - marks[next(p for p in phases if p != "training")]

    from ensgui.engine.data import load_splits
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    x = torch.cat([data.val_x, data.test_x])
    nets = [build_model(spec, data.input_shape, data.num_classes, m).eval() for m in range(members)]
    plain = {}
    for batch in (256, 1000):
        t0 = time.perf_counter()
        with torch.no_grad():
            for net in nets:
                for s in range(0, len(x), batch):
                    net(x[s:s + batch])
        plain[batch] = time.perf_counter() - t0
    return {"spans": spans, "after": after, "plain": plain, "objects": len(x), "torch": torch.__version__}


def run_tree(tree: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()))
    cmd = [sys.executable, __file__, "--child", "--members", str(args.members), "--train", str(args.train),
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{tree}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--tree", action="append", default=[], help="another checkout to measure beside this one")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.members, args.train, args.threads)))
        return
    here = str(Path(__file__).resolve().parent.parent)
    results = [(tree, run_tree(tree, args)) for tree in [*args.tree, here]]
    print(f"{time.strftime('%Y-%m-%d')} · {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"threads {args.threads}, torch {results[-1][1]['torch']} · deep ensemble of {args.members} LeNet-5-Caffe, "
          f"{args.train} training objects, 1 epoch, {results[-1][1]['objects']} validation + test objects")
    print()
    print("| checkout | training s | predicting s | evaluating s | margins s | after training s | "
          "plain forward b256 s | plain b1000 s | after / plain b256 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for tree, r in results:
        s = r["spans"]
        cells = [f"{s[p]:.1f}" if p in s else "–" for p in ("training", "predicting", "evaluating", "margins")]
        print(f"| {Path(tree).name} | {' | '.join(cells)} | {r['after']:.1f} | {r['plain']['256']:.1f} | "
              f"{r['plain']['1000']:.1f} | {r['after'] / r['plain']['256']:.2f}x |")


if __name__ == "__main__":
    main()
