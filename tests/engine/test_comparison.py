"""Tests of ensgui.engine.comparison: the Pitfalls summary table, its CSV and LaTeX, and DEE of several runs."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from ensgui.engine.comparison import (default_sizes, dee_of_runs, format_value, latex_escape, summary_table, to_csv,
                                      to_latex)
from ensgui.engine.dee import dee_from_cnll


def _curve(means: list[float], std: float = 0.01) -> np.ndarray:
    return np.stack([np.asarray(means, dtype=np.float64), np.full(len(means), std)], axis=1)


# Two methods: "DE" has 3 members, "SSE_a" only 2, so its size-3 cells are missing.
DE = {"error": _curve([0.20, 0.15, 0.12]), "cnll": _curve([0.80, 0.62, 0.59]), "nll": _curve([0.9, 0.7, 0.6])}
SSE = {"error": _curve([0.21, 0.14]), "cnll": _curve([0.86, 0.68])}
RUNS = [("DE", DE), ("SSE_a", SSE)]


def test_summary_table_picks_means_at_sizes_and_nan_where_missing() -> None:
    table = summary_table(RUNS, sizes=(1, 2, 3))
    assert table.labels == ["DE", "SSE_a"]
    assert table.header == ["error@1", "error@2", "error@3", "cnll@1", "cnll@2", "cnll@3"]
    assert table.rows[0] == [0.20, 0.15, 0.12, 0.80, 0.62, 0.59]
    assert table.rows[1][:2] == [0.21, 0.14] and table.rows[1][3:5] == [0.86, 0.68]
    assert math.isnan(table.rows[1][2]) and math.isnan(table.rows[1][5])
    assert table.stds[0][0] == 0.01 and math.isnan(table.stds[1][5])
    assert table.value("SSE_a", "cnll", 2) == 0.68
    assert table.column("cnll", 1) == 3


def test_missing_metric_and_sizes_beyond_every_run_give_nan() -> None:
    table = summary_table(RUNS, sizes=(1, 10), metrics=("nll",))
    assert table.header == ["nll@1", "nll@10"]
    assert table.rows[0][0] == 0.9 and math.isnan(table.rows[0][1])
    assert all(math.isnan(v) for v in table.rows[1])


def test_default_sizes_follow_the_ladder_and_end_at_the_largest_run() -> None:
    assert default_sizes(3) == (1, 3)
    assert default_sizes(5) == (1, 5)
    assert default_sizes(12) == (1, 5, 10, 12)
    assert default_sizes(100) == (1, 5, 10, 20, 50, 100)
    assert default_sizes(0) == ()
    assert summary_table(RUNS).sizes == (1, 3)


def test_bad_shapes_and_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="sizes must be >= 1"):
        summary_table(RUNS, sizes=(0, 1))
    with pytest.raises(ValueError, match=r"shape \(K, 2\)"):
        summary_table([("x", {"error": np.zeros(3)})], sizes=(1,))


def test_csv_text_is_exact_and_blank_for_missing() -> None:
    text = to_csv(summary_table(RUNS, sizes=(1, 3)))
    assert text.splitlines() == [
        "run,error@1,error@3,cnll@1,cnll@3",
        "DE,0.2,0.12,0.8,0.59",
        "SSE_a,0.21,,0.86,",
    ]
    rows = list(csv.reader(io.StringIO(text)))
    assert float(rows[1][2]) == DE["error"][2, 0]


def test_latex_has_the_pitfalls_form_with_percent_error_and_bold_best() -> None:
    text = to_latex(summary_table(RUNS, sizes=(1, 2, 3)))
    assert text == (
        "\\begin{tabular}{lcccccc}\n"
        "\\toprule\n"
        " & \\multicolumn{3}{c}{Error (\\%)} & \\multicolumn{3}{c}{Calibrated NLL} \\\\\n"
        "\\cmidrule(lr){2-4} \\cmidrule(lr){5-7}\n"
        "Method & 1 & 2 & 3 & 1 & 2 & 3 \\\\\n"
        "\\midrule\n"
        "DE & \\textbf{20.00} & 15.00 & \\textbf{12.00} & \\textbf{0.800} & \\textbf{0.620} & \\textbf{0.590} \\\\\n"
        "SSE\\_a & 21.00 & \\textbf{14.00} & -- & 0.860 & 0.680 & -- \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_latex_bolds_ties_as_shown_and_higher_is_better_metrics() -> None:
    runs = [("a", {"error": _curve([0.123401]), "auroc": _curve([0.8])}),
            ("b", {"error": _curve([0.123399]), "auroc": _curve([0.9])})]
    lines = to_latex(summary_table(runs, sizes=(1,), metrics=("error", "auroc"))).splitlines()
    # 12.3401% and 12.3399% both read 12.34: a tie to the reader, so both are bold.
    assert lines[6] == r"a & \textbf{12.34} & 0.800 \\"
    assert lines[7] == r"b & \textbf{12.34} & \textbf{0.900} \\"


def test_latex_escape_and_format() -> None:
    assert latex_escape("a_b & 5% {x} #1 $") == r"a\_b \& 5\% \{x\} \#1 \$"
    assert format_value("error", 0.0512) == "5.12"
    assert format_value("cnll", 0.5) == "0.500"
    assert format_value("cnll", float("nan")) == "--"


def test_dee_of_runs_matches_dee_module_and_is_identity_for_the_reference() -> None:
    out = dee_of_runs(RUNS + [("no cnll", {"error": _curve([0.3])})], DE)
    assert set(out) == {"DE", "SSE_a"}
    np.testing.assert_array_equal(out["DE"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(out["SSE_a"], dee_from_cnll(DE["cnll"][:, 0], SSE["cnll"][:, 0]))
    # 0.68 lies between sizes 1 (0.80) and 2 (0.62): 1 + 0.12 / 0.18.
    assert out["SSE_a"][1] == pytest.approx(1 + 0.12 / 0.18, rel=1e-12)
    with pytest.raises(ValueError, match="no 'cnll'"):
        dee_of_runs(RUNS, {"error": DE["error"]})
