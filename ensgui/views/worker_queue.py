"""Qt-free jobs run one after another in a worker thread, their results handed back on the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ..engine.errors import EnsguiError
from .background_job import BackgroundJob, Mailbox

Job = Callable[[threading.Event], Any]  # runs in the worker; the event is set when the queue shuts down


class WorkerQueue(QObject):
    """submit(key, job) runs job in a worker thread; `done(key, result)` or `failed(key, message)` follows on the
    GUI thread. A job submitted again under a key that is still waiting replaces the waiting one."""

    done = Signal(object, object)
    failed = Signal(object, str)

    def __init__(self, name: str, parent: QObject | None = None,
                 on_done: Callable[[Hashable, Any], None] | None = None,
                 on_failed: Callable[[Hashable, str], None] | None = None) -> None:
        super().__init__(parent)
        if on_done is not None:
            self.done.connect(on_done)
        if on_failed is not None:
            self.failed.connect(on_failed)
        self.name = name
        self._lock = threading.Lock()
        self._waiting: dict[Hashable, Job] = {}
        self._results: Mailbox[tuple[Hashable, bool, Any]] = Mailbox()
        self._background = BackgroundJob(self._drain, self)
        self._background.finished.connect(self._finished)

    def submit(self, key: Hashable, job: Job) -> None:
        with self._lock:
            self._waiting.pop(key, None)
            self._waiting[key] = job
        if not self._background.is_running():
            self._background.start(self._work, self.name)

    def pending(self) -> int:
        with self._lock:
            return len(self._waiting)

    def busy(self) -> bool:
        return self._background.is_running()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait until every submitted job has reported (tests and shutdown)."""
        while True:
            if not self._background.wait(timeout_ms):
                return False
            if not self.pending():
                return True

    @Slot()
    def shutdown(self) -> None:
        with self._lock:
            self._waiting.clear()
        self._background.shutdown()

    def _next(self) -> tuple[Hashable, Job] | None:
        with self._lock:
            if not self._waiting:
                return None
            key = next(iter(self._waiting))
            return key, self._waiting.pop(key)

    def _work(self, stop: threading.Event) -> None:
        while not stop.is_set() and (item := self._next()) is not None:
            key, job = item
            try:
                self._results.put((key, True, job(stop)))
            except EnsguiError as exc:
                self._results.put((key, False, str(exc)))
            except Exception as exc:  # noqa: BLE001 - a failing job is a message on the screen, never a crash
                self._results.put((key, False, f"internal error: {type(exc).__name__}: {exc}"))

    @Slot()
    def _drain(self) -> None:
        for key, ok, value in self._results.drain():
            if ok:
                self.done.emit(key, value)
            else:
                self.failed.emit(key, value)

    @Slot()
    def _finished(self) -> None:
        # A job submitted while the worker was finishing its last one starts a new round.
        if self.pending():
            self._background.start(self._work, self.name)


__all__ = ["Job", "WorkerQueue"]
