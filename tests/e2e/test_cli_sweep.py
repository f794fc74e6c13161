"""`ensgui sweep` and `ensgui show` on a sweep as a user runs them: progress, the table, errors as one line."""

from __future__ import annotations

import threading

import numpy as np

from ensgui.engine.spec import Spec
from ensgui.storage.sweep_store import read_sweep
from ensgui.tasks.sweep import run_gap_sweep
from support import sweep_state, tiny_spec_dict
from test_cli import ensgui


def table_rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]


def test_sweep_then_show_it(tmp_path):
    values = tiny_spec_dict(method="single", train_size=300, epochs=1, name="cli-sweep")
    values["budget"]["batch_size"] = 16
    spec = tmp_path / "spec.toml"
    spec.write_text(Spec.from_dict(values).to_toml())
    out = tmp_path / "runs"
    result = ensgui("sweep", spec, "--gaps", "0.5, mean", "--out", out, "--width-objects", 50, "--probes", 3,
                    "--threads", 1)
    assert result.returncode == 0, result.stderr
    summaries = list(out.glob("*.sweep.h5"))
    assert len(summaries) == 1 and str(summaries[0]) in result.stdout
    assert "added gap 0" in result.stderr and "gap sweep point 3/3: gap mean = " in result.stderr
    assert result.stderr.count("run finished") == 3
    sweep = read_sweep(summaries[0])
    assert sweep.labels[:2] == ["0", "0.5"] and sweep.labels[2].startswith("mean = ")
    rows = table_rows(result.stdout)
    assert len(rows) == 3
    order = sweep.order()
    np.testing.assert_allclose([float(r[0]) for r in rows], sweep.gaps[order], atol=5e-5)
    np.testing.assert_allclose([float(r[-13]) for r in rows], sweep.test_acc[order], atol=5e-5)
    assert [r[-1] for r in rows] == [sweep.runs[i] for i in order]
    shown = ensgui("show", summaries[0])
    assert shown.returncode == 0, shown.stderr
    assert table_rows(shown.stdout) == rows and "status finished, 3 of 3 points" in shown.stdout


def test_bad_gaps_are_one_line_and_exit_code_2(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(Spec.from_dict(tiny_spec_dict(method="single")).to_toml())
    # Every way a gap list is bad is checked in tests/engine/test_sweep.py; here the CLI's handling of one.
    result = ensgui("sweep", spec, "--gaps", "0, abc", "--out", tmp_path / "runs")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("ensgui: error: gap 'abc' is not a number or the word 'mean'")
    assert not (tmp_path / "runs").exists()
    broken = tmp_path / "broken.sweep.h5"
    broken.write_bytes(b"junk")
    shown = ensgui("show", broken)
    assert shown.returncode == 2 and "broken.sweep.h5" in shown.stderr and shown.stderr.strip().count("\n") == 0


def test_an_interrupted_sweep_is_resumed_from_the_command_line(tmp_path):
    values = tiny_spec_dict(method="single", train_size=300, epochs=1, name="cli-resume")
    values["budget"]["batch_size"] = 16
    stop = threading.Event()
    state = sweep_state(stop=stop, on_point=lambda i, n, label: stop.set() if i == 1 else None)
    path = run_gap_sweep(Spec.from_dict(values), (0.0, 1.0), tmp_path, state, threads=1, width_objects=20, probes=2)
    assert read_sweep(path).labels == ["0"]
    result = ensgui("sweep", "--resume", path, "--threads", 1)
    assert result.returncode == 0, result.stderr
    assert "gap sweep resumed: 1 of 2 points kept" in result.stderr and result.stderr.count("run finished") == 1
    assert "status finished, 2 of 2 points" in result.stdout and len(table_rows(result.stdout)) == 2
    assert read_sweep(path).labels == ["0", "1"] and len(list(tmp_path.glob("*.sweep.h5"))) == 1


def test_sweep_arguments_that_do_not_fit_are_one_line_and_exit_code_2(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(Spec.from_dict(tiny_spec_dict(method="single")).to_toml())
    for args, message in (((spec, "--out", tmp_path), "a sweep needs SPEC, --gaps and --out"),
                          (("--resume", tmp_path / "x.sweep.h5", "--gaps", "1"), "--resume takes the spec and the gaps"),
                          (("--resume", tmp_path / "missing.sweep.h5"), "missing.sweep.h5 does not exist")):
        result = ensgui("sweep", *args)
        assert result.returncode == 2, args
        assert result.stderr.strip().count("\n") == 0 and message in result.stderr, result.stderr
