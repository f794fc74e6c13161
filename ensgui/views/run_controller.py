"""The run controller: one run or gap sweep at a time, trained in an engine process of its own; its events become signals.

A Qt-owned worker thread hands the job to the engine process (tasks.engine_process) and relays its events into a
mailbox the GUI thread drains. The "thread" backend runs the job in that worker thread instead, in the window's own
process: for what is registered at run time there (a test's toy method), at the price of a window that stutters
while torch loads and trains.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal, Slot

from ..engine.events import (Event, LogLine, MarginsMeasured, Progress, RunEnded, RunStarted, Scalar, SnapshotTaken,
                             SweepDone, SweepPoint)
from ..engine.spec import Spec
from ..tasks.jobs import Job, ResumeJob, RunJob, SweepJob, execute, window_event
from .background_job import BackgroundJob, Mailbox

BACKENDS = ("process", "thread")
STANDBY_DELAY_MS = 1500  # after the window is shown, or a run has ended and its results are drawn
INFO_POLL_MS = 250  # how often the window looks whether the standby engine has loaded torch (a select, no wait)


def default_threads() -> int:
    """Torch threads for a run: every core but one, which stays with the GUI."""
    return max(1, (os.cpu_count() or 2) - 1)


class EventMailbox(Mailbox[Event]):
    """A run's mailbox: only events the GUI shows are kept, and snapshot weights are dropped on the
    way in, so a slow GUI never pins tensors or prediction arrays in memory."""

    def put(self, event: Event) -> None:
        shown = window_event(event)
        if shown is not None:
            super().put(shown)


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
    engine_ready = Signal(object)  # tasks.engine_process.EngineInfo: the standby engine has loaded torch

    def __init__(self, parent: QObject | None = None, threads: int | None = None, backend: str = "process") -> None:
        super().__init__(parent)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.threads = threads if threads is not None else default_threads()
        self.backend = backend
        self._mailbox = EventMailbox()
        self._path: Path | None = None
        self._spec: Spec | None = None
        self._ended: RunEnded | None = None
        self._sweep = False
        self._sweep_path: Path | None = None
        self._standby: EngineProcess | None = None  # an engine process that has loaded torch and waits for a job
        self._keep_standby = False
        self._standby_timer = QTimer(self)
        self._standby_timer.setSingleShot(True)
        self._standby_timer.setInterval(STANDBY_DELAY_MS)
        self._standby_timer.timeout.connect(self._spawn_standby)
        self.engine_info = None  # the EngineInfo of the last engine that reported one
        self._info_timer = QTimer(self)
        self._info_timer.setInterval(INFO_POLL_MS)
        self._info_timer.timeout.connect(self._poll_info)
        # Stops the engine on app.aboutToQuit too: a window closed without asking must not leave it running.
        self._background = BackgroundJob(self._drain, self)
        self._background.finished.connect(self._finished)
        if (app := QCoreApplication.instance()) is not None:
            app.aboutToQuit.connect(self.shutdown)

    def keep_engine_ready(self) -> None:
        """Keep an engine process loaded in the background from now on (soon, and again after every run), so that
        Start trains at once instead of first waiting seconds for torch; the window's own thread never loads it."""
        if self.backend != "process":
            return
        self._keep_standby = True
        if self._standby is None and not self.is_running():
            self._standby_timer.start()

    @Slot()
    def _spawn_standby(self) -> None:
        if self._standby is None and not self.is_running() and self._keep_standby:
            from ..tasks.engine_process import EngineProcess

            self._standby = EngineProcess()
            self._info_timer.start()

    @Slot()
    def _poll_info(self) -> None:
        info = self._standby.poll_info() if self._standby is not None else None
        if self._standby is None or info is not None:
            self._info_timer.stop()
        if info is not None:
            self.engine_info = info
            self.engine_ready.emit(info)

    @Slot()
    def _close_standby(self) -> None:
        standby, self._standby = self._standby, None
        if standby is not None:
            standby.close()

    def _engine(self):
        """The engine process for the next job: the standby when there is one, else a new one."""
        from ..tasks.engine_process import EngineProcess

        self._standby_timer.stop()
        engine, self._standby = self._standby, None
        return engine if engine is not None else EngineProcess()

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
        self._start(spec, Path(folder), SweepJob(spec.to_toml(), tuple(gaps), Path(folder), width_objects))

    def resume_sweep(self, path: Path) -> None:
        """Go on with a stored sweep that did not finish; EnsguiError (before anything starts) if it cannot be read."""
        from ..storage.sweep_store import read_sweep

        path = Path(path)
        spec = Spec.from_toml(read_sweep(path).spec_toml)
        self._start(spec, path.parent, SweepJob(spec.to_toml(), (), path.parent, 0, resume=path))

    def start(self, spec: Spec, path: Path) -> None:
        """Start a run in the worker thread; refuses while another run is active."""
        self._start(spec, Path(path), RunJob(spec.to_toml(), Path(path)))

    def resume(self, path: Path) -> None:
        """Continue a stopped run in its own file from its checkpoint (its spec is read by the engine)."""
        self._start(None, Path(path), ResumeJob(Path(path)))

    def _start(self, spec: Spec | None, path: Path, job: Job) -> None:
        if self.is_running():
            raise RuntimeError("a run is already in progress: stop it or wait for it to finish first")
        self._path = Path(path)
        self._spec = spec
        self._ended = None
        self._sweep = isinstance(job, SweepJob)
        self._sweep_path = None
        self._mailbox = mailbox = EventMailbox()
        threads = self.threads
        if self.backend == "process":
            engine = self._engine()

            def work(stop: threading.Event) -> None:
                engine.run(job, mailbox.put, stop, threads)
        else:
            def work(stop: threading.Event) -> None:
                execute(job, mailbox.put, stop, threads)
        # run_starting before the thread starts: the GUI prepares without competing with the engine for the GIL.
        name = spec.name if spec is not None else self._path.stem
        self._background.start(work, f"ensgui-run-{name}", lambda: self.run_starting.emit(spec, self._path))

    def cancel(self) -> None:
        """Ask the engine to stop before its next batch: it checkpoints, evaluates the members as they stand
        and stays resumable."""
        self._background.cancel()

    @Slot()
    def shutdown(self) -> None:
        """Cancel any active run and wait for its thread to end; let the standby engine go."""
        self._keep_standby = False
        self._standby_timer.stop()
        self._background.shutdown()
        self._close_standby()

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
        if self._keep_standby:
            self._standby_timer.start()  # after the results are drawn: the next Start need not wait for torch
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
