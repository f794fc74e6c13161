"""Comparison of several runs: a summary table in the Pitfalls form (CSV, LaTeX) and DEE against a reference."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import dee as dee_mod

RunCurves = tuple[str, Mapping[str, np.ndarray]]

DEFAULT_METRICS: tuple[str, ...] = ("error", "cnll")

# The sizes the Pitfalls tables report (1, 5, 10, 100), filled in with the usual 1-2-5 steps so that
# runs of any size get a few columns; default_sizes keeps those a run set actually reaches.
SIZE_LADDER: tuple[int, ...] = (1, 5, 10, 20, 50, 100, 200, 500, 1000)

# Metrics whose larger values are better; every other metric is a loss or an error rate.
HIGHER_IS_BETTER = frozenset({"auroc", "auroc_t", "dee"})

# Shown in percent in the LaTeX table, as in the papers; the CSV keeps the stored fractions.
PERCENT_METRICS = frozenset({"error"})

# Digits after the point in the LaTeX table (after the percent scaling).
LATEX_DECIMALS: dict[str, int] = {"error": 2}
DEFAULT_DECIMALS = 3

LATEX_GROUP_TITLES: dict[str, str] = {
    "error": r"Error (\%)",
    "nll": "NLL",
    "cnll": "Calibrated NLL",
    "cnll_val": r"Calibrated NLL (val.\ $\tau$)",
    "ece": "ECE",
    "brier": "Brier",
    "auroc": "AUROC",
    "dee": "DEE",
}

# Column names of the CSV and of Table.header: "<metric>@<k>".
CSV_FIRST_COLUMN = "run"


@dataclass(frozen=True)
class Table:
    """Runs as rows, (metric, size) pairs as columns; rows[i][j] is the mean at that size, nan when missing.

    header[j] names column j as "<metric>@<k>"; labels[i] names row i. Values are the stored ones
    (error as a fraction); stds holds the matching std over member orders.
    """

    labels: list[str]
    metrics: tuple[str, ...]
    sizes: tuple[int, ...]
    header: list[str]
    rows: list[list[float]]
    stds: list[list[float]]

    @property
    def columns(self) -> list[tuple[str, int]]:
        """(metric, size) of every column, metric-major as in header."""
        return [(m, k) for m in self.metrics for k in self.sizes]

    def column(self, metric: str, size: int) -> int:
        return self.columns.index((metric, size))

    def value(self, label: str, metric: str, size: int) -> float:
        return self.rows[self.labels.index(label)][self.column(metric, size)]

    def best_rows(self, j: int, decimals: int | None = None) -> list[int]:
        """Rows holding the best finite value of column j; with decimals, compared as the LaTeX table shows them."""
        metric, _ = self.columns[j]
        values = [self.rows[i][j] for i in range(len(self.rows))]
        shown = [_scaled(metric, v) for v in values]
        if decimals is not None:
            shown = [round(v, decimals) if math.isfinite(v) else v for v in shown]
        finite = [v for v in shown if math.isfinite(v)]
        if not finite:
            return []
        best = max(finite) if metric in HIGHER_IS_BETTER else min(finite)
        return [i for i, v in enumerate(shown) if math.isfinite(v) and v == best]


def default_sizes(max_members: int) -> tuple[int, ...]:
    """SIZE_LADDER sizes up to max_members, and max_members itself, so the full ensemble always has a column."""
    if max_members < 1:
        return ()
    sizes = [k for k in SIZE_LADDER if k <= max_members]
    if sizes[-1] != max_members:
        sizes.append(max_members)
    return tuple(sizes)


def _column_name(metric: str, size: int) -> str:
    return f"{metric}@{size}"


def summary_table(
    runs: Sequence[RunCurves],
    sizes: Sequence[int] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> Table:
    """One row per (label, curves) run with the mean of each metric at each ensemble size.

    curves maps a metric to its (K, 2) [mean, std] array, row k - 1 for size k. A run with fewer
    than k members, or without the metric, gets nan. sizes=None takes default_sizes of the largest K.
    """
    runs = list(runs)
    metrics = tuple(metrics)
    if sizes is None:
        largest = max((np.asarray(c).shape[0] for _, curves in runs for m, c in curves.items() if m in metrics),
                      default=0)
        sizes = default_sizes(int(largest))
    sizes = tuple(int(k) for k in sizes)
    if any(k < 1 for k in sizes):
        raise ValueError(f"ensemble sizes must be >= 1, got {list(sizes)}")
    rows: list[list[float]] = []
    stds: list[list[float]] = []
    for label, curves in runs:
        row: list[float] = []
        std_row: list[float] = []
        for metric in metrics:
            curve = curves.get(metric)
            curve = None if curve is None else np.asarray(curve, dtype=np.float64)
            if curve is not None and (curve.ndim != 2 or curve.shape[1] != 2):
                raise ValueError(f"curve {metric!r} of {label!r} must have shape (K, 2), got {curve.shape}")
            for k in sizes:
                inside = curve is not None and k <= curve.shape[0]
                row.append(float(curve[k - 1, 0]) if inside else math.nan)
                std_row.append(float(curve[k - 1, 1]) if inside else math.nan)
        rows.append(row)
        stds.append(std_row)
    return Table(labels=[label for label, _ in runs], metrics=metrics, sizes=sizes,
                 header=[_column_name(m, k) for m in metrics for k in sizes], rows=rows, stds=stds)


def to_csv(table: Table) -> str:
    """The table as CSV text: a "run" column, then "<metric>@<k>" columns; floats with repr (exact), nan as ""."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([CSV_FIRST_COLUMN] + table.header)
    for label, row in zip(table.labels, table.rows):
        writer.writerow([label] + [repr(v) if math.isfinite(v) else "" for v in row])
    return out.getvalue()


_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Text with LaTeX's special characters escaped, so run names such as tiny_de_5 compile."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def _scaled(metric: str, value: float) -> float:
    return value * 100.0 if metric in PERCENT_METRICS else value


def latex_decimals(metric: str) -> int:
    return LATEX_DECIMALS.get(metric, DEFAULT_DECIMALS)


def format_value(metric: str, value: float) -> str:
    """A cell as the LaTeX table shows it: error in percent with 2 decimals, other metrics with 3; nan as --."""
    if not math.isfinite(value):
        return "--"
    return f"{_scaled(metric, value):.{latex_decimals(metric)}f}"


def to_latex(table: Table) -> str:
    """A booktabs tabular in the form of the Pitfalls tables: methods as rows, each metric a group of sizes.

    Error is shown in percent. The best value of every column (as rounded for display, so ties read
    as ties) is set in bold; missing values are "--".
    """
    n_sizes = len(table.sizes)
    n_cols = 1 + len(table.metrics) * n_sizes
    lines = [r"\begin{tabular}{l" + "c" * (n_cols - 1) + "}", r"\toprule"]
    groups = [rf"\multicolumn{{{n_sizes}}}{{c}}{{{LATEX_GROUP_TITLES.get(m, latex_escape(m))}}}"
              for m in table.metrics]
    lines.append(" & ".join([""] + groups) + r" \\")
    rules = [rf"\cmidrule(lr){{{2 + g * n_sizes}-{1 + (g + 1) * n_sizes}}}" for g in range(len(table.metrics))]
    lines.append(" ".join(rules))
    lines.append(" & ".join(["Method"] + [str(k) for _ in table.metrics for k in table.sizes]) + r" \\")
    lines.append(r"\midrule")
    bold = [set(table.best_rows(j, latex_decimals(m))) for j, (m, _) in enumerate(table.columns)]
    for i, (label, row) in enumerate(zip(table.labels, table.rows)):
        cells = [latex_escape(label)]
        for j, ((metric, _), value) in enumerate(zip(table.columns, row)):
            text = format_value(metric, value)
            cells.append(rf"\textbf{{{text}}}" if i in bold[j] else text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def dee_of_runs(
    runs: Sequence[RunCurves], reference: Mapping[str, np.ndarray], metric: str = "cnll"
) -> dict[str, np.ndarray]:
    """DEE (methods.md section 5) of each run's mean calibrated-NLL curve against the reference's, by label.

    A run without the metric is left out; the reference must hold it (ValueError otherwise).
    """
    if metric not in reference:
        raise ValueError(f"the reference has no {metric!r} curve")
    ref = np.asarray(reference[metric], dtype=np.float64)[:, 0]
    out: dict[str, np.ndarray] = {}
    for label, curves in runs:
        if metric in curves:
            out[label] = dee_mod.dee_from_cnll(ref, np.asarray(curves[metric], dtype=np.float64)[:, 0])
    return out


__all__ = ["DEFAULT_METRICS", "HIGHER_IS_BETTER", "SIZE_LADDER", "Table", "dee_of_runs", "default_sizes",
           "format_value", "latex_escape", "summary_table", "to_csv", "to_latex"]
