"""The status bar's permanent part: the active run with its phase and progress, and the device runs train on."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QStatusBar

from ..engine.events import Progress, RunEnded, RunStarted
from ..text import format_duration
from .run_controller import RunController


class RunStatusLine:
    """Two labels at the right of the status bar, kept up to date from the run controller's signals."""

    def __init__(self, bar: QStatusBar, controller: RunController) -> None:
        self.run_label = QLabel("no run", bar)
        self.run_label.setObjectName("status.run")
        self.device_label = QLabel("engine: loading…" if controller.backend == "process" else "engine: in this window",
                                   bar)
        self.device_label.setObjectName("status.device")
        self.device_label.setToolTip("Where runs with device “auto” train, as the engine found it")
        bar.addPermanentWidget(self.run_label)
        bar.addPermanentWidget(self.device_label)
        self._name = ""
        self.controller = controller
        controller.run_starting.connect(self._starting)
        controller.run_started.connect(self._started)
        controller.progress.connect(self._progress)
        controller.run_finished.connect(self._finished)
        controller.engine_ready.connect(self._engine_ready)

    def _engine_ready(self, info: object) -> None:
        if not self.controller.is_running():
            self.device_label.setText(f"engine: {info.device_text()}")

    def _starting(self, spec: object, path: Path) -> None:
        self._name = getattr(spec, "name", None) or Path(path).stem
        self.run_label.setText(f"{self._name}: starting")

    def _started(self, started: RunStarted, _path: Path) -> None:
        self.device_label.setText(f"running on {started.device} ({started.threads} CPU threads)"
                                  if started.device == "cpu" else f"running on {started.device}")

    def _progress(self, progress: Progress) -> None:
        share = f" {progress.done / progress.total:.0%}" if progress.total else ""
        eta = f" · {format_duration(progress.eta)} left" if progress.eta is not None else ""
        self.run_label.setText(f"{self._name}: {progress.phase}{share}{eta}")

    def _finished(self, ended: RunEnded, _path: Path) -> None:
        self.run_label.setText(f"{self._name}: {ended.status} after {format_duration(ended.elapsed)}")
        if self.controller.engine_info is not None:
            self._engine_ready(self.controller.engine_info)
