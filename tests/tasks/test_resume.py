"""Stop a run mid-epoch (or lose it after a checkpoint), resume it, and get bit for bit the uninterrupted run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from ensgui.engine.errors import RunFileError
from ensgui.engine.events import EpochEnded, Evaluated, Scalar
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.storage import layout as L
from ensgui.storage.checkpoint import checkpoint_path, has_checkpoint
from ensgui.storage.reader import list_snapshots, read_run
from ensgui.storage.workspace import Workspace
from ensgui.tasks.run import resume_run, run_to_file
from support import tiny_spec_dict

# ipe = 256 / 64 = 4 iterations per epoch
BASE = {"train_size": 256, "val_size": 64, "test_size": 200}


def spec_of(method: dict, epochs: int = 3, model: str = "lenet300_100", loss: dict | None = None,
            optimizer: dict | None = None, dropout: float = 0.0) -> Spec:
    values = tiny_spec_dict(epochs=epochs, model=model, **BASE)
    values["method"] = method
    values["model"]["dropout"] = dropout
    if optimizer is not None:
        values["optimizer"] = optimizer
    if loss is not None:
        values["loss"] = loss
    return Spec.from_dict(values)


SPECS = {
    "deep_ensemble side by side": lambda: spec_of({"name": "deep_ensemble", "members": 3}),
    "deep_ensemble one by one": lambda: spec_of({"name": "deep_ensemble", "members": 2, "vectorize": False}),
    "bagging": lambda: spec_of({"name": "bagging", "members": 2}),
    "single with BatchNorm and Adam": lambda: spec_of({"name": "single"}, model="resnet20", epochs=2,
                                                      optimizer={"name": "adam", "lr": 1e-3}),
    "snapshot": lambda: spec_of({"name": "snapshot", "cycles": 2}, epochs=4),
    "fge": lambda: spec_of({"name": "fge", "pretrain_fraction": 0.34, "cycle_epochs": 1.0}),
    "swag": lambda: spec_of({"name": "swag", "samples": 3, "swa_start_fraction": 0.34, "rank": 2}, epochs=3),
    "dropout": lambda: spec_of({"name": "dropout", "samples": 3}, dropout=0.2),
    "csgld": lambda: spec_of({"name": "csgld", "cycles": 1, "samples_per_cycle": 2, "beta": 0.5},
                             epochs=2),
    "gap_boosting": lambda: spec_of({"name": "gap_boosting", "models": 3}, epochs=2,
                                    optimizer={"name": "sgd", "lr": 0.01},
                                    loss={"name": "cross_entropy", "freeze_last_layer": True,
                                          "last_layer_norm": 10.0}),
}


def stop_after(steps: int):
    """A sink that asks the run to stop once `steps` training-loss values (one per member-step) were logged."""
    state = TaskState()
    count = 0

    def sink(event) -> None:
        nonlocal count
        if isinstance(event, Scalar) and event.name == "train_loss":
            count += 1
            if count >= steps:
                state.stop.set()

    state.sinks.append(sink)
    return state


def train(spec: Spec, folder: Path, state: TaskState | None = None) -> Path:
    path = Workspace(folder).new_run_path(spec.name)
    result = run_to_file(spec, path, state or TaskState(), threads=1)
    assert result.status in ("finished", "cancelled"), result.error
    return path


def contents(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a run file but the log, by path: what must not depend on a stop."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: out.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) and name != L.LOG else None)
    return out


def assert_same_run(resumed: Path, uninterrupted: Path) -> None:
    a, b = contents(resumed), contents(uninterrupted)
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f"), name
    with h5py.File(resumed, "r") as f:
        assert f.attrs["status"] == "finished" and int(f.attrs[L.ATTR_THREADS]) == 1
        assert not any(L.ATTR_PARTIAL_ROWS in f[L.eval_path(split)].attrs for split in f[L.EVAL])
    assert not has_checkpoint(resumed)  # a finished run keeps no checkpoint


@pytest.mark.parametrize("name", list(SPECS))
def test_a_run_stopped_mid_epoch_resumes_to_the_uninterrupted_numbers(tmp_path, name):
    spec = SPECS[name]()
    reference = train(spec, tmp_path / "reference")
    # Three fifths through the member-steps: past a snapshot or a finished member, mid-epoch for most.
    run = read_run(reference, with_probs=False)
    stopped = train(spec, tmp_path / "stopped", stop_after(run.members * len(run.lr) * 3 // 5))

    run = read_run(stopped)
    assert run.summary.status == "cancelled" and has_checkpoint(stopped)
    partial = {split: data.partial for split, data in run.eval.items()}
    assert run.eval and all(partial.values()), partial
    assert all(0 < epoch < spec.budget["epochs"] for rows in partial.values() for epoch in rows.values())

    result = resume_run(stopped, TaskState())
    assert result.status == "finished", result.error
    assert_same_run(stopped, reference)
    assert any("resumed in epoch" in line for line in read_run(stopped, with_probs=False).log)


def test_a_stop_keeps_every_member_as_a_partial_row_with_its_epoch(tmp_path):
    spec = SPECS["deep_ensemble side by side"]()
    stopped = train(spec, tmp_path, stop_after(3 * 6))  # member-steps: 6 iterations of 3 members
    run = read_run(stopped)
    assert run.eval["test"].probs.shape[0] == 3
    assert run.eval["test"].partial == {0: 1.5, 1: 1.5, 2: 1.5}  # epoch 1 and two of four batches of epoch 2
    snapshots = list_snapshots(stopped)
    assert [s.partial_epoch for s in snapshots] == [1.5, 1.5, 1.5]


def test_a_run_lost_after_a_checkpoint_resumes_from_it(tmp_path):
    """As a SIGKILL between two checkpoints leaves it: curves of a later epoch on disk, the checkpoint before."""
    spec = SPECS["deep_ensemble side by side"]()
    reference = train(spec, tmp_path / "reference")
    lost = tmp_path / "lost"
    lost.mkdir()
    state = TaskState()
    copies: list[Path] = []

    def copy_at_second_epoch(event) -> None:
        # The writer, first among the sinks, has flushed epoch 2; its checkpoint comes after this event.
        if isinstance(event, EpochEnded) and event.epoch == 2 and not copies:
            path = next((tmp_path / "running").glob("*.h5"))
            for source in (path, checkpoint_path(path)):
                shutil.copy2(source, lost / source.name)
            copies.append(lost / path.name)

    state.sinks.append(copy_at_second_epoch)
    train(spec, tmp_path / "running", state)
    copy = copies[0]
    with h5py.File(copy, "a") as f:
        f.attrs[L.ATTR_PID] = dead_pid()  # the writer is gone, as after a kill
        assert len(f["metrics/0/val_acc"]) == 2  # the second epoch was written after the first's checkpoint
    assert read_run(copy, with_probs=False).summary.status == "incomplete"

    assert resume_run(copy, TaskState()).status == "finished"
    assert_same_run(copy, reference)


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_what_cannot_be_resumed_says_why(tmp_path):
    spec = SPECS["deep_ensemble side by side"]()
    finished = train(spec, tmp_path)
    with pytest.raises(RunFileError, match="has finished; there is nothing to resume"):
        resume_run(finished, TaskState())
    stopped = train(spec, tmp_path / "stopped", stop_after(3))
    checkpoint_path(stopped).unlink()
    with pytest.raises(RunFileError, match="has no checkpoint to resume from"):
        resume_run(stopped, TaskState())
