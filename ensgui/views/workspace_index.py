"""The workspace as every screen sees it: run summaries, sweeps and unreadable files, scanned in a worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..storage.reader import RunSummary
from ..storage.workspace import Signature, UnreadableRun, Workspace, folder_signature
from .worker_queue import WorkerQueue

POLL_MS = 3000


@dataclass(frozen=True)
class Listing:
    """One scan of the workspace folder."""

    summaries: list[RunSummary] = field(default_factory=list)  # newest first
    sweeps: list[Path] = field(default_factory=list)  # newest first
    problems: list[str] = field(default_factory=list)  # one line per unreadable file (or the folder's own problem)
    unreadable: list[UnreadableRun] = field(default_factory=list)  # the files behind those lines, by name


def scan(workspace: Workspace, _stop: threading.Event) -> Listing:
    """Read every summary of the folder (the worker's job)."""
    summaries = workspace.runs()
    return Listing(summaries, workspace.sweeps(), workspace.problems, list(workspace.unreadable))


class WorkspaceIndex(QObject):
    """Rescans the folder when it changes (polled every few seconds, always while a listed run is running) and
    emits `changed` once the new listing is in `listing`. refresh() forces a scan."""

    changed = Signal()

    def __init__(self, workspace: Workspace, parent: QObject | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.workspace = workspace
        self.listing = Listing()
        self.scanned = False  # whether a first scan has arrived
        self._signature: Signature | None = None
        self._queue = WorkerQueue("ensgui-workspace-scan", self, self._done, self._failed)
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(lambda: self.refresh(force=False))
        self._timer.start()
        self.refresh()

    def observe(self, listener: Callable[[], None]) -> None:
        """Call listener now and whenever the listing changes."""
        self.changed.connect(listener)
        listener()

    @property
    def summaries(self) -> list[RunSummary]:
        return self.listing.summaries

    def refresh(self, force: bool = True) -> bool:
        """Scan again; without force only when a file changed or a listed run is still running (its writer may
        have died, which makes it incomplete). Returns whether a scan was started."""
        signature = folder_signature(self.workspace.folder)
        running = any(s.status == "running" for s in self.listing.summaries)
        if not force and not running and signature is not None and signature == self._signature:
            return False
        self._signature = signature
        self._queue.submit("scan", lambda stop: scan(self.workspace, stop))
        return True

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait until the scans asked for have arrived (tests, benchmarks)."""
        return self._queue.wait(timeout_ms)

    def polling(self) -> bool:
        return self._timer.isActive()

    def stop(self) -> None:
        """Stop polling the folder (the window closes, a test ends)."""
        self._timer.stop()
        self._queue.shutdown()

    @Slot(object, object)
    def _done(self, _key: object, listing: Listing) -> None:
        self.listing = listing
        self.scanned = True
        self.changed.emit()

    @Slot(object, str)
    def _failed(self, _key: object, message: str) -> None:
        self.listing = Listing(problems=[f"cannot list {self.workspace.folder}: {message}"])
        self.scanned = True
        self.changed.emit()


__all__ = ["Listing", "WorkspaceIndex", "scan"]
