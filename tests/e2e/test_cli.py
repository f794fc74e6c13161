"""The headless command as a user runs it: `ensgui run`, `ensgui show`, `ensgui interpolate`, errors as one line and
exit code 2."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from support import tiny_spec_dict, train_run_file
from ensgui.engine.data import load_splits
from ensgui.engine.interpolation import InterpolationResult, lambda_grid
from ensgui.engine.line_losses import interpolate
from ensgui.engine.spec import Spec
from ensgui.storage.analysis import read_interpolations
from ensgui.storage.reader import read_run, read_snapshot

ROOT = Path(__file__).resolve().parents[2]


def ensgui(*args, timeout=600, **kwargs):
    return subprocess.run([sys.executable, "-m", "ensgui", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kwargs)


def write_spec(folder: Path, **kwargs) -> Path:
    path = folder / "spec.toml"
    path.write_text(Spec.from_dict(tiny_spec_dict(**kwargs)).to_toml())
    return path


@pytest.mark.slow
def test_run_the_smoke_preset_then_show_it(tmp_path):
    out = tmp_path / "runs"
    result = ensgui("run", "resources/presets/smoke-deep_ensemble.toml", "--out", out)
    assert result.returncode == 0, result.stderr
    files = list(out.glob("*.h5"))
    assert len(files) == 1 and str(files[0]) in result.stdout
    assert "run finished" in result.stderr
    assert "fashion-mnist read from /" in result.stderr  # the folder actually used, also kept in the run's log
    with h5py.File(files[0], "r") as f:
        assert f.attrs["status"] == "finished"
        assert any(line.startswith("fashion-mnist read from /") for line in f["log"].asstr()[()])
        assert f["eval/test/probs"].shape == (3, 10000, 10)
        error_curve = f["eval/test/curves/error"][()]
    shown = ensgui("show", files[0], "--split", "test", "val")
    assert shown.returncode == 0, shown.stderr
    assert 'name = "smoke-deep_ensemble"' in shown.stdout and "status finished" in shown.stdout
    rows = [line.split() for line in shown.stdout.splitlines() if line.strip()[:1].isdigit()]
    test_rows = rows[:3]
    assert [int(r[0]) for r in test_rows] == [1, 2, 3]
    assert "error (%)" in shown.stdout  # in percent, as in the window
    np.testing.assert_allclose([float(r[1]) for r in test_rows], 100 * error_curve[:, 0], atol=5e-3)
    assert "val: metrics vs ensemble size" in shown.stdout


def test_the_first_curve_row_is_the_mean_and_std_over_the_members(tmp_path):
    # Issue 13: k = 1 was the first member of a few orders (all member 0 with seed 0), shown as "± 0".
    result = ensgui("run", write_spec(tmp_path, members=3), "--out", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    with h5py.File(next((tmp_path / "runs").glob("*.h5")), "r") as f:
        for split in ("test", "val"):
            for metric in ("nll", "error", "brier"):
                members = f[f"eval/{split}/members/{metric}"][()]
                np.testing.assert_allclose(f[f"eval/{split}/curves/{metric}"][0], [members.mean(), members.std()],
                                           rtol=1e-9, atol=1e-12, err_msg=f"{split} {metric}")
            assert f[f"eval/{split}/curves/nll"][0, 1] > 0


def test_an_invalid_spec_is_one_line_and_exit_code_2(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(write_spec(tmp_path).read_text().replace("members = 3", "members = 0"))
    result = ensgui("run", spec, "--out", tmp_path / "runs")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "method.members = 0 is invalid: must be an integer >= 1" in result.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.h5"))


def test_missing_files_and_broken_run_files_are_one_line_and_exit_code_2(tmp_path):
    missing = ensgui("run", tmp_path / "nope.toml", "--out", tmp_path)
    assert missing.returncode == 2 and "cannot read spec" in missing.stderr
    assert missing.stderr.strip().count("\n") == 0
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    shown = ensgui("show", broken)
    assert shown.returncode == 2 and shown.stderr.startswith("ensgui: error: ")
    assert shown.stderr.strip().count("\n") == 0 and "broken.h5" in shown.stderr


def test_a_diverging_run_is_one_line_and_exit_code_2_and_keeps_its_file(tmp_path):
    spec = Spec.from_dict(tiny_spec_dict()).with_values("optimizer", lr=10.0).with_values("schedule", name="constant")
    path = tmp_path / "diverge.toml"
    path.write_text(spec.to_toml())
    result = ensgui("run", path, "--out", tmp_path / "runs")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ensgui: error: member")
    assert result.stderr.count(last.removeprefix("ensgui: error: ")) == 1, "the error is printed once"
    assert "run diverged after" in result.stderr
    files = list((tmp_path / "runs").glob("*.h5"))
    with h5py.File(files[0], "r") as f:
        assert f.attrs["status"] == "diverged" and "not finite" in f.attrs["error"]


def test_sigkill_mid_training_leaves_a_readable_incomplete_file(tmp_path):
    spec = write_spec(tmp_path, epochs=200, train_size=2000, members=2)
    out = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "ensgui", "run", str(spec), "--out", str(out),
                                "--threads", "1"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        epochs = 0
        while time.monotonic() < deadline and epochs < 2:
            time.sleep(0.5)
            for path in out.glob("*.h5"):
                try:
                    with h5py.File(path, "r", locking=False) as f:
                        epochs = len(f["metrics/0/val_acc"]) if "metrics/0/val_acc" in f else 0
                except OSError:
                    pass  # caught between open and close of an epoch's write; try again
        assert epochs >= 2, "the run did not store two epochs in time"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    run_file = next(out.glob("*.h5"))
    shown = ensgui("show", run_file)
    assert shown.returncode == 0, shown.stderr
    assert "status incomplete" in shown.stdout
    assert "no test evaluation stored" in shown.stdout
    with h5py.File(run_file, "r") as f:
        assert f.attrs["status"] == "running"
        stored = f["metrics/0/val_acc"][()]
    assert len(stored) >= 2 and list(stored[:, 1]) == list(range(1, len(stored) + 1))


def test_interpolate_stores_the_objects_asked_for(tmp_path):
    run = train_run_file(tmp_path, name="tiny-de")  # a deep ensemble: one snapshot per member
    refused = ensgui("interpolate", run)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "single snapshot" in refused.stderr and "--pair 0:0 1:0" in refused.stderr
    unknown = ensgui("interpolate", run, "--pair", "0:0", "7:0")
    assert unknown.returncode == 2 and "'7:0' is not a stored snapshot" in unknown.stderr
    assert "(stored: 0:0, 1:0, 2:0)" in unknown.stderr
    too_few = ensgui("interpolate", run, "--pair", "0:0", "1:0", "--test-objects", "0")
    assert too_few.returncode == 2 and "--test-objects" in too_few.stderr

    result = ensgui("interpolate", run, "--pair", "0:0", "1:0", "--points", 21, "--train-objects", 200,
                    "--test-objects", 300, "--threads", 1)
    assert result.returncode == 0, result.stderr
    assert "interpolating" in result.stderr and "member 0 snapshot 0 → member 1 snapshot 0" in result.stderr
    stored, attrs = read_interpolations(run)["m0s0-m1s0"]
    assert (attrs["points"], attrs["train_objects"], attrs["test_objects"]) == (21, 200, 300)
    assert attrs["objects"] == ("the first 200 of 600 training objects (the run's shuffled split); 300 of 1000 test "
                                "objects (class-stratified, seed 0)")
    assert attrs["engine"] == "sequential" and attrs["device"] == "cpu"
    # The table printed is the one stored.
    lines = result.stdout.splitlines()
    assert lines[0] == str(run) and lines[1].startswith("m0s0-m1s0: member 0 snapshot 0 (λ = 0) → member 1 snapshot 0")
    table = np.array([[float(v) for v in line.split()] for line in lines[3:]])
    np.testing.assert_allclose(table, np.stack([getattr(stored, n) for n in InterpolationResult.ARRAYS], 1),
                               atol=5e-5)
    # And it is what the engine gives for those objects.
    spec = read_run(run, with_probs=False).spec
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    direct = interpolate(spec, read_snapshot(run, 0, 0), read_snapshot(run, 1, 0), lambda_grid(21), data, "cpu",
                         train_objects=200, test_objects=300)
    for name in InterpolationResult.ARRAYS:
        np.testing.assert_allclose(getattr(stored, name), getattr(direct, name), rtol=1e-6, err_msg=name)
