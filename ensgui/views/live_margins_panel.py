"""Monitor's live margin histograms: the latest epoch's margins of one member (or all) on train or validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from ..engine.events import MarginsMeasured
from .export import csv_export_action, export_button, plot_export_actions
from .theme import member_color
from .margin_histogram_plot import KINDS, MarginHistogramPlot, margin_bin_edges

LIVE_SPLITS = (("train", "train"), ("val", "validation"))
ALL = -1  # the member combo's "all members" entry


class LiveMarginsPanel(QWidget):
    """Keeps the latest MarginsMeasured of every member and split; redraws once per batch of events
    (the controller's drain), never per event. Raw bin edges only widen during a run, so the
    histograms of successive epochs share their axis."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._latest: dict[tuple[int, str], MarginsMeasured] = {}
        self._raw_edges: dict[str, np.ndarray] = {}
        self._members = 0
        self.plot = MarginHistogramPlot(self, "live margins")
        self.kind_combo = QComboBox(self)
        for key, text in KINDS:
            self.kind_combo.addItem(text, key)
        self.split_combo = QComboBox(self)
        for key, text in LIVE_SPLITS:
            self.split_combo.addItem(text, key)
        self.member_combo = QComboBox(self)
        self.member_combo.setToolTip("one member's histogram, or every member's overlaid")
        for combo in (self.kind_combo, self.split_combo, self.member_combo):
            combo.currentIndexChanged.connect(lambda _index: self.redraw())
        self.export_actions = [*plot_export_actions(self.plot, lambda: self._file_stem()),
                               csv_export_action(self, self.plot.csv_contents, lambda: self._file_stem())]
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.setSpacing(4)
        controls.addWidget(self.kind_combo)
        controls.addWidget(self.split_combo)
        controls.addWidget(self.member_combo, 1)
        controls.addWidget(export_button(self.export_actions, self))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        self.set_members(0)

    # ------------------------------------------------------------ state

    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def split(self) -> str:
        return str(self.split_combo.currentData())

    def member(self) -> int:
        data = self.member_combo.currentData()
        return ALL if data is None else int(data)

    def latest(self, member: int, split: str) -> MarginsMeasured | None:
        return self._latest.get((member, split))

    def clear(self) -> None:
        """A new run (or sweep point): forget the margins and the bin edges, keep the member choice."""
        self._latest.clear()
        self._raw_edges.clear()
        self.redraw()

    def set_members(self, members: int) -> None:
        """Offer "all members" and each of the run's members (rebuilt only when their number changes)."""
        if members != self._members or self.member_combo.count() == 0:
            self._members = members
            self.member_combo.blockSignals(True)
            self.member_combo.clear()
            self.member_combo.addItem("all members", ALL)
            for m in range(members):
                self.member_combo.addItem(f"member {m}", m)
            self.member_combo.blockSignals(False)
        self.redraw()

    def add_measured(self, events: Sequence[MarginsMeasured]) -> None:
        """The margins of one drain: keep the newest per member and split, then draw once."""
        for event in events:
            self._latest[(event.member, event.split)] = event
        if events:
            self.redraw()

    # ------------------------------------------------------------ drawing

    def redraw(self) -> None:
        kind, split, chosen = self.kind(), self.split(), self.member()
        members = range(self._members) if chosen == ALL else [chosen]
        shown = [self._latest[(m, split)] for m in members if (m, split) in self._latest]
        series = [(f"member {e.member}", getattr(e, kind)) for e in shown]
        colors = [member_color(e.member, max(self._members, 1)) for e in shown]
        edges = self._edges(kind, split, [v for _, v in series])
        self.plot.set_margins(kind, series, edges=edges, colors=colors, title=self._title(split, shown))

    def _edges(self, kind: str, split: str, values: list[np.ndarray]) -> np.ndarray:
        if kind != "raw":
            return margin_bin_edges(kind, values)
        edges = margin_bin_edges(kind, values, at_least=self._raw_edges.get(split))
        self._raw_edges[split] = edges
        return edges

    def _title(self, split: str, shown: list[MarginsMeasured]) -> str:
        where = dict(LIVE_SPLITS)[split]
        if not shown:
            return f"live margins ({where}): after the first epoch"
        epochs = sorted({e.epoch for e in shown})
        epoch = f"epoch {epochs[0]}" if len(epochs) == 1 else f"epochs {epochs[0]}–{epochs[-1]}"
        return f"{where} · {epoch} · {len(shown[0].raw)} objects"

    def _file_stem(self) -> str:
        who = "all" if self.member() == ALL else f"member{self.member()}"
        return f"live-margins-{self.split()}-{self.kind()}-{who}"
