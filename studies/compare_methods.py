"""Headless comparison of ensembling methods at equal epoch budgets (issue 3's study, docs/results.md).

Usage: python studies/compare_methods.py --out study-runs [--train-size 10000] [--epochs 10]
Each method starts from its preset (resources/presets/<method>.toml, methods.md's small-scale
defaults) with the data size and epoch budget overridden equally for all; the deep ensemble has 10
members so that DEE is defined up to 10. Runs already in --out are reused, so an interrupted study
resumes. Prints a markdown table of error, NLL and CNLL at 1, 5, 10 and all K members with DEE.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

from ensgui.cli import TerminalProgress
from ensgui.engine.dee import dee_from_cnll
from ensgui.engine.runner import run_spec
from ensgui.engine.spec import Spec
from ensgui.resources import PRESETS
from ensgui.storage.reader import read_final_weights, read_run
from ensgui.storage.workspace import Workspace
from ensgui.storage.writer import RunWriter

METHODS = ("single", "deep_ensemble", "snapshot", "fge", "swag", "dropout", "csgld")
SIZES = (1, 5, 10)


def study_spec(method: str, train_size: int, val_size: int, epochs: int, seed: int) -> Spec:
    spec = Spec.load(str(PRESETS / f"{method}.toml"))
    spec = spec.with_values("data", train_size=train_size, val_size=val_size)
    spec = spec.with_values("budget", epochs=epochs)
    spec = spec.with_values("", name=f"study-{method}", seed=seed, device="auto")
    if method == "deep_ensemble":
        spec = spec.with_values("method", members=10)
    return spec


def run_or_reuse(spec: Spec, out: Path, threads: int | None) -> Path:
    for path in sorted(out.glob(f"*-{spec.name}.h5")):
        run = read_run(path, with_probs=False)
        if run.summary.status == "finished" and run.spec == spec:
            print(f"reusing {path.name}", file=sys.stderr)
            return path
    path = Workspace(out).new_run_path(spec.name)
    result = run_spec(spec, [RunWriter(path), TerminalProgress()], threads=threads,
                      load_run_weights=read_final_weights)
    if result.status != "finished":
        raise SystemExit(f"{spec.name} ended {result.status}: {result.error}")
    return path


def cell(value: float, digits: int) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


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
        sizes = [*SIZES, rows]  # @K: the whole ensemble, whatever its size

        def at(metric: str, scale: float = 1.0) -> list[float]:
            return [scale * c[metric][k - 1, 0] if k <= rows else math.nan for k in sizes]

        err = " / ".join(cell(v, 2) for v in at("error", 100.0))
        nll = " / ".join(cell(v, 4) for v in at("nll"))
        cnll = " / ".join(cell(v, 4) for v in at("cnll"))
        dee = "–"
        if reference is not None:
            values = np.array(at("cnll"))
            dees = np.full(len(values), np.nan)
            known = ~np.isnan(values)
            dees[known] = dee_from_cnll(reference[:, 0], values[known])
            dee = " / ".join(cell(d, 2) for d in dees)
        print(f"| {method} | {rows} | {err} | {nll} | {cnll} | {dee} |")


if __name__ == "__main__":
    main()
