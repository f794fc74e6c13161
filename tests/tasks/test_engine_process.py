"""Jobs in an engine process of their own: the same run file as in this process, stop, a dead child, a gone parent."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import h5py
import numpy as np

from ensgui.engine.events import LogLine, Progress, RunEnded, RunStarted, Scalar, SnapshotTaken
from ensgui.engine.spec import Spec
from ensgui.storage import layout as L
from ensgui.storage.checkpoint import has_checkpoint
from ensgui.storage.workspace import Workspace
from ensgui.tasks.engine_process import EngineProcess, write_frame
from ensgui.tasks.jobs import ResumeJob, RunJob, execute, window_event
from support import tiny_spec_dict

WAIT_S = 120


def spec(epochs: int = 2, name: str = "engine") -> Spec:
    return Spec.from_dict(tiny_spec_dict(members=2, epochs=epochs, train_size=256, val_size=64, test_size=200,
                                         name=name))


def probs(path: Path) -> np.ndarray:
    with h5py.File(path, "r", locking=False) as f:
        return f["eval/test/probs"][()]


def status(path: Path) -> str:
    with h5py.File(path, "r", locking=False) as f:
        return str(f.attrs[L.ATTR_STATUS])


def test_a_run_in_an_engine_process_writes_the_file_this_process_would(tmp_path):
    s = spec()
    here = Workspace(tmp_path / "here").new_run_path(s.name)
    execute(RunJob(s.to_toml(), here), lambda e: None, threading.Event(), 1)
    there = Workspace(tmp_path / "there").new_run_path(s.name)
    events: list = []
    EngineProcess().run(RunJob(s.to_toml(), there), events.append, threading.Event(), 1)

    assert isinstance(events[-1], RunEnded) and events[-1].status == "finished"
    assert sum(isinstance(e, RunEnded) for e in events) == 1
    kinds = {type(e) for e in events}
    assert {RunStarted, Progress, Scalar, LogLine, SnapshotTaken} <= kinds
    assert all(window_event(e) is not None for e in events)  # only what a window shows crossed the pipe
    assert all(e.state == {} for e in events if isinstance(e, SnapshotTaken))
    np.testing.assert_array_equal(probs(there), probs(here))  # bitwise: the same job, one thread, another process


def test_stop_reaches_the_engine_process_which_evaluates_and_stays_resumable(tmp_path):
    s = spec(epochs=30, name="engine-stop")
    path = Workspace(tmp_path).new_run_path(s.name)
    stop = threading.Event()
    events: list = []

    def sink(event) -> None:
        events.append(event)
        if isinstance(event, Scalar) and event.epoch >= 1:
            stop.set()

    EngineProcess().run(RunJob(s.to_toml(), path), sink, stop, 1)
    assert events[-1].status == "cancelled"
    assert status(path) == "cancelled" and has_checkpoint(path)
    assert probs(path).shape[0] == 2  # both members evaluated as they stood

    events.clear()
    EngineProcess().run(ResumeJob(path), events.append, threading.Event(), 1)
    assert events[-1].status == "finished" and status(path) == "finished"
    assert any(isinstance(e, LogLine) and "resumed in epoch" in e.text for e in events)


def test_an_engine_process_that_dies_ends_the_job_with_why_and_how_to_go_on(tmp_path):
    s = spec(epochs=200, name="engine-killed")
    path = Workspace(tmp_path).new_run_path(s.name)
    engine = EngineProcess()
    events: list = []

    def sink(event) -> None:
        events.append(event)
        if isinstance(event, Scalar) and has_checkpoint(path) and engine.process.returncode is None:
            os.kill(engine.process.pid, signal.SIGKILL)

    engine.run(RunJob(s.to_toml(), path), sink, threading.Event(), 1)
    ended = events[-1]
    assert isinstance(ended, RunEnded) and ended.status == "failed"
    assert "killed by signal 9" in ended.error and "Resume continues it" in ended.error
    assert has_checkpoint(path)  # the epochs it finished are kept: the run resumes from them


def test_an_engine_process_whose_window_went_away_stops_the_run_cleanly(tmp_path):
    """The end of the engine's input (the window closed or crashed) is a stop: checkpoint, evaluate, cancelled."""
    s = spec(epochs=200, name="engine-orphan")
    path = Workspace(tmp_path).new_run_path(s.name)
    engine = EngineProcess()
    write_frame(engine.process.stdin, (RunJob(s.to_toml(), path), 1))
    deadline = time.monotonic() + WAIT_S
    while not has_checkpoint(path):  # an epoch has ended
        assert time.monotonic() < deadline and engine.process.poll() is None
        time.sleep(0.05)
    engine.process.stdin.close()
    assert engine.process.wait(timeout=WAIT_S) == 0
    assert status(path) == "cancelled" and probs(path).shape[0] == 2


def test_a_standby_engine_that_gets_no_job_exits_quietly():
    engine = EngineProcess()
    engine.close()
    assert engine.process.returncode == 0
