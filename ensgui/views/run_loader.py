"""Other runs a screen compares with (DEE references, compared runs): read without predictions in a worker, cached."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from ..storage.opened_run import FileStamp, file_stamp
from ..storage.reader import RunData, read_run
from .worker_queue import WorkerQueue


class RunLoader(QObject):
    """get(path) answers from the cache when the file is unchanged; otherwise it asks the worker and returns None,
    and `ready(path)` (or `failed(path, message)`) follows on the GUI thread."""

    ready = Signal(object)  # Path
    failed = Signal(object, str)  # Path, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache: dict[Path, tuple[FileStamp, RunData]] = {}
        self._errors: dict[Path, str] = {}
        self._queue = WorkerQueue("ensgui-run-loader", self, self._done, self._failed)

    def get(self, path: Path | str) -> RunData | None:
        path = Path(path)
        stamp = file_stamp(path)
        cached = self._cache.get(path)
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1]
        if stamp is None:
            self._errors[path] = f"{path} does not exist or cannot be read"
            return None
        self._errors.pop(path, None)
        self._queue.submit(path, lambda stop: (stamp, read_run(path, with_probs=False)))
        return None

    def error(self, path: Path | str) -> str | None:
        """Why the last read of path failed, if it did."""
        return self._errors.get(Path(path))

    def wait(self, timeout_ms: int = -1) -> bool:
        return self._queue.wait(timeout_ms)

    def busy(self) -> bool:
        return self._queue.busy()

    @Slot(object, object)
    def _done(self, path: Path, value: tuple[FileStamp, RunData]) -> None:
        self._cache[path] = value
        self.ready.emit(path)

    @Slot(object, str)
    def _failed(self, path: Path, message: str) -> None:
        self._errors[path] = message
        self.failed.emit(path, message)


__all__ = ["RunLoader"]
