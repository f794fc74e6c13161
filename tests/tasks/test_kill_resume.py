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
PRELOAD = ["torch", "torch._dynamo", "ensgui.tasks.run", "ensgui.engine.methods", "ensgui.engine.group_loop"]
CI_KILLS = 20
SLOW_KILLS = 100


def spec_values() -> dict:
    from support import tiny_spec_dict

    return tiny_spec_dict(members=2, epochs=8, train_size=256, val_size=64, test_size=200, name="killed")


def train(path: str, started, pause=None, pause_at: tuple[str, int] | None = None) -> None:
    """The child: announce the start, then train into path with one thread (as the resumes do). With pause_at
    (what, n) it stops dead the n-th time it is inside that write (the file open, written to, not yet closed),
    sets pause and waits there for its kill."""
    from ensgui.engine.spec import Spec
    from ensgui.tasks.run import run_to_file

    if pause_at is not None:
        hold_inside(*pause_at, pause)
    started.set()
    run_to_file(Spec.from_dict(spec_values()), Path(path), TaskState(), threads=1)


def hold_inside(what: str, n: int, pause) -> None:
    """Patch the writer so that its n-th `what` (create: the header written, not yet linked; flush: an epoch
    written, the file not yet closed; checkpoint: its arrays written, not yet renamed) never finishes."""
    from ensgui.storage import checkpoint, writer

    owner, name = {"create": (writer, "_link_exclusively"), "flush": (writer.RunWriter, "_write_pending"),
                   "checkpoint": (checkpoint, "_write")}[what]
    original = getattr(owner, name)
    calls = [0]

    def held(*args, **kwargs):
        calls[0] += 1
        if what == "create" and calls[0] == n:
            stop_here(pause)  # before the link: the header written under the hidden name only
        result = original(*args, **kwargs)
        if calls[0] == n:
            stop_here(pause)  # inside the open file, after writing to it
        return result

    setattr(owner, name, held)


@pytest.fixture(scope="module")
def context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def stop_here(pause) -> None:
    pause.set()
    time.sleep(600)


def launch(context, path: Path, pause=None, pause_at: tuple[str, int] | None = None):
    started = context.Event()
    process = context.Process(target=train, args=(str(path), started, pause, pause_at))
    process.start()
    assert started.wait(60), "the child did not start"
    return process


@pytest.fixture(scope="module")
def reference(context, tmp_path_factory) -> tuple[np.ndarray, float]:
    """The uninterrupted run's test probabilities, and how long a child takes from its start to its end."""
    path = tmp_path_factory.mktemp("reference") / "run.h5"
    process = launch(context, path)  # the first launch also starts the fork server: not timed
    begin = time.monotonic()
    process.join(120)
    duration = time.monotonic() - begin
    assert process.exitcode == 0 and read_summary(path).status == "finished"
    with h5py.File(path, "r") as f:
        return f["eval/test/probs"][()], duration


def kill_and_resume(context, folder: Path, delay: float, expected: np.ndarray,
                    pause_at: tuple[str, int] | None = None) -> str:
    """Kill a child `delay` seconds after its start (or where pause_at holds it); check the file and resume it.
    Returns what was found."""
    path = folder / "run.h5"
    pause = context.Event() if pause_at is not None else None
    process = launch(context, path, pause, pause_at)
    if pause is not None:
        assert pause.wait(60), f"the child never reached {pause_at}"
    else:
        time.sleep(delay)
    if process.is_alive():
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
    print(f"\n{CI_KILLS} kills: {outcomes} (a child lives {reference[1]:.1f} s)")
    assert sum(outcomes.values()) == CI_KILLS
    assert outcomes.get("resumed", 0) >= CI_KILLS // 4, outcomes  # most kills land in training


# The writer flushes after creating the file, at every epoch end, and before every checkpoint.
@pytest.mark.parametrize("pause_at, expected", [
    (("create", 1), "killed before the file existed"),  # header written under the hidden name, not linked
    (("flush", 1), "killed before the first checkpoint"),  # the first flush after creation
    (("flush", 3), "killed before the first checkpoint"),  # inside the flush that precedes the first checkpoint
    (("checkpoint", 1), "killed before the first checkpoint"),  # its temporary file written, not renamed
    (("checkpoint", 4), "resumed"),  # the fourth being written: the third stands
    (("flush", 12), "resumed"),  # mid-run, inside an epoch's flush
])
def test_a_kill_inside_a_write_leaves_a_file_that_opens_and_resumes(context, tmp_path, reference, pause_at,
                                                                     expected):
    assert kill_and_resume(context, tmp_path, 0.0, reference[0], pause_at) == expected


@pytest.mark.slow
def test_many_kills(context, tmp_path, reference):
    outcomes = run_kills(context, tmp_path, reference, SLOW_KILLS, seed=12)
    assert outcomes.get("resumed", 0) >= SLOW_KILLS // 4, outcomes
