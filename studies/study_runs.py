"""Shared pieces of the headless studies: run-or-reuse of run files and markdown table cells."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ensgui.cli import TerminalProgress
from ensgui.engine.dee import dee_from_cnll
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.storage.reader import read_run
from ensgui.storage.workspace import Workspace
from ensgui.tasks.run import run_to_file


def run_or_reuse(spec: Spec, out: Path, threads: int | None) -> Path:
    """The finished run of exactly this spec in out, training it first if there is none (studies resume)."""
    for path in sorted(out.glob(f"*-{spec.name}.h5")):
        run = read_run(path, with_probs=False)
        if run.summary.status == "finished" and run.spec == spec:
            print(f"reusing {path.name}", file=sys.stderr)
            return path
    path = Workspace(out).new_run_path(spec.name)
    result = run_to_file(spec, path, TaskState([TerminalProgress()]), threads=threads)
    if result.status != "finished":
        raise SystemExit(f"{spec.name} ended {result.status}: {result.error}")
    return path


def cell(value: float, digits: int) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def curve_cells(curves: dict[str, np.ndarray], sizes: Sequence[int],
                reference_cnll: np.ndarray | None) -> list[str]:
    """Error %, NLL, CNLL and DEE at the given ensemble sizes, each as "a / b / c" (– beyond the rows)."""
    rows = len(curves["error"])

    def at(metric: str, scale: float = 1.0) -> list[float]:
        return [scale * curves[metric][k - 1, 0] if k <= rows else math.nan for k in sizes]

    cells = [" / ".join(cell(v, 2) for v in at("error", 100.0)),
             " / ".join(cell(v, 4) for v in at("nll")),
             " / ".join(cell(v, 4) for v in at("cnll"))]
    if reference_cnll is None:
        return [*cells, "–"]
    values = np.array(at("cnll"))
    dees = np.full(len(values), np.nan)
    known = ~np.isnan(values)
    dees[known] = dee_from_cnll(reference_cnll, values[known])
    return [*cells, " / ".join(cell(d, 2) for d in dees)]
