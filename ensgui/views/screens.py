"""The screen registry and what every screen is given: one registered class per tab of the main window.

A screen is a QWidget class registered with @register_screen(key, title, order); its constructor takes the
AppContext and a parent. The window builds the registered screens in order, so a new screen is one module
(imported by views.all_screens) and never an edit of the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget
from shiboken6 import isValid

from ..storage.workspace import Workspace
from .run_document import LoadedRun, RunDocument
from .run_header import header_labels
from .run_loader import RunLoader
from .workspace_index import WorkspaceIndex

if TYPE_CHECKING:
    from ..engine.spec import Spec
    from .run_controller import RunController


class WindowActions(Protocol):
    """What a screen may ask of the window it lives in."""

    def start_run(self, spec: Spec) -> None: ...

    def start_sweep(self, spec: Spec, gaps: tuple, width_objects: int) -> None: ...

    def resume_sweep(self, path: Path) -> None: ...

    def resume_run(self, path: Path) -> None: ...

    def open_run(self, path: Path) -> None: ...

    def compare_runs(self, paths: list[Path]) -> None: ...

    def show_screen(self, key: str) -> None: ...

    def warn(self, title: str, text: str) -> None: ...

    def status(self, text: str) -> None: ...


class NoWindow:
    """The actions of a screen shown on its own (tests, a screen embedded elsewhere): it opens runs in the shared
    document and records the rest."""

    def __init__(self, document: RunDocument) -> None:
        self.document = document
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, args))

    def open_run(self, path: Path) -> None:
        self.calls.append(("open_run", (path,)))
        self.document.open(path)


@dataclass
class AppContext:
    """The workspace and its index, the open run, the loader of other runs, the run controller, the window."""

    workspace: Workspace
    index: WorkspaceIndex
    document: RunDocument
    loader: RunLoader
    controller: RunController
    actions: WindowActions
    threads: int

    @classmethod
    def create(cls, workspace: Workspace, parent: QWidget | None = None, actions: WindowActions | None = None,
               threads: int | None = None, backend: str = "process") -> AppContext:
        """The shared objects for one window (or one screen on its own when actions is None); backend is where
        runs train (run_controller.BACKENDS)."""
        from .run_controller import RunController, default_threads

        document = RunDocument(parent)
        controller = RunController(parent, threads=threads, backend=backend)
        return cls(workspace, WorkspaceIndex(workspace, parent), document, RunLoader(parent), controller,
                   actions if actions is not None else NoWindow(document),
                   threads if threads is not None else default_threads())


PART_DELAY_MS = 1


class FillWhenShown(QObject):
    """Draws a screen when it can be seen: at once when it is visible (or stands alone, as in a test), else the
    next time it is shown. Opening a run then costs the GUI thread only the screen the user is looking at.

    A fill may be a generator: every `yield` ends one turn of the event loop, so that a screen of several plots
    is drawn (and painted) one part per turn and the window keeps answering in between. A new request drops the
    parts of an earlier one that are still waiting.
    """

    _drawing: ClassVar[set[FillWhenShown]] = set()  # fills with parts still waiting, for settle()

    def __init__(self, widget: QWidget, fill: Callable[[], Iterator[None] | None]) -> None:
        super().__init__(widget)
        self.widget = widget
        self.fill = fill
        self.pending = False
        self._parts: Iterator[None] | None = None
        widget.installEventFilter(self)

    def request(self) -> None:
        if self.widget.isVisible() or self.widget.window() is self.widget:
            self._start()
        else:
            self.pending = True

    def flush(self) -> None:
        """Draw now, whole, whatever waits (a test that reads a hidden screen)."""
        if self.pending:
            self._start()
        while self._parts is not None:
            self._next_part()

    @classmethod
    def settle(cls) -> None:
        """Finish every fill that is drawing part by part (tests, which read widgets right after an action)."""
        while cls._drawing:
            fill = cls._drawing.pop()
            if isValid(fill):  # a screen deleted while drawing draws nothing more
                cls._drawing.add(fill)
                fill.flush()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.widget and event.type() == QEvent.Type.Show and self.pending:
            self._start()
        return False

    def _start(self) -> None:
        self.pending = False
        self._stop_parts()
        parts = self.fill()
        if isinstance(parts, Iterator):
            self._parts = parts
            FillWhenShown._drawing.add(self)
            self._schedule(parts)

    def _schedule(self, parts: Iterator[None]) -> None:
        # A real (1 ms) timer, not a zero one: Qt delivers zero-delay calls with the other posted events of the same
        # pass, before any timer, so the parts would run and paint back to back without a breath in between. Even
        # the first part waits: the signal that asked for the drawing may have cost its pass enough already.
        # With this object as the context, Qt drops the call when the screen (its parent) is deleted first.
        QTimer.singleShot(PART_DELAY_MS, self, lambda: self._next_part() if self._parts is parts else None)

    def _next_part(self) -> None:
        parts = self._parts
        if parts is None:
            return
        try:
            next(parts)
        except StopIteration:
            self._stop_parts()
            return
        self._schedule(parts)

    def _stop_parts(self) -> None:
        if self._parts is not None:
            self._parts.close()
        self._parts = None
        FillWhenShown._drawing.discard(self)


class Veiled(QStackedWidget):
    """A heavy widget (a plot, a table), or a blank of its size in its place until its turn to be painted comes."""

    def __init__(self, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.content = content
        self.blank = QWidget(self)
        # The plots' own white: for the few milliseconds it shows, a blank reads as "coming", not as a hole.
        self.blank.setAutoFillBackground(True)
        self.blank.setBackgroundRole(QPalette.ColorRole.Base)
        self.addWidget(content)
        self.addWidget(self.blank)

    def cover(self) -> None:
        self.setCurrentWidget(self.blank)

    def reveal(self) -> None:
        self.setCurrentWidget(self.content)

    def revealed(self) -> bool:
        return self.currentWidget() is self.content


class RevealInTurns(QObject):
    """Each time a screen is shown, paints its heavy widgets one per turn of the event loop.

    Qt paints everything that becomes visible in one pass, and a screen of three pyqtgraph views stalls the window
    for 60-80 ms when its tab is chosen (docs/benchmarks.md). Covered by blanks when the screen is shown, they are
    revealed one per turn, so every pass paints one of them.
    """

    def __init__(self, screen: QWidget, veils: Sequence[Veiled]) -> None:
        super().__init__(screen)
        self.screen = screen
        self.veils = tuple(veils)
        self._reveal = FillWhenShown(screen, self._reveal_parts)
        screen.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # Show arrives before the screen's first paint: the veils are in place when Qt paints it.
        if watched is self.screen and event.type() == QEvent.Type.Show and self.screen.window() is not self.screen:
            for veil in self.veils:
                veil.cover()
            self._reveal.request()
        return False

    def _reveal_parts(self) -> Iterator[None]:
        for veil in self.veils:
            veil.reveal()
            yield


class RunScreen(QWidget):
    """A screen of the open run: a title and details header above `body`, and draw_run(loaded) whenever the
    document has a run and the screen can be seen. Subclasses may also react at once to run_loading,
    run_arrived (even while hidden) and run_failed."""

    def __init__(self, context: AppContext, parent: QWidget | None = None, title: str = "") -> None:
        super().__init__(parent)
        self.context = context
        self.loaded: LoadedRun | None = None  # the document's latest run, drawn when the screen can be seen
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(8, 8, 8, 8)
        self.body.setSpacing(6)
        self.title_label, self.details_label = header_labels(self, title)
        self.body.addWidget(self.title_label)
        self.body.addWidget(self.details_label)
        self.filler = FillWhenShown(self, self._draw_loaded)
        context.document.loading.connect(self.run_loading)
        context.document.loaded.connect(self._run_loaded)
        context.document.failed.connect(self.run_failed)

    def draw_run(self, loaded: LoadedRun) -> Iterator[None] | None:
        """Draw the run: at once, or a part per turn of the event loop as a generator (see FillWhenShown)."""
        raise NotImplementedError

    def run_loading(self, path: Path) -> None:
        """The document started reading a run."""

    def run_arrived(self, loaded: LoadedRun) -> None:
        """A run was read (or came from the cache); it is drawn when the screen is next seen."""

    def run_failed(self, path: Path, message: str) -> None:
        """A run could not be read; the window tells the user why."""

    def show_current(self) -> None:
        """Take the run the document already holds (a screen built after the run was opened)."""
        if self.context.document.current is not None:
            self._run_loaded(self.context.document.current)

    def _run_loaded(self, loaded: LoadedRun) -> None:
        self.loaded = loaded
        self.run_arrived(loaded)
        self.filler.request()

    def _draw_loaded(self) -> Iterator[None] | None:
        return self.draw_run(self.loaded) if self.loaded is not None else None


ScreenFactory = Callable[[AppContext, QWidget], QWidget]


@dataclass(frozen=True)
class ScreenEntry:
    key: str
    title: str
    order: int
    factory: ScreenFactory


SCREENS: dict[str, ScreenEntry] = {}


def register_screen(key: str, title: str, order: int) -> Callable[[type], type]:
    """Register a QWidget class whose constructor takes (context, parent) as the tab `title`, placed by order."""

    def add(cls: type) -> type:
        if key in SCREENS:
            raise ValueError(f"screen {key!r} is registered twice")
        SCREENS[key] = ScreenEntry(key, title, order, cls)
        return cls

    return add


def registered_screens() -> Sequence[ScreenEntry]:
    return sorted(SCREENS.values(), key=lambda e: (e.order, e.key))


__all__ = ["AppContext", "FillWhenShown", "NoWindow", "RevealInTurns", "RunScreen", "SCREENS", "ScreenEntry",
           "Veiled", "WindowActions", "register_screen", "registered_screens"]
