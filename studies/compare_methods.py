"""Headless comparison of ensembling methods at equal epoch budgets (issue 3's study, docs/results.md).

Usage: python studies/compare_methods.py --out study-runs [--train-size 10000] [--epochs 10]
Each method starts from its preset (resources/presets/<method>.toml, methods.md's small-scale
defaults) with the data size and epoch budget overridden equally for all; the deep ensemble has 10
members so that DEE is defined up to 10. Runs already in --out are reused, so an interrupted study
resumes. Prints a markdown table of error, NLL and CNLL at 1, 5, 10 and all K members with DEE.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ensgui.engine.spec import Spec
from ensgui.resources import PRESETS
from ensgui.storage.reader import read_run
from study_runs import curve_cells, run_or_reuse

METHODS = ("single", "deep_ensemble", "snapshot", "fge", "swag", "dropout", "csgld")
SIZES = (1, 5, 10)


def study_spec(method: str, train_size: int, val_size: int, epochs: int, seed: int) -> Spec:
    spec = Spec.load(str(PRESETS / f"{method}.toml"))
    spec = spec.with_values("data", train_size=train_size, val_size=val_size)
    spec = spec.with_values("budget", epochs=epochs)
    spec = spec.with_values("", name=f"study-{method}", seed=seed, device="auto")
    if method == "deep_ensemble":
        # Sequential members: on a CPU the vectorised group is ~35% slower (docs/benchmarks.md). Every member
        # draws the same seeded streams either way; only floating-point rounding differs between the paths.
        spec = spec.with_values("method", members=10, vectorize=False)
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    out = Path(args.out)
    curves = {}
    for method in args.methods:
        spec = study_spec(method, args.train_size, args.val_size, args.epochs, args.seed)
        curves[method] = read_run(run_or_reuse(spec, out, args.threads), with_probs=False).eval["test"].curves
    reference = curves.get("deep_ensemble", {}).get("cnll")
    print("| method | K | error % @1 / @5 / @10 / @K | NLL @1 / @5 / @10 / @K | CNLL @1 / @5 / @10 / @K "
          "| DEE @1 / @5 / @10 / @K |")
    print("|---|---|---|---|---|---|")
    for method, c in curves.items():
        rows = len(c["error"])
        cells = curve_cells(c, [*SIZES, rows], None if reference is None else reference[:, 0])
        print(f"| {method} | {rows} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
