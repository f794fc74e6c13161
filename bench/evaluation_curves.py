"""Time ensemble_curves (metric-vs-size curves over member orders) of two checkouts side by side.

Usage: python bench/evaluation_curves.py [--tree OLD_CHECKOUT] [--sizes 5 20 100] [--repeat 3] [--old-repeat 1]
                                         [--test 10000] [--val 1000] [--classes 10] [--markdown]

The data are synthetic but shaped like a real run: K members' float32 probabilities on a test and a validation
split, softmax of overconfident logits = class signal + class-correlated object noise (shared by all members,
so some objects are hard for everyone) + member noise (so members differ and an ensemble helps). Single members
err on about 21% of the test objects, the ensemble of 100 on about 14%; members are overconfident (tau about 1.9)
and large ensembles about calibrated (tau near 0.9), as deep ensembles usually are.

Every checkout (this one, and --tree if given) runs in a process of its own (one `ensgui` per interpreter), on
the same data, with the default EvalOptions (5 orders, 15 bins, CNLL 2 splits x 5 runs), for every K in --sizes
with and without validation: the best of --repeat calls is reported (--old-repeat for --tree, which is slow).
The curves of the two checkouts are compared too: the largest difference of tau (relative) and of every other
curve (absolute, mean and std columns), over all K and both splits.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def synthetic_members(k: int, n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(k, n, c) float32 member probabilities and (n,) labels; the first k members of a larger k agree."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, size=n)
    # Classes resemble each other unevenly (a random similarity), so errors go to "nearby" classes.
    similarity = rng.normal(size=(c, c))
    similarity = similarity @ similarity.T / c
    object_noise = rng.normal(size=(n, c)) @ np.linalg.cholesky(similarity + np.eye(c)).T
    shared = 3.0 * np.eye(c)[labels] + 0.55 * similarity[labels] + 0.9 * object_noise
    probs = np.empty((k, n, c), dtype=np.float32)
    member_rng = np.random.default_rng([seed, 1])
    for j in range(k):
        logits = 3.0 * (shared + 0.7 * member_rng.normal(size=(n, c)))  # 3.0: overconfident members
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probs[j] = e / e.sum(axis=1, keepdims=True)
    return probs, labels


def worker(args: argparse.Namespace) -> None:
    """Time this interpreter's ensemble_curves on the data and store timings and curves in --out."""
    # This script's folder comes first on sys.path, not a checkout: put the measured one in front.
    sys.path.insert(0, str(Path(args.worker_tree).resolve() if args.worker_tree else ROOT))
    import ensgui
    from ensgui.engine.evaluation import EvalOptions, ensemble_curves

    k_max = max(args.sizes)
    test_probs, test_labels = synthetic_members(k_max, args.test, args.classes, seed=1)
    val_probs, val_labels = synthetic_members(k_max, args.val, args.classes, seed=2)
    results: dict[str, object] = {"ensgui": str(Path(ensgui.__file__).parent.parent), "times": {}}
    curves: dict[str, np.ndarray] = {}
    for k in args.sizes:
        for with_val in (False, True):
            key = f"{k}-{'val' if with_val else 'noval'}"
            call = (test_probs[:k], test_labels) + ((val_probs[:k], val_labels) if with_val else ())
            best = float("inf")
            for _ in range(args.worker_repeat):
                start = time.perf_counter()
                out = ensemble_curves(*call, options=EvalOptions())
                best = min(best, time.perf_counter() - start)
            results["times"][key] = best
            for split, per in out.items():
                for name, v in per.items():
                    curves[f"{key}/{split}/{name}"] = v
            print(f"  {Path(results['ensgui']).name}: K = {k:3d} {'with' if with_val else 'no'} validation: "
                  f"{best:.3f} s", file=sys.stderr, flush=True)
    if with_val:
        p = test_probs.astype(np.float64)
        results["data"] = {
            "member_error": float(np.mean(p.argmax(axis=2) != test_labels)),
            "ensemble_error": float(np.mean(p.mean(axis=0).argmax(axis=1) != test_labels)),
        }
    np.savez(Path(args.out).with_suffix(".npz"), **curves)
    Path(args.out).write_text(json.dumps(results))


def run_tree(tree: Path | None, repeat: int, args: argparse.Namespace, folder: Path) -> tuple[dict, dict]:
    out = folder / ("old.json" if tree else "new.json")
    command = [sys.executable, __file__, "--worker-out", str(out), "--worker-repeat", str(repeat),
               "--test", str(args.test), "--val", str(args.val), "--classes", str(args.classes),
               "--sizes", *map(str, args.sizes)]
    if tree:
        command += ["--worker-tree", str(tree)]
    subprocess.run(command, check=True, cwd=ROOT)
    with np.load(out.with_suffix(".npz")) as npz:
        return json.loads(out.read_text()), dict(npz)


def largest_differences(new: dict[str, np.ndarray], old: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest |new - old| per metric over all keys (tau_val relative), nan-aware."""
    worst: dict[str, float] = {}
    for key, a in new.items():
        b = old[key]
        name = key.rsplit("/", 1)[1]
        both_nan = np.isnan(a) & np.isnan(b)
        diff = np.abs(a - b)
        if name == "tau_val":  # relative where tau is a value; a std of about 0 (k = K) compares absolutely
            diff = diff / np.maximum(np.abs(b), 1e-3)
        diff = np.where(both_nan, 0.0, diff)
        worst[name] = max(worst.get(name, 0.0), float(np.nanmax(diff)) if not np.isnan(diff).all() else np.inf)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="the old checkout to compare with (e.g. the base commit)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old-repeat", type=int, default=1)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--val", type=int, default=1_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--markdown", action="store_true", help="print the table only")
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--worker-tree", help=argparse.SUPPRESS)
    parser.add_argument("--worker-repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_out:
        args.out = args.worker_out
        worker(args)
        return

    with tempfile.TemporaryDirectory(prefix="ensgui-curves-") as tmp:
        folder = Path(tmp)
        # The old tree first: the baseline is measured before the new code.
        old = run_tree(args.tree, args.old_repeat, args, folder) if args.tree else None
        new = run_tree(None, args.repeat, args, folder)

    import numpy  # noqa: F401 - versions for the header
    data = new[0].get("data", {})
    print(f"# {datetime.datetime.now():%Y-%m-%d %H:%M} · {platform.processor() or platform.machine()} · "
          f"{os.cpu_count()} cores · numpy {np.__version__} · test {args.test}, val {args.val}, "
          f"{args.classes} classes · member error {data.get('member_error', float('nan')):.3f}, "
          f"ensemble of {max(args.sizes)} {data.get('ensemble_error', float('nan')):.3f}")
    if old:
        print(f"# old: {old[0]['ensgui']} (best of {args.old_repeat}); new: {new[0]['ensgui']} "
              f"(best of {args.repeat})")
        print("| K | validation | old (s) | new (s) | speed-up |")
        print("|---|---|---|---|---|")
    else:
        print(f"# {new[0]['ensgui']} (best of {args.repeat})")
        print("| K | validation | time (s) |")
        print("|---|---|---|")
    for k in args.sizes:
        for with_val in (False, True):
            key = f"{k}-{'val' if with_val else 'noval'}"
            t_new = new[0]["times"][key]
            label = "yes" if with_val else "no"
            if old:
                t_old = old[0]["times"][key]
                print(f"| {k} | {label} | {t_old:.2f} | {t_new:.3f} | {t_old / t_new:.1f}x |")
            else:
                print(f"| {k} | {label} | {t_new:.3f} |")
    if old:
        worst = largest_differences(new[1], old[1])
        print("\nLargest |new - old| over all K, both splits, mean and std (tau_val: relative):")
        print(", ".join(f"{name} {v:.1e}" for name, v in sorted(worst.items())))


if __name__ == "__main__":
    main()
