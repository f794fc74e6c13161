"""The run controller: one spec or one gap sweep at a time in a Qt-owned worker thread; its events become signals."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from ..engine.events import (Event, LogLine, MarginsMeasured, Progress, RunEnded, RunStarted, Scalar, SnapshotTaken,
                             SweepDone, SweepPoint)
from ..engine.errors import EnsguiError
from ..engine.spec import Spec
from ..engine.task_state import TaskState
from .background_job import BackgroundJob, Mailbox, Work

# A job runs in the worker thread: given the event sink, the stop flag and the torch threads, it runs
# one or more engine runs and returns how the whole job ended.
Job = Callable[[Callable[[object], None], threading.Event, int], RunEnded]


def gap_sweep_job(spec: Spec, gaps: Sequence[float | str], folder: Path, width_objects: int,
                  resume: Path | None = None) -> Job:
    """The job of a gap sweep: every point an ordinary run file in folder, then the summary file; with resume, the
    missing points of that stored sweep (spec, gaps and width settings are then the file's)."""

    def job(emit: Callable[[object], None], stop: threading.Event, threads: int) -> RunEnded:
        # Imported in the worker: the tasks load torch, which the window does not need to appear.
        from ..tasks.sweep import resume_gap_sweep, run_gap_sweep

        started = time.monotonic()
        problems: list[str] = []
        labels: list[str] = []

        def sink(event: object) -> None:
            # A point that fails is recorded and the sweep goes on; its error goes into the sweep's end.
            if isinstance(event, SweepPoint):
                labels.append(event.label)
            if isinstance(event, RunEnded) and event.status in ("failed", "diverged"):
                problems.append(f"gap {labels[-1] if labels else '?'} {event.status}: {event.error}")
            emit(event)

        state = TaskState([sink], stop)
        if resume is not None:
            resume_gap_sweep(resume, state, threads=threads)
        else:
            run_gap_sweep(spec, gaps, folder, state, threads=threads, width_objects=width_objects)
        status = "cancelled" if stop.is_set() else "finished"
        return RunEnded(status, "; ".join(problems), time.monotonic() - started)

    return job


def default_threads() -> int:
    """Torch threads for a run: every core but one, which stays with the GUI."""
    return max(1, (os.cpu_count() or 2) - 1)


class EventMailbox(Mailbox[Event]):
    """A run's mailbox: only events the GUI shows are kept, and snapshot weights are dropped on the
    way in, so a slow GUI never pins tensors or prediction arrays in memory."""

    def put(self, event: Event) -> None:
        if isinstance(event, SnapshotTaken):
            event = dataclasses.replace(event, state={})
        elif not isinstance(event, (RunStarted, LogLine, Progress, Scalar, RunEnded, SweepPoint, SweepDone,
                                    MarginsMeasured)):
            return
        super().put(event)


# A single run in the worker thread: given the task state and the torch threads, it trains into its run file.
RunTask = Callable[[TaskState, int], object]


def _spec_task(spec: Spec, path: Path) -> RunTask:
    def run(state: TaskState, threads: int) -> object:
        # Imported in the worker: the task loads torch, which the window does not need to appear.
        from ..tasks.run import run_to_file

        return run_to_file(spec, path, state, threads)

    return run


def _resume_task(path: Path) -> RunTask:
    def run(state: TaskState, threads: int) -> object:
        from ..tasks.run import resume_run

        # The run's own thread count (threads=None): on the CPU it then ends bitwise as if never stopped.
        return resume_run(path, state)

    return run


def _run_work(task: RunTask, mailbox: EventMailbox, threads: int, job: Job | None) -> Work:
    """The worker thread's work: runs the task (or the job, when given) and always ends with one RunEnded."""

    def work(stop: threading.Event) -> None:
        ended = False

        def relay(event: Event) -> None:
            nonlocal ended
            ended = ended or isinstance(event, RunEnded)
            mailbox.put(event)

        try:
            if job is None:
                task(TaskState([relay], stop), threads)
            else:
                # Every point of a sweep ends with its own RunEnded: only the job's outcome ends the job.
                relay(job(mailbox.put, stop, threads))
        except EnsguiError as exc:  # a run that cannot start (a resume refused): its one-line reason
            if not ended:
                mailbox.put(RunEnded("failed", str(exc)))
        except Exception as exc:  # noqa: BLE001 - a sink that fails at the very end must still end the run
            if not ended:
                mailbox.put(RunEnded("failed", f"{type(exc).__name__}: {exc}"))
        else:
            if not ended:
                mailbox.put(RunEnded("failed", "the engine stopped without reporting an end status"))

    return work


class RunController(QObject):
    """Starts, cancels and waits for runs; drains the engine's mailbox about 30 times a second.

    Signals are emitted only from the GUI thread (the drain timer or `wait`). The final
    `run_finished` comes after every earlier event of the run and after the worker thread has
    ended, so a slot connected to it may start the next run at once. A gap sweep emits the
    ordinary signals for each of its points, `sweep_progress` before each point, and
    `sweep_finished` just before its one `run_finished`.
    """

    run_starting = Signal(object, object)  # Spec (None for a resume: it is read in the worker), Path
    run_started = Signal(object, object)  # RunStarted, Path
    progress = Signal(object)  # the latest Progress
    scalars = Signal(object)  # list[Scalar] since the last drain
    log_line = Signal(str)
    snapshot_taken = Signal(object)  # SnapshotTaken with its weights dropped
    margins_measured = Signal(object)  # list[MarginsMeasured] since the last drain: at most one redraw per drain
    run_finished = Signal(object, object)  # RunEnded, Path
    sweep_progress = Signal(int, int, str)  # point index (0-based), points, gap label: before each point
    sweep_finished = Signal(object)  # the sweep's summary Path: after its last event, before run_finished

    def __init__(self, parent: QObject | None = None, threads: int | None = None) -> None:
        super().__init__(parent)
        self.threads = threads if threads is not None else default_threads()
        self._mailbox = EventMailbox()
        self._path: Path | None = None
        self._spec: Spec | None = None
        self._ended: RunEnded | None = None
        self._sweep = False
        self._sweep_path: Path | None = None
        # Stops the engine on app.aboutToQuit too: a window closed without asking must not leave it running.
        self._background = BackgroundJob(self._drain, self)
        self._background.finished.connect(self._finished)

    @property
    def current_path(self) -> Path | None:
        """The run file of the running run, or of the last run once it has ended."""
        return self._path

    @property
    def current_spec(self) -> Spec | None:
        return self._spec

    def is_running(self) -> bool:
        return self._background.is_running()

    def is_sweep(self) -> bool:
        """Whether the running job (or the last one, once it has ended) is a gap sweep."""
        return self._sweep

    def start_sweep(self, spec: Spec, gaps: Sequence[float | str], folder: Path, width_objects: int) -> None:
        """Start a gap sweep in the worker thread: one run file per gap in folder, then a summary file."""
        self._start(spec, Path(folder), gap_sweep_job(spec, tuple(gaps), Path(folder), width_objects))

    def resume_sweep(self, path: Path) -> None:
        """Go on with a stored sweep that did not finish; EnsguiError (before anything starts) if it cannot be read."""
        from ..storage.sweep_store import read_sweep

        path = Path(path)
        spec = Spec.from_toml(read_sweep(path).spec_toml)
        self._start(spec, path.parent, gap_sweep_job(spec, (), path.parent, 0, resume=path))

    def start(self, spec: Spec, path: Path) -> None:
        """Start a run in the worker thread; refuses while another run is active."""
        self._start(spec, Path(path), None, _spec_task(spec, Path(path)))

    def resume(self, path: Path) -> None:
        """Continue a stopped run in its own file from its checkpoint (its spec is read in the worker)."""
        self._start(None, Path(path), None, _resume_task(Path(path)))

    def _start(self, spec: Spec | None, path: Path, job: Job | None, task: RunTask | None = None) -> None:
        if self.is_running():
            raise RuntimeError("a run is already in progress: stop it or wait for it to finish first")
        self._path = Path(path)
        self._spec = spec
        self._ended = None
        self._sweep = job is not None
        self._sweep_path = None
        self._mailbox = EventMailbox()
        work = _run_work(task, self._mailbox, self.threads, job)
        # run_starting before the thread starts: the GUI prepares without competing with the engine for the GIL.
        name = spec.name if spec is not None else self._path.stem
        self._background.start(work, f"ensgui-run-{name}", lambda: self.run_starting.emit(spec, self._path))

    def cancel(self) -> None:
        """Ask the engine to stop before its next batch: it checkpoints, evaluates the members as they stand
        and stays resumable."""
        self._background.cancel()

    @Slot()
    def shutdown(self) -> None:
        """Cancel any active run and wait for its thread to end."""
        self._background.shutdown()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Join the worker thread (forever when timeout_ms < 0); True once no run is active, its last events out."""
        return self._background.wait(timeout_ms)

    @Slot()
    def _finished(self) -> None:
        ended = self._ended or RunEnded("failed", "the worker thread ended without an end status")
        self._ended = None
        if self._sweep_path is not None:
            self._path = self._sweep_path
            self.sweep_finished.emit(self._sweep_path)
        # Last, so that a slot may start the next run from here.
        self.run_finished.emit(ended, self._path)

    @Slot()
    def _drain(self) -> None:
        events = self._mailbox.drain()
        if not events:
            return
        latest: Progress | None = None
        batch: list[Scalar] = []
        margins: list[MarginsMeasured] = []

        def flush_batch() -> None:
            # Scalars go out before a log line or snapshot that followed them, keeping their order.
            nonlocal batch
            if batch:
                self.scalars.emit(batch)
                batch = []

        for event in events:
            if isinstance(event, Scalar):
                batch.append(event)
            elif isinstance(event, Progress):
                latest = event
            elif isinstance(event, MarginsMeasured):
                margins.append(event)
            elif isinstance(event, LogLine):
                flush_batch()
                self.log_line.emit(event.text)
            elif isinstance(event, SnapshotTaken):
                flush_batch()
                self.snapshot_taken.emit(event)
            elif isinstance(event, RunStarted):
                flush_batch()
                self.run_started.emit(event, self._path)
            elif isinstance(event, RunEnded):
                # Held back until the thread has ended: see _finished.
                self._ended = event
            elif isinstance(event, SweepPoint):
                flush_batch()
                if latest is not None:
                    # The previous point's last progress belongs before the next point starts.
                    self.progress.emit(latest)
                    latest = None
                self.sweep_progress.emit(event.index, event.total, event.label)
            elif isinstance(event, SweepDone):
                self._sweep_path = event.path
        flush_batch()
        if margins:
            self.margins_measured.emit(margins)
        if latest is not None:
            self.progress.emit(latest)
