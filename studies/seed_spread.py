"""Seed spread of the gap sweep's columns, measured on the members of a deep-ensemble run (issue 4's study).

Usage: python studies/seed_spread.py RUN.h5 [--width-objects 2000] [--threads 2]
The members of studies/gap_study.py's deep ensemble are gap-0 nets that differ only in their seed
(member 0 is the sweep's gap-0 net itself), so their spread is the noise against which a gap's effect
is read. Prints one markdown row per member with the sweep table's columns (train and test accuracy,
both misclassification ROC-AUCs, Hessian and Fisher traces of CE on the same width subset and probe
seed as the sweep), then the mean and the sample standard deviation over members. Reads only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ensgui.engine.data import load_splits
from ensgui.engine.runner import resolve_device
from ensgui.engine.traces import measure_width, trained_net, width_subset
from ensgui.engine.width import DEFAULT_MAX_ITER, DEFAULT_TOL, DEFAULT_WIDTH_OBJECTS
from ensgui.engine.spec import Spec
from ensgui.storage.reader import final_snapshot, list_snapshots, read_run, read_snapshot
from ensgui.tasks.sweep import point_values
from study_runs import cell

COLUMNS = ("train acc %", "test acc %", "ROC-AUC max-prob", "ROC-AUC margin", "tr H", "tr F (true)",
           "tr F (empirical)")


def member_values(path: Path, spec: Spec, data, objects: int) -> list[list[float]]:
    """The sweep table's columns for every member's final snapshot."""
    device = resolve_device(spec.device)
    x, y = width_subset(data.train_x, data.train_y, objects)
    rows = []
    for member in sorted({s.member for s in list_snapshots(path)}):
        final = final_snapshot(path, member)
        values = point_values(path, final.row)
        model = trained_net(spec, data.input_shape, data.num_classes, read_snapshot(path, member, final.index), device)
        width = measure_width(model, x.to(device), y.to(device), spec.evaluation["batch_size"], DEFAULT_MAX_ITER,
                              DEFAULT_TOL, seed=spec.seed)  # the sweep's probe seed: only the weights differ
        rows.append([100 * values["train_acc"], 100 * values["test_acc"], values["auroc_prob"],
                     values["auroc_margin"], width.hessian.mean, width.fisher_true.mean, width.fisher_empirical.mean])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--width-objects", type=int, default=DEFAULT_WIDTH_OBJECTS)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = read_run(args.run, with_probs=False).spec
    rows = member_values(args.run, spec, load_splits(spec.data.name, spec.data.params, spec.seed), args.width_objects)
    digits = (2, 2, 4, 4, 1, 1, 1)
    print(f"| member | {' | '.join(COLUMNS)} |")
    print("|---|" + "---|" * len(COLUMNS))
    for member, row in enumerate(rows):
        print(f"| {member} | {' | '.join(cell(v, d) for v, d in zip(row, digits))} |")
    values = np.asarray(rows, dtype=np.float64)
    for label, stat in (("mean", values.mean(0)), ("std", values.std(0, ddof=1))):
        print(f"| {label} | {' | '.join(cell(v, d) for v, d in zip(stat, digits))} |")


if __name__ == "__main__":
    main()
