"""The open run, shared by every screen: read once in a worker with what each screen derives from it, cached."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from ..engine.errors import EnsguiError
from ..storage.opened_run import OpenedRun, file_stamp, open_run_file
from .worker_queue import WorkerQueue

# Qt-free work a screen derives from an opened run (distances between snapshots, calibration bins, ...); it runs
# in the worker right after the file is read, so that showing the run costs the GUI thread only drawing.
Preparer = Callable[[OpenedRun], Any]
CACHED_RUNS = 4


@dataclass(frozen=True)
class PrepareFailure:
    """What a preparer raised, as the message its screen shows instead of its content."""

    message: str


@dataclass
class LoadedRun:
    """An opened run and what every registered screen prepared from it, by the screen's key."""

    opened: OpenedRun
    prepared: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.opened.path

    def get(self, key: str) -> Any:
        """The prepared value of a screen (a PrepareFailure when its preparer raised, None when it has none)."""
        return self.prepared.get(key)


def load_run(path: Path, preparers: dict[str, Preparer], stop: threading.Event) -> LoadedRun:
    """Read a run file and run every preparer on it (the worker's job)."""
    loaded = LoadedRun(open_run_file(path))
    for key, prepare in preparers.items():
        if stop.is_set():
            break
        try:
            loaded.prepared[key] = prepare(loaded.opened)
        except EnsguiError as exc:
            loaded.prepared[key] = PrepareFailure(str(exc))
        except Exception as exc:  # noqa: BLE001 - one screen's failure must not keep the others from the run
            loaded.prepared[key] = PrepareFailure(f"internal error: {type(exc).__name__}: {exc}")
    return loaded


class RunDocument(QObject):
    """open(path) reads a run in a worker; `loaded(LoadedRun)` then tells every screen, `failed(path, message)` when
    the file cannot be read. A run opened again unchanged comes from the cache at once."""

    loading = Signal(object)  # Path
    loaded = Signal(object)  # LoadedRun
    failed = Signal(object, str)  # Path, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._preparers: dict[str, Preparer] = {}
        self._cache: OrderedDict[Path, LoadedRun] = OrderedDict()
        self._requested: Path | None = None
        self.current: LoadedRun | None = None
        self._queue = WorkerQueue("ensgui-open-run", self, self._done, self._failed)

    def register(self, key: str, prepare: Preparer) -> None:
        """A screen's Qt-free preparation, run on every run opened from now on."""
        self._preparers[key] = prepare
        self._cache.clear()

    @property
    def path(self) -> Path | None:
        return self._requested

    def open(self, path: Path | str) -> None:
        """Show a run: from the cache when its file is unchanged, else read in the worker."""
        path = Path(path)
        self._requested = path
        cached = self._cache.get(path)
        if cached is not None and cached.opened.stamp is not None and cached.opened.stamp == file_stamp(path):
            self._cache.move_to_end(path)
            self._show(cached)
            return
        self.loading.emit(path)
        preparers = dict(self._preparers)
        self._queue.submit("open", lambda stop: load_run(path, preparers, stop))

    def reload(self) -> None:
        """Read the current run again (an analysis was stored in it)."""
        if self._requested is not None:
            self._cache.pop(self._requested, None)
            self.open(self._requested)

    def busy(self) -> bool:
        return self._queue.busy()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Wait until the requested run has been read and announced (tests, benchmarks)."""
        return self._queue.wait(timeout_ms)

    @Slot(object, object)
    def _done(self, _key: object, loaded: LoadedRun) -> None:
        self._cache[loaded.path] = loaded
        self._cache.move_to_end(loaded.path)
        while len(self._cache) > CACHED_RUNS:
            self._cache.popitem(last=False)
        if loaded.path == self._requested:  # an older request answered late is only cached
            self._show(loaded)

    @Slot(object, str)
    def _failed(self, _key: object, message: str) -> None:
        if self._requested is not None:
            self.failed.emit(self._requested, message)

    def _show(self, loaded: LoadedRun) -> None:
        self.current = loaded
        self.loaded.emit(loaded)


__all__ = ["LoadedRun", "PrepareFailure", "Preparer", "RunDocument", "load_run"]
