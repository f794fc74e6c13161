"""The Monitor screen: live curves, progress, log and cancel for the run the controller is running."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QResizeEvent
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
                               QSizePolicy, QSlider, QSplitter, QVBoxLayout, QWidget)

from ..engine.errors import EnsguiError
from ..engine.events import Progress, RunEnded, RunStarted, Scalar, SnapshotTaken
from ..engine.methods import plan_for
from ..engine.plan import Plan
from ..engine.spec import Spec
from ..storage.checkpoint import has_checkpoint
from ..text import size_text
from .live_curves import LEGEND_ROWS, LiveCurvesPlot
from .live_margins_panel import LiveMarginsPanel
from .screens import AppContext, register_screen
from .task_panel import TaskPanel
from .theme import ERROR_STYLE, PATH_COLOR, member_color, status_badge_style

STOP_TEXT = "Stop && evaluate"  # && is one '&' on a button
DEFAULT_SMOOTHING = 0.6  # TensorBoard's default: readable noisy losses, still close to the raw values
LOG_LINES = 5000
MAX_MEMBER_BARS = 10  # above this, per-member progress collapses into one summary line

IDLE_HINT = ("Start an experiment on Setup (Run › Start, Ctrl+R): every member's loss, accuracy and learning rate "
             "appear here while it trains.")

class ElidedLabel(QLabel):
    """A one-line label that elides its middle (a long file path) instead of widening the window."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = text
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width(), 40)
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, width))


class MemberProgress(QWidget):
    """Per-member progress: one small bar each for up to ten members, one summary line beyond."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.bars: list[QProgressBar] = []
        self.summary = QLabel(self)
        self.summary.setVisible(False)
        self._layout.addWidget(self.summary, 1)

    def reset(self, members: int, member_total: int) -> None:
        for bar in self.bars:
            self._layout.removeWidget(bar)
            bar.deleteLater()
        self.bars = []
        many = members > MAX_MEMBER_BARS
        self.summary.setVisible(many)
        if many:
            self.summary.setText(f"{members} members: waiting")
            return
        for m in range(members):
            bar = QProgressBar(self)
            bar.setRange(0, max(member_total, 1))
            bar.setValue(0)
            bar.setFixedHeight(16)
            bar.setMinimumWidth(70)
            bar.setFormat(f"{m}: 0/{member_total}")
            bar.setToolTip(f"member {m}: iterations done of {member_total}")
            color = member_color(m, members).name()
            bar.setStyleSheet(f"QProgressBar {{ border: 1px solid #b0b0b0; border-radius: 3px; text-align: center;"
                              f" font-size: 8pt; background: #fafafa; }}"
                              f" QProgressBar::chunk {{ background: {color}; }}")
            self._layout.insertWidget(m, bar, 1)
            self.bars.append(bar)

    def text(self) -> str:
        """The per-member state as one line (what the bars show, or the summary)."""
        if self.summary.isVisible():
            return self.summary.text()
        return " · ".join(bar.format() for bar in self.bars)

    def update_progress(self, member_done: tuple[int, ...], member_total: int) -> None:
        if len(member_done) > MAX_MEMBER_BARS or not self.bars:
            self.summary.setVisible(True)
            self.summary.setText(member_summary(member_done, member_total))
            return
        for m, (bar, done) in enumerate(zip(self.bars, member_done)):
            bar.setMaximum(max(member_total, 1))
            bar.setValue(min(done, member_total))
            bar.setFormat(f"{m}: {done}/{member_total}")


def member_summary(member_done: tuple[int, ...], member_total: int) -> str:
    """One line for many members, e.g. "16 members: 3 done · 2 training (120–130/390) · 11 waiting"."""
    done = [d for d in member_done if d >= member_total]
    waiting = [d for d in member_done if d == 0]
    active = [d for d in member_done if 0 < d < member_total]
    parts = []
    if done:
        parts.append(f"{len(done)} done")
    if active:
        low, high = min(active), max(active)
        span = f"{low}" if low == high else f"{low}–{high}"
        parts.append(f"{len(active)} training ({span}/{member_total})")
    if waiting:
        parts.append(f"{len(waiting)} waiting")
    return f"{len(member_done)} members: " + " · ".join(parts)


def member_names(members: int) -> list[str]:
    """Legend names: "member 3" while the legend is one column, the compact "m3" once it needs several."""
    if members <= LEGEND_ROWS:
        return [f"member {m}" for m in range(members)]
    return [f"m{m}" for m in range(members)]


@register_screen("monitor", "Monitor", order=20)
class MonitorView(QWidget):
    """Watches the run controller: header, three live plots, smoothing, progress, log and Cancel."""

    PLOTTED = {"train_loss": "loss_plot", "val_acc": "acc_plot", "lr": "lr_plot"}

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.controller = controller = context.controller
        self._running = False
        self._cancelling = False
        self._iters_per_epoch = 1
        self._epochs = 0
        self._plan: Plan | None = None

        self.name_label = QLabel("no run yet", self)
        font = self.name_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.name_label.setFont(font)
        self.details_label = QLabel(IDLE_HINT, self)
        self.details_label.setStyleSheet("color: #444;")
        self.path_label = ElidedLabel("", self)
        self.path_label.setStyleSheet(f"color: {PATH_COLOR};")
        self.status_label = QLabel(self)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_label.setMinimumWidth(110)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setVisible(False)
        # "gap sweep: point 3 of 6 (gap 1)" while (and after) a sweep runs; hidden for a single run.
        self.sweep_label = QLabel("", self)
        self.sweep_label.setStyleSheet("color: #0d47a1; font-weight: bold;")
        self.sweep_label.setVisible(False)

        self.loss_plot = LiveCurvesPlot("training loss", "loss", self)
        self.acc_plot = LiveCurvesPlot("validation accuracy", "accuracy", self, symbol="o",
                                       legend_offset=(-8, -8))
        # The learning rate is a planned, noise-free quantity: smoothing it would shift the schedule.
        self.lr_plot = LiveCurvesPlot("learning rate", "lr", self, smoothable=False)
        for plot in (self.acc_plot, self.lr_plot):
            plot.setXLink(self.loss_plot)
        self.margins_panel = LiveMarginsPanel(self)

        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setPageStep(10)
        self.smoothing_slider.setToolTip("Exponential moving average weight of the displayed curves "
                                         "(debiased, as in TensorBoard); stored values are not changed")
        self.smoothing_value = QLabel(self)
        self.smoothing_value.setMinimumWidth(32)
        self.smoothing_slider.valueChanged.connect(self._smoothing_changed)
        self.smoothing_slider.setValue(round(DEFAULT_SMOOTHING * 100))

        self.task_panel = TaskPanel(self, STOP_TEXT, "Stopping…")
        self.progress_bar, self.cancel_button = self.task_panel.progress_bar, self.task_panel.cancel_button
        self.cancel_button.setToolTip("Stop at the next step, evaluate every member as it stands (marked partial) "
                                      "and keep a checkpoint: Resume goes on exactly where it stopped")
        self.epoch_label = QLabel("", self)
        self.epoch_label.setMinimumWidth(90)
        self.task_panel.insert_widget(self.epoch_label)
        self.task_panel.cancel_requested.connect(self._cancel_clicked)
        self.resume_button = QPushButton("Resume", self)
        self.resume_button.setToolTip("Continue the stopped run in its own file from its last checkpoint")
        self.resume_button.setVisible(False)
        self.resume_button.clicked.connect(self._resume_clicked)
        self.task_panel.add_widget(self.resume_button)
        self._awaiting_stored = False  # a resumed run's stored curves are being read
        self._trained = 0.0  # the share of the run's member-steps trained
        self.member_progress = MemberProgress(self)

        self.log_view = QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setPlaceholderText("the run's log appears here")
        self.log_view.setMinimumHeight(60)

        self._build_layout()
        self._set_status("idle")

        controller.run_starting.connect(self._run_starting)
        controller.run_started.connect(self._run_started)
        controller.progress.connect(self._progress)
        controller.scalars.connect(self._scalars)
        controller.log_line.connect(self.append_log)
        controller.snapshot_taken.connect(self._snapshot_taken)
        controller.run_finished.connect(self._run_finished)
        controller.margins_measured.connect(self.margins_panel.add_measured)
        controller.sweep_progress.connect(self._sweep_point)

    def _build_layout(self) -> None:
        header = QGridLayout()
        header.setHorizontalSpacing(12)
        header.setVerticalSpacing(2)
        header.addWidget(self.name_label, 0, 0)
        header.addWidget(self.details_label, 0, 1)
        header.addWidget(self.status_label, 0, 2, 2, 1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        header.addWidget(self.path_label, 1, 0, 1, 2)
        header.addWidget(self.sweep_label, 2, 0, 1, 2)
        header.setColumnStretch(1, 1)

        plots = QWidget(self)
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        for column, plot in enumerate((self.loss_plot, self.acc_plot, self.lr_plot, self.margins_panel)):
            grid.addWidget(plot, 0, column)
            grid.setColumnStretch(column, 1)

        smoothing = QHBoxLayout()
        smoothing.addWidget(QLabel("Smoothing", self))
        smoothing.addWidget(self.smoothing_slider, 1)
        smoothing.addWidget(self.smoothing_value)
        smoothing.addStretch(2)

        lower = QWidget(self)
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addLayout(smoothing)
        lower_layout.addWidget(self.task_panel)
        lower_layout.addWidget(self.member_progress)
        lower_layout.addWidget(self.log_view, 1)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(plots)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([640, 260])  # the curves are what one watches; the log is for details

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.error_label)
        layout.addWidget(splitter, 1)

    # ------------------------------------------------------------ state shown

    @property
    def plots(self) -> dict[str, LiveCurvesPlot]:
        return {name: getattr(self, attr) for name, attr in self.PLOTTED.items()}

    def status(self) -> str:
        return self.status_label.text()

    def append_log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    def _set_status(self, status: str) -> None:
        self.status_label.setText(status)
        self.status_label.setStyleSheet(status_badge_style(status))

    def smoothing(self) -> float:
        """The displayed curves' EMA weight, 0 (raw) to 0.99."""
        return self.smoothing_slider.value() / 100.0

    def set_smoothing(self, weight: float) -> None:
        self.smoothing_slider.setValue(round(weight * 100))

    def _smoothing_changed(self, value: int) -> None:
        weight = value / 100.0
        self.smoothing_value.setText(f"{weight:.2f}")
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            plot.set_smoothing(weight)

    def _cancel_clicked(self) -> None:
        if not self._running:
            return
        self._cancelling = True
        self.controller.cancel()
        self._set_status("stopping…")

    def _resume_clicked(self) -> None:
        path = self.controller.current_path
        if path is not None and not self.controller.is_running():
            self.context.actions.resume_run(path)

    # ------------------------------------------------------------ controller signals

    def _run_starting(self, spec: Spec | None, path: Path) -> None:
        self._running = True
        self._cancelling = False
        self._awaiting_stored = False
        self._trained = 0.0
        self.resume_button.setVisible(False)
        self.name_label.setText(spec.name if spec is not None else path.stem)
        self.details_label.setText(f"{spec.method.name} · requested device {spec.device}" if spec is not None
                                   else "resuming from its checkpoint")
        self.path_label.set_full_text(str(path))
        self.error_label.setVisible(False)
        self.error_label.clear()
        self.sweep_label.setVisible(False)
        self.log_view.clear()
        for plot in self.plots.values():
            plot.clear_data()
        self.margins_panel.clear()
        # The engine process may still be loading torch (a Start right after launch): the wait is named, not silent.
        self.task_panel.start("starting the engine")
        self._set_status("starting the engine and loading the data…")
        if spec is None:
            return  # a resume: its plan comes with RunStarted
        try:
            plan = plan_for(spec)
        except EnsguiError:
            # The engine reports the same problem as the run's failure; until then show no plan.
            self.member_progress.reset(0, 0)
            self.epoch_label.clear()
            return
        # Built now, before the worker thread starts: building plot items costs the GUI thread tens
        # of milliseconds, several times more once the engine competes for the GIL.
        self._show_plan(plan)

    def _sweep_point(self, index: int, total: int, label: str) -> None:
        """A sweep's next point: its header line, and curves and progress that start afresh (the log goes on)."""
        self.sweep_label.setText(f"gap sweep: point {index + 1} of {total} (gap {label})")
        self.sweep_label.setVisible(True)
        for plot in self.plots.values():
            plot.clear_data()
        self.margins_panel.clear()
        self.task_panel.start("loading data")
        if self._cancelling:
            self.task_panel.set_cancelling()
        else:
            self._set_status("loading data…")

    def _run_started(self, started: RunStarted, path: Path) -> None:
        plan = started.plan
        self._running = True
        self.cancel_button.setEnabled(not self._cancelling)
        try:
            spec = tomllib.loads(started.spec_toml)
            name, method = spec.get("name", ""), spec.get("method", {}).get("name", "")
        except tomllib.TOMLDecodeError:
            name, method = path.stem, ""
        self.name_label.setText(name or path.stem)
        self.details_label.setText(f"{method} · {size_text(plan.members, plan.rows)} · {plan.epochs} epochs · "
                                   f"{started.device}")
        self.path_label.set_full_text(str(path))
        self._show_plan(plan)
        if not self._cancelling:
            self._set_status("training")
        if started.resumed_at is not None:
            # The curves before the stop are in the run file: read in the background, put before the live ones.
            self._awaiting_stored = True
            self.context.loader.ready.connect(self._stored_curves_read)
            self._stored_curves_read(path)

    def _show_plan(self, plan: Plan) -> None:
        """Curves, planned learning rate and progress bars for a plan (cheap when it is unchanged)."""
        same = plan is self._plan or (self._plan is not None and plan.members == self._plan.members
                                      and plan.epochs == self._plan.epochs
                                      and plan.iters_per_epoch == self._plan.iters_per_epoch
                                      and np.array_equal(plan.lr, self._plan.lr))
        self._plan = plan
        self._iters_per_epoch = max(plan.iters_per_epoch, 1)
        self._epochs = plan.epochs
        names = member_names(plan.members)
        for plot in self.plots.values():
            if not (same and plot.members == plan.members):
                plot.reset(plan.members, names)
        self.margins_panel.set_members(plan.members)
        if same and self.lr_plot.has_reference():
            return
        steps = np.arange(1, plan.total_iters + 1, dtype=np.float64) / self._iters_per_epoch
        self.lr_plot.set_reference(steps, plan.lr)
        # A known budget: show the whole run's width from the start, so the curves fill it as they grow.
        self.loss_plot.setXRange(0, max(plan.epochs, 1), padding=0.04)
        self.member_progress.reset(plan.members, plan.total_iters)
        self.epoch_label.setText(f"epoch 0 of {plan.epochs}")

    def _progress(self, progress: Progress) -> None:
        if not self._running:
            return
        if progress.phase == "training":
            self._trained = progress.done / progress.total if progress.total else 0.0
        after_training = progress.phase != "training" or progress.done >= progress.total
        self.task_panel.show_progress(progress, epochs=self._epochs or None)
        if after_training and not self._cancelling:
            self._set_status("evaluating…")
        if self._epochs:
            self.epoch_label.setText(f"epoch {min(progress.epoch, self._epochs)} of {self._epochs}")
        self.member_progress.update_progress(progress.member_done, progress.member_total)

    def _scalars(self, scalars: list[Scalar]) -> None:
        plots = self.plots
        grouped: dict[tuple[str, int], list[Scalar]] = defaultdict(list)
        for scalar in scalars:
            if scalar.name in plots:
                grouped[(scalar.name, scalar.member)].append(scalar)
        for (name, member), points in grouped.items():
            plot = plots[name]
            if member >= plot.members:
                continue
            plot.extend(member, np.array([p.epoch for p in points]), np.array([p.value for p in points]))

    def _snapshot_taken(self, snapshot: SnapshotTaken) -> None:
        if snapshot.partial_epoch is not None:
            return  # a stopped member's weights, not a snapshot of the plan
        if snapshot.member < self.lr_plot.members:
            self.lr_plot.mark(snapshot.member, (snapshot.step + 1) / self._iters_per_epoch, snapshot.lr)

    def _stored_curves_read(self, path: Path) -> None:
        """Put a resumed run's stored curves (up to where it resumed) before the ones it sends live."""
        if not self._awaiting_stored or path != self.controller.current_path:
            return
        run = self.context.loader.get(path)
        if run is None:
            return  # read in the background; ready() calls again
        self.context.loader.ready.disconnect(self._stored_curves_read)
        self._awaiting_stored = False
        for name, plot in self.plots.items():
            for member in range(plot.members):
                stored = run.metrics.get(member, {}).get(name)
                live_x, live_y = plot.raw_data(member)
                if stored is None or not len(stored):
                    continue
                # Rows the resumed run has sent live since (or flushed before this read) are not taken twice.
                before = stored[stored[:, 1] < live_x[0]] if len(live_x) else stored
                plot.clear_member(member)
                plot.extend(member, before[:, 1], before[:, 2])
                plot.extend(member, live_x, live_y)

    def _run_finished(self, ended: RunEnded, path: Path) -> None:
        self._running = False
        self._cancelling = False
        if self._awaiting_stored:
            self._awaiting_stored = False
            self.context.loader.ready.disconnect(self._stored_curves_read)
        self._set_status(ended.status)
        self.resume_button.setVisible(ended.status in ("cancelled", "failed") and not self.controller.is_sweep()
                                      and has_checkpoint(path))
        if ended.error:
            self.error_label.setText(f"{ended.status}: {ended.error}")
            self.error_label.setVisible(True)
        # A stopped run's bar shows how far it trained, not its evaluation's progress.
        self.task_panel.finish(ended.status, ended.elapsed, None if ended.status == "finished" else self._trained)
        for plot in self.plots.values():
            plot.redraw()
