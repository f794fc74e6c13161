"""Issue 11's acceptance as a user meets it: a run killed with SIGKILL, or stopped with Ctrl-C, and `ensgui resume`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from ensgui.engine.errors import RunFileError
from ensgui.engine.spec import Spec
from ensgui.storage.reader import read_run
from support import tiny_spec_dict

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 120


def write_spec(folder: Path, name: str) -> Path:
    # A vectorised deep ensemble of 3 for 4 epochs of 8 iterations.
    path = folder / f"{name}.toml"
    values = tiny_spec_dict(members=3, epochs=4, train_size=512, val_size=128, test_size=500, name=name)
    path.write_text(Spec.from_dict(values).to_toml())
    return path


def ensgui(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ensgui", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ensgui", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def epochs_on_disk(folder: Path) -> int:
    """Finished epochs of member 0 in the run file of folder, read as a viewer would (0 while there is none)."""
    files = list(folder.glob("*.h5"))
    if not files:
        return 0
    try:
        return len(read_run(files[0], with_probs=False).metrics.get(0, {}).get("val_acc", ()))
    except RunFileError:
        return 0  # caught mid-write: look again


def wait_for_epochs(folder: Path, process: subprocess.Popen, epochs: int) -> Path:
    deadline = time.monotonic() + DEADLINE_S
    while epochs_on_disk(folder) < epochs:
        assert process.poll() is None, f"the run ended before it was stopped: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.02)
    return next(folder.glob("*.h5"))


def uninterrupted(spec: Path, folder: Path) -> np.ndarray:
    result = ensgui("run", spec, "--out", folder, "--threads", "1")
    assert result.returncode == 0, result.stderr
    with h5py.File(next(folder.glob("*.h5")), "r") as f:
        return f["eval/test/probs"][()]


def test_a_run_killed_after_epoch_2_resumes_to_the_uninterrupted_probabilities(tmp_path):
    spec = write_spec(tmp_path, "killed")
    expected = uninterrupted(spec, tmp_path / "reference")
    folder = tmp_path / "killed"
    process = start("run", spec, "--out", folder, "--threads", "1")
    path = wait_for_epochs(folder, process, 2)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert read_run(path, with_probs=False).summary.status == "incomplete"

    resumed = ensgui("resume", path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at the end of epoch" in resumed.stderr or "resumed in epoch" in resumed.stderr
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished" and f.attrs["threads"] == 1
        probs = f["eval/test/probs"][()]
    assert np.abs(probs - expected).max() <= 1e-6
    assert np.array_equal(probs, expected)  # bitwise, the aim


def test_ctrl_c_in_epoch_2_keeps_three_partial_rows_and_resume_finishes(tmp_path):
    spec = write_spec(tmp_path, "interrupted")
    folder = tmp_path / "runs"
    process = start("run", spec, "--out", folder, "--threads", "1")
    path = wait_for_epochs(folder, process, 1)
    time.sleep(0.05)  # into epoch 2
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert f"ensgui resume {path}" in err and "partial rows" in out
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "cancelled"
        assert f["eval/test/probs"].shape[0] == 3
        test = f["eval/test"].attrs
        assert sorted(test["partial_rows"]) == [0, 1, 2]
        assert all(1 <= epoch < 4 for epoch in test["partial_epochs"])

    resumed = ensgui("resume", path)
    assert resumed.returncode == 0, resumed.stderr
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "finished"
        assert "partial_rows" not in f["eval/test"].attrs
        assert len(f["metrics/0/val_acc"]) == 4  # every epoch once: the stopped epoch was not stored twice
    again = ensgui("resume", path)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "nothing to resume" in again.stderr
