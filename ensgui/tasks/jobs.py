"""Jobs the window hands to the engine (a run, a resume, a gap sweep) as plain data, and the one function that runs them.

A job is picklable, so the same job runs in the window's process or in an engine process of its own
(tasks.engine_process); either way `execute` runs it and its last event is the job's RunEnded.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from threading import Event as StopFlag
from typing import Union

from ..engine.errors import EnsguiError
from ..engine.events import (Event, LogLine, MarginsMeasured, Progress, RunEnded, RunStarted, Scalar, Sink,
                             SnapshotTaken, SweepDone, SweepPoint)
from ..engine.spec import Spec
from ..engine.task_state import TaskState


@dataclass(frozen=True)
class RunJob:
    """Train a spec into a new run file."""

    spec_toml: str
    path: Path


@dataclass(frozen=True)
class ResumeJob:
    """Continue a stopped run in its own file from its checkpoint, with the run's own thread count."""

    path: Path


@dataclass(frozen=True)
class SweepJob:
    """A gap sweep into folder (one run file per gap, then a summary); with resume, the missing points of that
    stored sweep (its spec, gaps and width settings are then the file's)."""

    spec_toml: str
    gaps: tuple[float | str, ...]
    folder: Path
    width_objects: int
    resume: Path | None = None


Job = Union[RunJob, ResumeJob, SweepJob]

# What a window shows of a run; everything else (predictions, artefacts, checkpoints) only the run file needs.
WINDOW_EVENTS = (RunStarted, LogLine, Progress, Scalar, RunEnded, SweepPoint, SweepDone, MarginsMeasured,
                 SnapshotTaken)


def window_event(event: Event) -> Event | None:
    """The event as a window needs it, or None: snapshot weights are dropped, so no tensor waits in a queue."""
    if isinstance(event, SnapshotTaken):
        return dataclasses.replace(event, state={})
    return event if isinstance(event, WINDOW_EVENTS) else None


def execute(job: Job, sink: Sink, stop: StopFlag, threads: int) -> None:
    """Run job, sending its events to sink; the last event is always the job's RunEnded.

    A run that cannot start (a resume refused) ends with its one-line reason; an unexpected error with its type.
    For a sweep, every point ends with its own RunEnded before the sweep's.
    """
    ended = False

    def relay(event: Event) -> None:
        nonlocal ended
        ended = ended or isinstance(event, RunEnded)
        sink(event)

    try:
        if isinstance(job, SweepJob):
            # Every point of a sweep ends with its own RunEnded: only the job's outcome ends the job.
            sink(_sweep(job, sink, stop, threads))
            return
        from .run import resume_run, run_to_file  # here: the tasks load torch, which a window does not need

        state = TaskState([relay], stop)
        if isinstance(job, ResumeJob):
            resume_run(job.path, state)  # the run's own threads: on the CPU it then ends bitwise as if never stopped
        else:
            run_to_file(Spec.from_toml(job.spec_toml), job.path, state, threads)
    except EnsguiError as exc:
        if not ended:
            sink(RunEnded("failed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - a sink that fails at the very end must still end the run
        if not ended:
            sink(RunEnded("failed", f"{type(exc).__name__}: {exc}"))
    else:
        if not ended:
            sink(RunEnded("failed", "the engine stopped without reporting an end status"))


def _sweep(job: SweepJob, sink: Sink, stop: StopFlag, threads: int) -> RunEnded:
    """Run a sweep job; a point that fails is recorded and the sweep goes on, its error in the sweep's end."""
    from .sweep import resume_gap_sweep, run_gap_sweep

    started = time.monotonic()
    problems: list[str] = []
    labels: list[str] = []

    def point_sink(event: Event) -> None:
        if isinstance(event, SweepPoint):
            labels.append(event.label)
        if isinstance(event, RunEnded) and event.status in ("failed", "diverged"):
            problems.append(f"gap {labels[-1] if labels else '?'} {event.status}: {event.error}")
        sink(event)

    state = TaskState([point_sink], stop)
    try:
        if job.resume is not None:
            resume_gap_sweep(job.resume, state, threads=threads)
        else:
            run_gap_sweep(Spec.from_toml(job.spec_toml), job.gaps, job.folder, state, threads=threads,
                          width_objects=job.width_objects)
    except EnsguiError as exc:
        return RunEnded("failed", str(exc), time.monotonic() - started)
    status = "cancelled" if stop.is_set() else "finished"
    return RunEnded(status, "; ".join(problems), time.monotonic() - started)
