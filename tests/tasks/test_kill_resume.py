"""Fault injection: real training processes killed with SIGKILL at random moments (during creation, flushes and
checkpoints included); every file opens, reads as incomplete, and resumes to the uninterrupted result."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from ensgui.engine.errors import RunFileError
from ensgui.engine.task_state import TaskState
from ensgui.storage.checkpoint import has_checkpoint
from ensgui.storage.reader import read_run, read_summary
from ensgui.tasks.run import resume_run

# The children fork from a server that has imported torch and the engine but run nothing: a kill costs a
# fork, not a 3 s interpreter start, and fork is safe while no torch thread pool exists in the parent.
PRELOAD = ["torch", "ensgui.tasks.run", "ensgui.engine.methods"]
CI_KILLS = 20
SLOW_KILLS = 100


def spec_values() -> dict:
    from support import tiny_spec_dict

    return tiny_spec_dict(members=2, epochs=4, train_size=256, val_size=64, test_size=200, name="killed")


def train(path: str, started) -> None:
    """The child: announce the start, then train into path with one thread (as the resumes do)."""
    from ensgui.engine.spec import Spec
    from ensgui.tasks.run import run_to_file

    started.set()
    run_to_file(Spec.from_dict(spec_values()), Path(path), TaskState(), threads=1)


@pytest.fixture(scope="module")
def context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def launch(context, path: Path):
    started = context.Event()
    process = context.Process(target=train, args=(str(path), started))
    process.start()
    assert started.wait(60), "the child did not start"
    return process


@pytest.fixture(scope="module")
def reference(context, tmp_path_factory) -> tuple[np.ndarray, float]:
    """The uninterrupted run's test probabilities, and how long a child takes from its start to its end."""
    path = tmp_path_factory.mktemp("reference") / "run.h5"
    begin = time.monotonic()
    process = launch(context, path)
    process.join(120)
    duration = time.monotonic() - begin
    assert process.exitcode == 0 and read_summary(path).status == "finished"
    with h5py.File(path, "r") as f:
        return f["eval/test/probs"][()], duration


def kill_and_resume(context, folder: Path, delay: float, expected: np.ndarray) -> str:
    """Kill a child `delay` seconds after its start; check the file and resume it. Returns what was found."""
    path = folder / "run.h5"
    process = launch(context, path)
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    if not path.exists():
        assert not list(folder.glob("*.h5")), "a half-created run file was left under the run's name"
        return "killed before the file existed"
    status = read_summary(path).status  # opens, whatever the moment of the kill
    if status == "finished":
        return "finished before the kill"
    assert status == "incomplete", status
    read_run(path, with_probs=False)
    if not has_checkpoint(path):
        with pytest.raises(RunFileError, match="no checkpoint to resume from"):
            resume_run(path, TaskState())
        return "killed before the first checkpoint"
    result = resume_run(path, TaskState())
    assert result.status == "finished", result.error
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["eval/test/probs"][()], expected)
    return "resumed"


def kill_delays(count: int, duration: float, seed: int) -> list[float]:
    """Spread over the child's life, from before its file exists to its last flush."""
    rng = random.Random(seed)
    return [rng.uniform(0.0, duration) for _ in range(count)]


def run_kills(context, tmp_path, reference, count: int, seed: int) -> dict[str, int]:
    expected, duration = reference
    outcomes: dict[str, int] = {}
    for i, delay in enumerate(kill_delays(count, duration, seed)):
        folder = tmp_path / f"kill-{i}"
        folder.mkdir()
        outcome = kill_and_resume(context, folder, delay, expected)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def test_runs_killed_at_random_moments_open_and_resume_to_the_uninterrupted_result(context, tmp_path, reference):
    outcomes = run_kills(context, tmp_path, reference, CI_KILLS, seed=11)
    assert sum(outcomes.values()) == CI_KILLS
    assert outcomes.get("resumed", 0) >= CI_KILLS // 4, outcomes  # most kills land in training


@pytest.mark.slow
def test_many_kills(context, tmp_path, reference):
    outcomes = run_kills(context, tmp_path, reference, SLOW_KILLS, seed=12)
    assert outcomes.get("resumed", 0) >= SLOW_KILLS // 4, outcomes
