"""A real training process killed with SIGKILL mid-run leaves a readable, "incomplete" run file (7 to 15 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from ensgui.engine.errors import RunFileError
from ensgui.storage.reader import read_run, read_summary

TRAINER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from ensgui.engine.events import EpochEnded
    from ensgui.engine.spec import Spec
    from ensgui.engine.task_state import TaskState
    from ensgui.tasks.run import run_to_file

    spec = Spec.from_dict({
        "name": "crash", "seed": 0, "device": "cpu",
        "data": {"name": "fashion-mnist", "train_size": 2000, "val_size": 200},
        "model": {"name": "lenet300_100"},
        "method": {"name": "deep_ensemble", "members": 2},
        "optimizer": {"name": "sgd"}, "schedule": {"name": "base"},
        "budget": {"epochs": 20},
    })

    def announce(event):
        # Runs after the writer, so an announced epoch is already on disk.
        if isinstance(event, EpochEnded):
            print("epoch", event.epoch, flush=True)

    run_to_file(spec, Path(sys.argv[1]), TaskState([announce]), threads=1)
""")

DEADLINE_S = 60.0


def wait_for_first_epoch(path, process: subprocess.Popen) -> None:
    """Poll the file the way a viewer would until a finished epoch shows, while the trainer lives."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the trainer exited ({process.returncode}) before it was killed: "
                        f"{process.stderr.read().decode()[-2000:]}")
        if path.exists():
            try:
                run = read_run(path, with_probs=False)
            except RunFileError:
                run = None  # caught between the writer's open and close: try again
            if run is not None and any("val_acc" in m and len(m["val_acc"]) for m in run.metrics.values()):
                return
        time.sleep(0.02)
    pytest.fail("no finished epoch within a minute")


@pytest.mark.slow
def test_sigkill_mid_run_leaves_an_incomplete_readable_file(tmp_path):
    path = tmp_path / "crash.h5"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", TRAINER, str(path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    try:
        wait_for_first_epoch(path, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    announced = [int(line.split()[1]) for line in process.stdout.read().decode().split("\n") if line.startswith("epoch")]
    finished = max(announced)
    assert 1 <= finished < 20

    summary = read_summary(path)
    assert summary.status == "incomplete"
    assert (summary.method, summary.dataset, summary.model, summary.rows) == (
        "deep_ensemble", "fashion-mnist", "lenet300_100", 2)

    run = read_run(path)
    assert run.summary.status == "incomplete"
    assert run.elapsed is None and run.eval == {}
    assert run.spec is not None and run.spec.budget["epochs"] == 20
    for member in (0, 1):
        val_acc = run.metrics[member]["val_acc"]
        # Every announced epoch is stored; one more may have been flushed just before the kill.
        assert finished <= len(val_acc) <= finished + 1
        np.testing.assert_array_equal(val_acc[:, 1], np.arange(1, len(val_acc) + 1))
        assert np.all((val_acc[:, 2] >= 0) & (val_acc[:, 2] <= 1))
        assert len(run.metrics[member]["train_loss"]) >= len(val_acc)
    assert any(line.startswith("deep_ensemble: 2 member(s)") for line in run.log)

    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "running"
        datasets: list[str] = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in datasets:
            f[name][()]  # every stored value is readable, not just the ones the reader looks at
        assert "metrics/0/val_acc" in datasets and "schedule/lr" in datasets
