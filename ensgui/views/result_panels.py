"""The result-panel registry: a tab of the Results screen for every kind of artefact a run file holds.

A panel is a QWidget class registered with @register_result_panel(kind, title): it is shown for runs that store
an artefact named kind or kind/... (/analysis/<kind> in the file). Its constructor takes (context, parent) and
its show_run(loaded, prepared) draws the run; prepare, if given, is Qt-free work (histograms, say) run in the
open-run worker, whose result is handed to show_run. A method with outputs of its own is one engine module that
emits an Artefact plus one such panel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..storage.opened_run import OpenedRun
from .run_document import LoadedRun, Preparer
from .screens import AppContext, FillWhenShown


class ResultPanel(Protocol):
    def show_run(self, loaded: LoadedRun, prepared: Any) -> Iterator[None] | None:
        """Draw this run's artefacts; prepared is what the panel's prepare returned (or a PrepareFailure).

        A panel of several plots may draw as a generator, one plot per `yield` (see FillWhenShown)."""
        ...


@dataclass(frozen=True)
class PanelEntry:
    kind: str
    title: str
    order: int
    factory: Callable[..., QWidget]
    prepare: Preparer | None

    @property
    def key(self) -> str:
        """The key its prepared value has in a LoadedRun."""
        return f"panel:{self.kind}"


RESULT_PANELS: dict[str, PanelEntry] = {}


def register_result_panel(kind: str, title: str, order: int = 100,
                          prepare: Preparer | None = None) -> Callable[[type], type]:
    """Register a panel class for the artefacts of one kind (see the module docstring)."""

    def add(cls: type) -> type:
        if kind in RESULT_PANELS:
            raise ValueError(f"a result panel for {kind!r} is registered twice")
        RESULT_PANELS[kind] = PanelEntry(kind, title, order, cls, prepare)
        return cls

    return add


def unregister_result_panel(kind: str) -> None:
    """Remove a panel (a test's toy panel, say); unknown kinds are ignored."""
    RESULT_PANELS.pop(kind, None)


class PanelTab(QWidget):
    """A result panel's tab: the panel is built the first time its tab is seen, and draws a run only when seen, so
    that opening a run costs nothing for the tabs nobody looks at."""

    def __init__(self, entry: PanelEntry, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.context = context
        self.panel: QWidget | None = None
        self.loaded: LoadedRun | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        # A panel built later must not grow the tab area's minimum: that would move Results' splitter and resize
        # (and repaint) every plot above it. The area is sized for panels up front (results_view.PANEL_HEIGHT).
        self.setMinimumSize(1, 1)
        self._filler = FillWhenShown(self, self._draw)

    def show_run(self, loaded: LoadedRun) -> None:
        self.loaded = loaded
        self._filler.request()

    def built(self) -> QWidget:
        """The panel, built and showing the latest run now (a test that reads a tab nobody opened)."""
        self._filler.flush()
        if self.panel is None:
            for _ in self._draw():
                pass
        return self.panel

    def _draw(self) -> Iterator[None]:
        # Building a panel of plots and drawing a run into it each cost a pass of the event loop of their own.
        if self.panel is None:
            self.panel = self.entry.factory(self.context, self)
            self._layout.addWidget(self.panel)
            yield
        if self.loaded is not None:
            parts = self.panel.show_run(self.loaded, self.loaded.get(self.entry.key))
            if isinstance(parts, Iterator):
                yield from parts


def panels_for(opened: OpenedRun) -> Sequence[PanelEntry]:
    """The registered panels of the kinds this run stores, in their order."""
    kinds = set(opened.kinds())
    return sorted((e for e in RESULT_PANELS.values() if e.kind in kinds), key=lambda e: (e.order, e.kind))


__all__ = ["PanelEntry", "PanelTab", "RESULT_PANELS", "ResultPanel", "panels_for", "register_result_panel",
           "unregister_result_panel"]
