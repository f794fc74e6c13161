"""The DEE reference picker: a combo of the workspace's finished deep ensembles, the best fit first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from ..storage.reader import RunSummary
from ..storage.workspace import same_file

REFERENCE_METHOD = "deep_ensemble"
NONE = "none"


def references(summaries: Sequence[RunSummary]) -> list[RunSummary]:
    """The finished deep ensembles among the summaries, in their order (newest first in a workspace listing)."""
    return [s for s in summaries if s.method == REFERENCE_METHOD and s.status == "finished"]


class ReferencePicker(QWidget):
    """set_runs(candidates, default) fills the combo ("none" first); `changed(Path | None)` when the user picks.

    The choice is kept across refills while keep_choice is true and the chosen run is still offered.
    """

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None, label: str = "DEE reference (deep ensemble):") -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(label, self))
        self.combo = QComboBox(self)
        self.combo.setMinimumContentsLength(30)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.currentIndexChanged.connect(self._index_changed)
        layout.addWidget(self.combo)
        self.candidates: list[RunSummary] = []
        self._filling = False

    def set_runs(self, candidates: Sequence[RunSummary], default: Path | None, this_run: Path | None = None,
                 keep_choice: bool = True) -> None:
        """Offer these deep ensembles; select the previous choice (if kept and offered) or else default."""
        previous = self.current_path()
        self.candidates = list(candidates)
        self._filling = True
        try:
            self.combo.clear()
            self.combo.addItem(NONE, None)
            for r in self.candidates:
                mine = this_run is not None and same_file(r.path, this_run)
                label = f"{r.name} · {r.created[:16].replace('T', ' ')}" + (" (this run)" if mine else "")
                self.combo.addItem(label, str(r.path))
                self.combo.setItemData(self.combo.count() - 1, f"{r.dataset} · {r.model} · {r.rows} members\n{r.path}",
                                       Qt.ItemDataRole.ToolTipRole)
            index = self.index_of(previous) if keep_choice and previous is not None else -1
            if index < 0:
                index = self.index_of(default)
            self.combo.setCurrentIndex(max(index, 0))
        finally:
            self._filling = False

    def current_path(self) -> Path | None:
        data = self.combo.currentData()
        return None if data is None else Path(data)

    def select(self, path: Path | str | None) -> None:
        """Choose by run file path (None for no reference); ValueError when the run is not offered."""
        index = self.index_of(None if path is None else Path(path))
        if index < 0:
            raise ValueError(f"{path} is not a finished deep ensemble in the workspace")
        self.combo.setCurrentIndex(index)

    def paths(self) -> list[Path | None]:
        return [None if self.combo.itemData(i) is None else Path(self.combo.itemData(i))
                for i in range(self.combo.count())]

    def index_of(self, path: Path | None) -> int:
        if path is None:
            return self.combo.findData(None)
        for i in range(self.combo.count()):
            data = self.combo.itemData(i)
            if data is not None and same_file(Path(data), path):
                return i
        return -1

    def _index_changed(self, _index: int) -> None:
        if not self._filling:
            self.changed.emit(self.current_path())


__all__ = ["REFERENCE_METHOD", "ReferencePicker", "references"]
