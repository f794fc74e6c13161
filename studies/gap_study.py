"""Headless study of issue 4: gap sweep (accuracy, ROC-AUC, Hessian and Fisher traces) and gap boosting.

Usage: python studies/gap_study.py --out gap-study-runs [--train-size 0] [--epochs 20]
LeNet-5-Caffe on Fashion-MNIST with the last layer frozen at row norm 10 and SGD 0.01 (the
gap_boosting preset, methods.md section 6's small-scale defaults). Part 1 sweeps the gap over 0, 0.5, 1, 2, 4 and the mean training margin of
the gap-0 net. Part 2 trains gap boosting (T = 4) in both variants and a deep ensemble of 4 with the
same frozen last layer and epochs per model, and with --remedies [ensemble] [clip] also save_mean with
ensemble margins and with clipped gaps. Runs already in --out are reused (part 2), so an
interrupted study resumes (an unfinished sweep goes on from its last finished point). Prints two markdown
tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ensgui.cli import TerminalProgress
from ensgui.engine.spec import Spec
from ensgui.resources import PRESETS
from ensgui.storage.reader import read_boosting, read_margins, read_run
from ensgui.engine.task_state import TaskState
from ensgui.storage.sweep_store import read_sweep
from ensgui.tasks.sweep import resume_gap_sweep, run_gap_sweep
from ensgui.storage.workspace import Workspace
from study_runs import cell, curve_cells, run_or_reuse

GAPS = "0, 0.5, 1, 2, 4, mean"
MODELS = 4
REMEDIES = {  # --remedies name -> (table label, method parameters added to save_mean)
    "ensemble": ("ensemble margins", {"margins_of": "ensemble"}),
    "clip": ("gaps clipped to [0, 10]", {"clip": True, "gap_min": 0.0, "gap_max": 10.0}),
}


def base_spec(method: dict, name: str, args: argparse.Namespace) -> Spec:
    """The gap-boosting preset (frozen last layer, row norm 10, SGD 0.01) with the given method table.

    Every arm shares that preset's loss, optimiser and schedule, so only the method differs.
    """
    values = Spec.load(str(PRESETS / "gap_boosting.toml")).to_dict()
    values["method"] = method
    values["data"].update(train_size=args.train_size, val_size=args.val_size)
    values["budget"]["epochs"] = args.epochs
    values.update(name=name, seed=args.seed, device="auto")
    return Spec.from_dict(values)


def sweep_table(out: Path, args: argparse.Namespace) -> None:
    spec = base_spec({"name": "single"}, "gap-sweep", args)
    path = None if args.fresh_sweep else _earlier_sweep(out, spec, args.width_objects)
    if path is None:
        path = run_gap_sweep(spec, [*_parse(GAPS)], out, TaskState([TerminalProgress()]), threads=args.threads,
                             width_objects=args.width_objects)
    elif read_sweep(path).status == "finished":
        print(f"reusing {path.name}", file=sys.stderr)
    else:
        print(f"resuming {path.name}", file=sys.stderr)
        path = resume_gap_sweep(path, TaskState([TerminalProgress()]), threads=args.threads)
    sweep = read_sweep(path)
    print("| gap | train acc % | test acc % | ROC-AUC max-prob | ROC-AUC margin | tr H ± se | tr F (true) ± se "
          "| tr F (empirical) ± se |")
    print("|---|---|---|---|---|---|---|---|")
    for i, label in enumerate(sweep.labels):
        def pm(values):  # mean ± standard error
            return f"{cell(values[i, 0], 2)} ± {cell(values[i, 1], 2)}"
        print(f"| {label} | {cell(100 * sweep.train_acc[i], 2)} | {cell(100 * sweep.test_acc[i], 2)} "
              f"| {cell(sweep.auroc_prob[i], 4)} | {cell(sweep.auroc_margin[i], 4)} | {pm(sweep.hessian)} "
              f"| {pm(sweep.fisher_true)} | {pm(sweep.fisher_empirical)} |")


def _earlier_sweep(out: Path, spec: Spec, width_objects: int) -> Path | None:
    """The newest sweep in out of exactly this spec, gap list and width subset that is finished or can go on."""
    for path in Workspace(out).sweeps():  # newest first
        sweep = read_sweep(path)
        same = (sweep.spec_toml == spec.to_toml() and sweep.requested == GAPS
                and sweep.width_objects == width_objects)
        if same and sweep.status != "running":
            return path
    return None


def _parse(text: str):
    from ensgui.engine.sweep import parse_gap_values

    return parse_gap_values(text)


def boosting_table(out: Path, args: argparse.Namespace) -> None:
    runs = {}
    # Sequential members: on a CPU the vectorised group is slower (docs/benchmarks.md). Same seeded streams;
    # only floating-point rounding differs, so member 0 is exactly the sweep's gap-0 net and boosting's model 1.
    runs["deep ensemble"] = base_spec({"name": "deep_ensemble", "members": MODELS, "vectorize": False},
                                      "gap-study-deep_ensemble", args)
    for variant in ("save_mean", "zero_mean"):
        method = {"name": "gap_boosting", "models": MODELS, "variant": variant}
        runs[f"gap boosting, {variant}"] = base_spec(method, f"gap-study-boosting-{variant}", args)
    for remedy in args.remedies:  # ways to bound save_mean's growing gaps (docs/results.md, issue 4)
        label, extra = REMEDIES[remedy]
        method = {"name": "gap_boosting", "models": MODELS, "variant": "save_mean", **extra}
        name = f"gap-study-boosting-save_mean-{remedy}"
        runs[f"gap boosting, save_mean, {label}"] = base_spec(method, name, args)
    paths = {label: run_or_reuse(spec, out, args.threads) for label, spec in runs.items()}
    curves = {label: read_run(path, with_probs=False).eval["test"].curves for label, path in paths.items()}
    reference = curves["deep ensemble"]["cnll"][:, 0]
    sizes = list(range(1, MODELS + 1))
    at = " / ".join(f"@{k}" for k in sizes)
    print(f"| method | error % {at} | NLL {at} | CNLL {at} | DEE {at} |")
    print("|---|---|---|---|---|")
    for label, c in curves.items():
        print(f"| {label} | {' | '.join(curve_cells(c, sizes, reference))} |")
    print()
    per_model_table({label: path for label, path in paths.items() if label != "deep ensemble"})


def per_model_table(paths: dict[str, Path]) -> None:
    """Each boosting model alone: test error and NLL, its training margins, and the gaps it trained with."""
    print("| arm | model | test error % | test NLL | mean train margin | train acc % "
          "| gaps it trained with: mean (std) [min, max] |")
    print("|---|---|---|---|---|---|---|")
    for label, path in paths.items():
        members = read_run(path, with_probs=False).eval["test"].member_metrics
        train = read_margins(path)["train"].raw
        rounds = read_boosting(path)
        for model in range(len(members["error"])):
            if rounds is not None and model in rounds.models:
                g = rounds.gaps[list(rounds.models).index(model)].astype(np.float64)
                gaps = f"{g.mean():.1f} ({g.std():.1f}) [{g.min():.0f}, {g.max():.0f}]"
            else:
                gaps = "CE"
            m = train[model].astype(np.float64)
            print(f"| {label} | {model + 1} | {100 * members['error'][model]:.2f} | {members['nll'][model]:.3f} "
                  f"| {m.mean():.2f} | {100 * np.mean(m > 0):.1f} | {gaps} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--train-size", type=int, default=0, help="0 = all 55k training objects")
    parser.add_argument("--val-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width-objects", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--fresh-sweep", action="store_true", help="run the sweep even if --out holds one")
    parser.add_argument("--remedies", nargs="*", choices=sorted(REMEDIES),
                        help="also run save_mean with these remedies, in this order: margins_of = ensemble "
                             "(ensemble) and gaps clipped to [0, 10] (clip); --remedies alone runs both")
    parser.add_argument("--parts", nargs="+", default=["sweep", "boosting"], choices=["sweep", "boosting"])
    args = parser.parse_args()
    if args.remedies is None:
        args.remedies = []
    elif not args.remedies:  # --remedies with no names
        args.remedies = list(REMEDIES)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if "sweep" in args.parts:
        sweep_table(out, args)
    if "boosting" in args.parts:
        boosting_table(out, args)


if __name__ == "__main__":
    main()
