"""Background work in a Qt-owned thread, drained into the GUI thread about 30 times a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

DRAIN_INTERVAL_MS = 33  # about 30 drains (and so at most 30 redraws) a second, whatever the work's pace
Work = Callable[[threading.Event], None]  # runs in the worker thread; reports only through a Mailbox
T = TypeVar("T")


class Mailbox(Generic[T]):
    """A lock-protected list the worker thread appends to and the GUI thread's drain swaps out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[T] = []

    def put(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def drain(self) -> list[T]:
        with self._lock:
            items, self._items = self._items, []
        return items


class _Worker(QObject):
    """Lives in the worker QThread; runs the work there and never emits a Qt signal itself."""

    def __init__(self, work: Work, stop: threading.Event) -> None:
        super().__init__()
        self.work, self.stop = work, stop
        self.error: Exception | None = None

    @Slot()
    def run(self) -> None:
        try:
            self.work(self.stop)
        except Exception as exc:  # noqa: BLE001 - work that fails must still end its thread and finish
            self.error = exc
        finally:
            # quit() is thread-safe; called before exec() starts, it makes exec() return at once.
            self.thread().quit()


class BackgroundJob(QObject):
    """Runs one work(stop) at a time in a QThread while a GUI-thread timer calls drain.

    `finished` is emitted from the GUI thread once per start, after the thread has ended and a last
    drain has run, even when a slot fed by that drain calls wait(); its slots may start the next work.
    """

    finished = Signal()

    def __init__(self, drain: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._drain = drain
        self._stop = threading.Event()
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._finishing = False
        self.error: Exception | None = None  # what the last work let escape, once finished
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(drain)
        if (app := QCoreApplication.instance()) is not None:
            # A window closed without asking (or a crashed test) must not leave the work running.
            app.aboutToQuit.connect(self.shutdown)

    def is_running(self) -> bool:
        return self._thread is not None

    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def start(self, work: Work, name: str, before_start: Callable[[], None] | None = None) -> None:
        """Run work(stop) in a new thread called name; before_start runs once is_running(), before the thread."""
        if self.is_running():
            raise RuntimeError("background work is already running: cancel it or wait for it first")
        self._stop, self.error = threading.Event(), None
        thread = QThread()
        thread.setObjectName(name)
        worker = _Worker(work, self._stop)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        thread.finished.connect(self._thread_finished)
        self._thread, self._worker = thread, worker
        if before_start is not None:
            before_start()
        thread.start()
        self._timer.start()

    def cancel(self) -> None:
        """Set the running work's stop flag; the work stops where it next checks it."""
        if self.is_running():
            self._stop.set()

    @Slot()
    def shutdown(self) -> None:
        self.cancel()
        self.wait()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Join the thread (forever when timeout_ms < 0); True once no work runs, the last drain and finished done."""
        thread = self._thread
        if thread is None:
            return True
        done = thread.wait() if timeout_ms < 0 else thread.wait(int(timeout_ms))
        if done:
            self._finish()
        return done

    @Slot()
    def _thread_finished(self) -> None:
        # Queued from the ending thread: wait() may have finished it already, or the next work be running.
        if self._thread is not None and self._thread.isFinished():
            self._finish()

    def _finish(self) -> None:
        thread, worker = self._thread, self._worker
        # A slot of the final drain that calls wait() must not finish (and announce) the work twice.
        if thread is None or worker is None or self._finishing:
            return
        self._finishing = True
        thread.wait()  # finished has been emitted; this only lets the thread's last cleanup complete
        self._drain()
        self._timer.stop()
        self._thread, self._worker, self._finishing = None, None, False
        self.error = worker.error
        self.finished.emit()  # last, so that a slot may start the next work from here
