"""The run controller: runs one spec or one gap sweep at a time in a Qt-owned worker thread and relays its events as signals."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from ..engine.events import Event, LogLine, MarginsMeasured, Progress, RunEnded, RunStarted, Scalar, SnapshotTaken
from ..engine.runner import run_spec
from ..engine.spec import Spec
from ..storage.reader import mean_train_margin, read_final_weights
from ..storage.writer import RunWriter

DRAIN_INTERVAL_MS = 33  # about 30 drains (and so at most 30 redraws) a second, whatever the step rate


@dataclass(frozen=True)
class SweepPoint:
    """A gap sweep is about to run point `index` (0-based) of `total`; label names its gap ("1", "mean")."""

    index: int
    total: int
    label: str


@dataclass(frozen=True)
class SweepDone:
    """A gap sweep has written its summary file (also after a cancel: it holds the finished points)."""

    path: Path


# A job runs in the worker thread: given the event sink, the stop flag and the torch threads, it runs
# one or more engine runs and returns how the whole job ended.
Job = Callable[[Callable[[object], None], threading.Event, int], RunEnded]


def gap_sweep_job(spec: Spec, gaps: Sequence[float | str], folder: Path, width_objects: int) -> Job:
    """The job of a gap sweep: every point an ordinary run file in folder, then the summary file."""

    def job(emit: Callable[[object], None], stop: threading.Event, threads: int) -> RunEnded:
        from ..storage.sweep_store import run_gap_sweep  # imported late: the sweep store is optional until used

        started = time.monotonic()
        problems: list[str] = []
        labels: list[str] = []

        def on_point(index: int, total: int, label: str) -> None:
            labels.append(label)
            emit(SweepPoint(index, total, label))

        def sink(event: object) -> None:
            # A point that fails is recorded and the sweep goes on; its error goes into the sweep's end.
            if isinstance(event, RunEnded) and event.status in ("failed", "diverged"):
                problems.append(f"gap {labels[-1] if labels else '?'} {event.status}: {event.error}")
            emit(event)

        summary = run_gap_sweep(spec, gaps, folder, sinks=(sink,), stop=stop, threads=threads,
                                width_objects=width_objects, on_point=on_point)
        emit(SweepDone(Path(summary)))
        status = "cancelled" if stop.is_set() else "finished"
        return RunEnded(status, "; ".join(problems), time.monotonic() - started)

    return job


def default_threads() -> int:
    """Torch threads for a run: every core but one, which stays with the GUI."""
    return max(1, (os.cpu_count() or 2) - 1)


class EventMailbox:
    """A lock-protected list the engine thread appends to and the GUI thread swaps out.

    Only events the GUI shows are kept, and snapshot weights are dropped on the way in, so a
    slow GUI never pins tensors or prediction arrays in memory.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def put(self, event: Event) -> None:
        if isinstance(event, SnapshotTaken):
            event = dataclasses.replace(event, state={})
        elif not isinstance(event, (RunStarted, LogLine, Progress, Scalar, RunEnded, SweepPoint, SweepDone,
                                    MarginsMeasured)):
            return
        with self._lock:
            self._events.append(event)

    def drain(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events


class _RunWorker(QObject):
    """Lives in the worker QThread; runs the spec (or the job, when given) there and never emits a Qt signal itself."""

    def __init__(self, spec: Spec, path: Path, mailbox: EventMailbox, stop: threading.Event,
                 threads: int, job: Job | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.path = path
        self.mailbox = mailbox
        self.stop = stop
        self.threads = threads
        self.job = job

    @Slot()
    def run(self) -> None:
        ended = False

        def relay(event: Event) -> None:
            nonlocal ended
            ended = ended or isinstance(event, RunEnded)
            self.mailbox.put(event)

        try:
            if self.job is None:
                run_spec(self.spec, [RunWriter(self.path), relay], self.stop, self.threads,
                         load_run_weights=read_final_weights, mean_train_margin=mean_train_margin)
            else:
                # Every point of a sweep ends with its own RunEnded: only the job's outcome ends the job.
                relay(self.job(self.mailbox.put, self.stop, self.threads))
        except Exception as exc:  # noqa: BLE001 - a sink that fails at the very end must still end the run
            if not ended:
                self.mailbox.put(RunEnded("failed", f"{type(exc).__name__}: {exc}"))
        else:
            if not ended:
                self.mailbox.put(RunEnded("failed", "the engine stopped without reporting an end status"))
        finally:
            # quit() is thread-safe; called before exec() starts, it makes exec() return at once.
            thread = self.thread()
            if thread is not None:
                thread.quit()


class RunController(QObject):
    """Starts, cancels and waits for runs; drains the engine's mailbox about 30 times a second.

    Signals are emitted only from the GUI thread (the drain timer or `wait`). The final
    `run_finished` comes after every earlier event of the run and after the worker thread has
    ended, so a slot connected to it may start the next run at once. A gap sweep emits the
    ordinary signals for each of its points, `sweep_progress` before each point, and
    `sweep_finished` just before its one `run_finished`.
    """

    run_starting = Signal(object, object)  # Spec, Path: emitted by start(), before data loading
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
        self._stop = threading.Event()
        self._thread: QThread | None = None
        self._worker: _RunWorker | None = None
        self._path: Path | None = None
        self._spec: Spec | None = None
        self._ended: RunEnded | None = None
        self._sweep = False
        self._sweep_path: Path | None = None
        self._finishing = False
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)
        app = QCoreApplication.instance()
        if app is not None:
            # A window closed without asking (or a crashed test) must not leave the engine running.
            app.aboutToQuit.connect(self.shutdown)

    @property
    def current_path(self) -> Path | None:
        """The run file of the running run, or of the last run once it has ended."""
        return self._path

    @property
    def current_spec(self) -> Spec | None:
        return self._spec

    def is_running(self) -> bool:
        return self._thread is not None

    def is_sweep(self) -> bool:
        """Whether the running job (or the last one, once it has ended) is a gap sweep."""
        return self._sweep

    def start_sweep(self, spec: Spec, gaps: Sequence[float | str], folder: Path, width_objects: int) -> None:
        """Start a gap sweep in the worker thread: one run file per gap in folder, then a summary file."""
        self._start(spec, Path(folder), gap_sweep_job(spec, tuple(gaps), Path(folder), width_objects))

    def start(self, spec: Spec, path: Path) -> None:
        """Start a run in the worker thread; refuses while another run is active."""
        self._start(spec, Path(path), None)

    def _start(self, spec: Spec, path: Path, job: Job | None) -> None:
        if self.is_running():
            raise RuntimeError("a run is already in progress: cancel it or wait for it to finish first")
        self._path = Path(path)
        self._spec = spec
        self._ended = None
        self._sweep = job is not None
        self._sweep_path = None
        self._mailbox = EventMailbox()
        self._stop = threading.Event()
        thread = QThread()
        thread.setObjectName(f"ensgui-run-{spec.name}")
        worker = _RunWorker(spec, self._path, self._mailbox, self._stop, self.threads, job)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(self._thread_finished)
        self._thread, self._worker = thread, worker
        self.run_starting.emit(spec, self._path)
        thread.start()
        self._timer.start()

    def cancel(self) -> None:
        """Ask the engine to stop before its next batch; finished epochs and snapshots are kept."""
        if self.is_running():
            self._stop.set()

    @Slot()
    def shutdown(self) -> None:
        """Cancel any active run and wait for its thread to end."""
        self.cancel()
        self.wait()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Join the worker thread (forever when timeout_ms < 0); True once no run is active.

        When the thread has ended, the remaining events and run_finished are delivered before
        returning, so nothing of the run is left pending in the mailbox.
        """
        thread = self._thread
        if thread is None:
            return True
        done = thread.wait() if timeout_ms < 0 else thread.wait(int(timeout_ms))
        if done:
            self._finish()
        return done

    @Slot()
    def _thread_finished(self) -> None:
        if self._thread is not None and self._thread.isFinished():
            self._finish()

    def _finish(self) -> None:
        thread = self._thread
        # A slot of the final drain that calls wait() must not finish (and announce) the run twice.
        if thread is None or self._finishing:
            return
        self._finishing = True
        thread.wait()  # finished has been emitted; this only lets the thread's last cleanup complete
        self._drain()
        self._timer.stop()
        self._thread = None
        self._worker = None
        self._finishing = False
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
                # Held back until the thread has ended: see _finish.
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
