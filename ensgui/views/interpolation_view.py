"""The Interpolation screen: losses along the line between two snapshots of a run, computed in the background."""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from ..engine.data import DATASETS, effective_sizes
from ..engine.errors import CancelledError, EnsguiError
from ..engine.events import Artefact, Progress
from ..engine.interpolation import (DEFAULT_POINTS, DEFAULT_TEST_OBJECTS, DEFAULT_TRAIN_OBJECTS, MAX_POINTS,
                                    MIN_POINTS, pair_label, pairs_against_final, snapshot_name)
from ..engine.models import has_batchnorm_trait
from ..engine.task_state import TaskState
from ..storage.analysis import INTERPOLATION, INTERPOLATION_ARTEFACT, StoredInterpolation, stored_interpolations
from ..storage.reader import RunData, SnapshotInfo
from ..storage.workspace import same_file
from .background_job import BackgroundJob, Mailbox, Work
from .export import export_button, plot_export_actions
from .panels import titled_panel
from .run_document import LoadedRun
from .screens import AppContext, RevealInTurns, RunScreen, Veiled, register_screen
from .task_panel import TaskPanel
from .theme import ERROR_STYLE, HINT_STYLE, PATH_COLOR, add_grid, member_color

MODE_FINAL = "final"
MODE_PAIR = "pair"
MODES: tuple[tuple[str, str], ...] = ((MODE_FINAL, "final vs each earlier snapshot"), (MODE_PAIR, "two snapshots"))
# (array of InterpolationResult, plot title, y axis)
PLOTS: tuple[tuple[str, str, str], ...] = (("train_loss", "Training loss", "cross-entropy"),
                                           ("test_loss", "Test loss", "cross-entropy"),
                                           ("test_error", "Test error", "error rate"))
ENDED = ("finished", "cancelled", "failed", "diverged")


@dataclass(frozen=True)
class _Job:
    path: Path
    pairs: list[tuple[SnapshotInfo, SnapshotInfo]]
    points: int
    train_objects: int
    test_objects: int


@dataclass(frozen=True)
class _Outcome:
    """How the worker's task ended: the last item it puts in the mailbox."""

    status: str
    message: str


def _interpolation_work(job: _Job, mailbox: Mailbox[object], threads: int) -> Work:
    """The worker thread's work: the task's events go to the mailbox as they come, then its outcome."""

    def work(stop: threading.Event) -> None:
        try:
            # Imported in the worker: the task loads torch, which the window does not need to appear.
            from ..tasks.interpolation import compute_interpolations

            labels = compute_interpolations(job.path, job.pairs, job.points, TaskState([mailbox.put], stop),
                                            job.train_objects, threads=threads, test_objects=job.test_objects)
            outcome = _Outcome("finished", f"{len(labels)} interpolation(s) stored")
        except CancelledError:
            outcome = _Outcome("cancelled", "cancelled")
        except EnsguiError as exc:
            outcome = _Outcome("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - every failure must reach the user as a message, not a crash
            outcome = _Outcome("failed", f"internal error: {type(exc).__name__}: {exc}")
        mailbox.put(outcome)

    return work


def snapshot_key(member: int, index: int) -> str:
    """A combo item's data: text, since Qt compares wrapped Python tuples by identity (findData misses them)."""
    return f"{int(member)}:{int(index)}"


def snapshot_text(s: SnapshotInfo) -> str:
    """A combo entry: "member 0 snapshot 2 · epoch 10"."""
    return f"{snapshot_name(s.member, s.index)} · epoch {s.epoch}"


def legend_name(label: str, attrs: dict[str, Any], single_member: bool, one_per_member: bool) -> str:
    """A short legend entry: "snapshot 1 → 3" for one trajectory, "member 0 → 1" for one snapshot per member."""
    try:
        am, ai, bm, bi = (int(attrs[k]) for k in ("a_member", "a_index", "b_member", "b_index"))
    except (KeyError, TypeError, ValueError):
        return label
    if single_member and am == bm == 0:
        return f"snapshot {ai} → {bi}"
    if one_per_member:
        return f"member {am} → {bm}"
    return f"m{am} s{ai} → m{bm} s{bi}"


@register_screen("interpolation", "Interpolation", order=40)
class InterpolationView(RunScreen):
    """The open run's snapshots, the pairs to interpolate, Compute/Cancel with progress, and three plots of λ.

    It shows the run of the shared document with the interpolations it already stores. compute() starts the
    background work, whose pairs are drawn as each is stored; `computation_finished(status, message)` is emitted
    from the GUI thread once the worker thread has ended, and the document then reads the run file again.
    """

    computation_finished = Signal(str, str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent, "Parameter-space interpolation")
        self.path: Path | None = None
        self.run: RunData | None = None
        self.snapshots: list[SnapshotInfo] = []
        self.stored: dict[str, StoredInterpolation] = {}
        self.last_status = ""
        self._batchnorm: bool | None = None
        self._curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        self._mailbox: Mailbox[object] = Mailbox()
        self._job: _Job | None = None
        self._started = 0.0
        self._outcome: tuple[str, str] | None = None
        self._live: dict[str, StoredInterpolation] = {}  # pairs stored by the running task, not yet read back
        self._reading = False  # the document is reading a run: Compute waits, so that no file is read mid-write
        # Stops the worker on app.aboutToQuit too: a window closed without asking must not leave it running.
        self._background = BackgroundJob(self._drain, self)
        self._background.finished.connect(self._finished)
        self._build()
        self._enable_inputs()
        self._show_note("Open a finished run on the Runs screen: its snapshots can then be interpolated here.")
        self.show_current()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        outer = self.body

        controls = QGridLayout()
        controls.setHorizontalSpacing(8)
        controls.setVerticalSpacing(4)
        self.mode_combo = QComboBox(self)
        for key, text in MODES:
            self.mode_combo.addItem(text, key)
        self.mode_combo.setToolTip("Final vs each earlier snapshot: the Snapshot Ensembles figure, one curve per "
                                   "earlier snapshot of every member (λ = 1 is the member's final snapshot).\n"
                                   "Two snapshots: any a (λ = 0) and b (λ = 1) of the run.")
        self.mode_combo.currentIndexChanged.connect(lambda _: self._enable_inputs())
        self.a_combo = QComboBox(self)
        self.b_combo = QComboBox(self)
        for combo in (self.a_combo, self.b_combo):
            combo.setMinimumContentsLength(26)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.currentIndexChanged.connect(lambda _: self._enable_inputs())
        self.points_spin = QSpinBox(self)
        self.points_spin.setRange(MIN_POINTS, MAX_POINTS)
        self.points_spin.setValue(DEFAULT_POINTS)
        self.points_spin.setToolTip(f"λ = 0, 1/(n−1), ..., 1 (at least {MIN_POINTS} points)")
        self.train_spin = QSpinBox(self)
        self.train_spin.setRange(100, 10_000_000)
        self.train_spin.setSingleStep(1000)
        self.train_spin.setValue(DEFAULT_TRAIN_OBJECTS)
        self.train_spin.setToolTip("Training objects the training loss is measured on (and BatchNorm statistics "
                                   "recomputed from): the first ones of the run's shuffled training split, "
                                   "all of it when it is smaller. Every λ is a forward pass of these and the test "
                                   "objects, so together they set how long it takes.")
        self.test_spin = QSpinBox(self)
        self.test_spin.setRange(100, 10_000_000)
        self.test_spin.setSingleStep(1000)
        self.test_spin.setValue(DEFAULT_TEST_OBJECTS)
        self.test_spin.setToolTip("Test objects the test loss and error are measured on: a class-stratified sample "
                                  "of the run's test split drawn with its seed, all of it when it is smaller "
                                  "(stored with each pair)")
        self.compute_button = QPushButton("Compute", self)
        self.compute_button.setDefault(True)
        self.compute_button.clicked.connect(self.compute)
        controls.addWidget(QLabel("Pairs:", self), 0, 0)
        controls.addWidget(self.mode_combo, 0, 1)
        controls.addWidget(QLabel("a (λ = 0):", self), 0, 2)
        controls.addWidget(self.a_combo, 0, 3)
        controls.addWidget(QLabel("b (λ = 1):", self), 0, 4)
        controls.addWidget(self.b_combo, 0, 5)
        controls.addWidget(QLabel("Grid points:", self), 1, 0)
        controls.addWidget(self.points_spin, 1, 1)
        controls.addWidget(QLabel("Training objects:", self), 1, 2)
        controls.addWidget(self.train_spin, 1, 3)
        self.train_hint = QLabel("", self)
        self.train_hint.setStyleSheet(HINT_STYLE)
        self.train_spin.valueChanged.connect(lambda _: self._fill_object_hints())
        controls.addWidget(self.train_hint, 1, 4)
        controls.addWidget(self.compute_button, 1, 5)
        controls.addWidget(QLabel("Test objects:", self), 2, 2)
        controls.addWidget(self.test_spin, 2, 3)
        self.test_hint = QLabel("", self)
        self.test_hint.setStyleSheet(HINT_STYLE)
        self.test_spin.valueChanged.connect(lambda _: self._fill_object_hints())
        controls.addWidget(self.test_hint, 2, 4)
        controls.setColumnStretch(6, 1)
        outer.addLayout(controls)

        self.task_panel = TaskPanel(self)
        self.task_panel.cancel_requested.connect(self.cancel)
        outer.addWidget(self.task_panel)

        self.note_label = QLabel("", self)
        self.note_label.setWordWrap(True)
        self.note_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.note_label)

        plots = QWidget(self)
        grid = QHBoxLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.export_actions: dict[str, list] = {}
        for key, title, y_label in PLOTS:
            plot = pg.PlotWidget(plots)
            item = plot.getPlotItem()
            item.setLabel("bottom", "λ")
            item.setLabel("left", y_label)
            item.getAxis("left").enableAutoSIPrefix(False)
            # Wide enough for "0.425" beside the axis title: pyqtgraph sizes it before the ticks are known.
            item.getAxis("left").setWidth(64)
            add_grid(item)
            item.setXRange(0.0, 1.0, padding=0.03)
            plot.setMinimumSize(240, 220)
            backdrop = pg.mkColor(pg.getConfigOption("background"))
            backdrop.setAlpha(190)
            item.addLegend(offset=(-8, 8), labelTextSize="8pt", verSpacing=-6, brush=pg.mkBrush(backdrop),
                           pen=pg.mkPen(160, 160, 160))
            actions = plot_export_actions(plot, lambda key=key: self._file_stem(key))
            self.plots[key] = plot
            self.export_actions[key] = actions
            grid.addWidget(titled_panel(title, Veiled(plot), export_button(actions, plots), plots), 1)
        outer.addWidget(plots, 1)
        RevealInTurns(self, [plot.parentWidget() for plot in self.plots.values()])

    # ------------------------------------------------------------ public API

    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def selected_pairs(self) -> list[tuple[SnapshotInfo, SnapshotInfo]]:
        """The (a, b) pairs Compute would interpolate with the current choices."""
        if self.mode() == MODE_FINAL:
            return pairs_against_final(self.snapshots)
        a, b = self._combo_snapshot(self.a_combo), self._combo_snapshot(self.b_combo)
        if a is None or b is None or (a.member, a.index) == (b.member, b.index):
            return []
        return [(a, b)]

    def is_computing(self) -> bool:
        return self._background.is_running()

    def compute(self) -> None:
        """Start interpolating the selected pairs in a worker thread (refused while one is active)."""
        if self.is_computing():
            raise RuntimeError("an interpolation is already being computed: cancel it or wait for it first")
        pairs = self.selected_pairs()
        if self.path is None or not pairs:
            self._show_note(self._why_not_computable() or "Nothing to compute.", error=True)
            return
        job = _Job(self.path, pairs, int(self.points_spin.value()), int(self.train_spin.value()),
                   int(self.test_spin.value()))
        self._job = job
        self._mailbox = Mailbox()
        self._outcome = None
        self._live = {}
        self._started = time.monotonic()
        self._background.start(_interpolation_work(job, self._mailbox, self.context.threads), "ensgui-interpolation")
        self.last_status = "running"
        self.task_panel.start()
        count = f"{len(pairs)} pair" + ("s" if len(pairs) != 1 else "")
        self._show_note(f"Computing {count} on a grid of {job.points} points, each on up to {job.train_objects} "
                        f"training and {job.test_objects} test objects…")
        self._enable_inputs()

    def cancel(self) -> None:
        """Ask the worker to stop before its next batch; pairs already finished stay stored."""
        if self.is_computing():
            self._background.cancel()
            self.task_panel.set_cancelling()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Join the worker thread (forever when timeout_ms < 0); True once nothing is being computed."""
        return self._background.wait(timeout_ms)

    @Slot()
    def shutdown(self) -> None:
        self.cancel()
        self.wait()

    def drawn(self, key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What a plot shows: label -> (λ, values) of every curve, as handed to pyqtgraph."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for label, curves in self._curves.items():
            curve = curves[key]
            out[label] = (np.asarray(curve.xData), np.asarray(curve.yData))
        return out

    def legend_names(self, key: str = "test_error") -> list[str]:
        legend = self.plots[key].getPlotItem().legend
        return [label.text for _, label in legend.items] if legend is not None else []

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)

    # ------------------------------------------------------------ the open run

    def run_loading(self, _path: Path) -> None:
        self._reading = True
        self._end_work_before_reading()
        self._enable_inputs()

    def run_arrived(self, loaded: LoadedRun) -> None:
        self._reading = False
        self._end_work_before_reading()
        self._enable_inputs()

    def run_failed(self, _path: Path, _message: str) -> None:
        self._reading = False  # the window says why; this screen keeps what it showed
        self._enable_inputs()

    def _end_work_before_reading(self) -> None:
        # The worker writes into the run shown; a run read (even the same one again) ends that work first, so that
        # what is read is complete. A run from the document's cache arrives without a read: it ends it as well.
        if self.is_computing():
            self.cancel()
            self.wait()

    def draw_run(self, loaded: LoadedRun) -> None:
        """Show the document's run: its snapshots, the pairs to choose from and the interpolations it stores."""
        opened = loaded.opened
        same_run = (self.path is not None and same_file(opened.path, self.path)
                    and opened.snapshots == self.snapshots)
        self.path, self.run, self.snapshots = opened.path, opened.run, opened.snapshots
        # What the task stored is now read back: the file's curves replace the ones it sent.
        self.stored = stored_interpolations(opened.artefacts_of(INTERPOLATION_ARTEFACT))
        self._live = {}
        spec = opened.run.spec
        self._batchnorm = None if spec is None else has_batchnorm_trait(spec.model.name)
        self._fill_header(opened.run)
        self._fill_object_hints()
        if not same_run:
            # A run read again after an interpolation keeps the user's choices and the task's last words.
            self.last_status, self._outcome = "", None
            self._fill_combos()
            # The paper's figure where the run has earlier snapshots; otherwise the pair of combos.
            mode = MODE_FINAL if pairs_against_final(self.snapshots) else MODE_PAIR
            self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))
            self.task_panel.reset()
        self._redraw()
        self._enable_inputs()

    # ------------------------------------------------------------ filling

    def _fill_header(self, run: RunData) -> None:
        s = run.summary
        self.title_label.setText(f"Interpolation · {html.escape(s.name)} "
                                 f"<span style='font-weight:normal'>[{html.escape(s.status)}]</span>")
        members = len({snap.member for snap in self.snapshots})
        bn = {True: "BatchNorm statistics recomputed at every λ", False: "no BatchNorm",
              None: "BatchNorm unknown"}[self._batchnorm]
        parts = [("method", s.method), ("model", s.model), ("dataset", s.dataset),
                 ("snapshots", f"{len(self.snapshots)} of {members} member" + ("s" if members != 1 else ""))]
        text = " &nbsp;·&nbsp; ".join(f"{k}: <b>{html.escape(v or '–')}</b>" for k, v in parts)
        text += f" &nbsp;·&nbsp; {bn}"
        text += (f"<br><span style='color:{PATH_COLOR}'>θ(λ) = (1 − λ)·θ<sub>a</sub> + λ·θ<sub>b</sub>; "
                 f"stored in {html.escape(str(run.path))} under /{INTERPOLATION}</span>")
        self.details_label.setText(text)

    def _split_objects(self) -> tuple[int, int] | None:
        """Objects in the run's training and test splits, from its spec (None when the spec does not build)."""
        spec = self.run.spec if self.run is not None else None
        if spec is None:
            return None
        try:
            info = DATASETS.get(spec.data.name).factory.info
            train = effective_sizes(info, spec.data.params)[0]
        except EnsguiError:
            return None
        return train, int(spec.data.params["test_size"] or info.test_total)

    def _fill_object_hints(self) -> None:
        available = self._split_objects()
        for spin, hint, index in ((self.train_spin, self.train_hint, 0), (self.test_spin, self.test_hint, 1)):
            if available is None:
                hint.setText("")
            elif spin.value() >= available[index]:
                hint.setText(f"uses all {available[index]} in the run")
            else:
                hint.setText(f"of {available[index]} in the run")

    def _fill_combos(self) -> None:
        for combo in (self.a_combo, self.b_combo):
            combo.blockSignals(True)
            combo.clear()
            for snap in self.snapshots:
                combo.addItem(snapshot_text(snap), snapshot_key(snap.member, snap.index))
            combo.blockSignals(False)
        if self.snapshots:
            # Earliest against latest: across a trajectory that is the widest pair, across members the first two.
            self.a_combo.setCurrentIndex(0)
            self.b_combo.setCurrentIndex(len(self.snapshots) - 1)

    def _combo_snapshot(self, combo: QComboBox) -> SnapshotInfo | None:
        key = combo.currentData()
        for snap in self.snapshots:
            if snapshot_key(snap.member, snap.index) == key:
                return snap
        return None

    def _why_not_computable(self) -> str:
        if self.run is None:
            return "Open a run first."
        status = self.run.summary.status
        if status not in ENDED:
            return (f"This run is {status}: interpolations are computed once a run has ended "
                    f"(finished or cancelled).")
        if not self.snapshots:
            return "This run stored no snapshots, so there is nothing to interpolate."
        if self.run.spec is None:
            return "This run's spec no longer builds in this ensgui, so its model and data are unknown."
        if self.mode() == MODE_FINAL and not pairs_against_final(self.snapshots):
            return ("Every member of this run has a single snapshot, so none has an earlier one: "
                    "choose “two snapshots” and pick a and b (e.g. two members).")
        if self.mode() == MODE_PAIR and not self.selected_pairs():
            return "a and b are the same snapshot: pick two different ones."
        return ""

    def _enable_inputs(self) -> None:
        busy = self.is_computing()
        loaded = self.run is not None
        pair_mode = self.mode() == MODE_PAIR
        self.mode_combo.setEnabled(loaded and not busy)
        self.a_combo.setEnabled(loaded and pair_mode and not busy)
        self.b_combo.setEnabled(loaded and pair_mode and not busy)
        self.points_spin.setEnabled(not busy)
        self.train_spin.setEnabled(not busy)
        self.test_spin.setEnabled(not busy)
        why = self._why_not_computable() if loaded else "Open a run first."
        self.compute_button.setEnabled(not busy and not why and not self._reading)
        self.compute_button.setToolTip(why or ("The run file is being read…" if self._reading else
                                               "Interpolate the selected pairs and store them in the run file"))
        if not busy and loaded:
            self._show_idle_note(why)

    def _show_idle_note(self, why: str) -> None:
        if why:
            self._show_note(why, error=False)
            return
        pairs = self.selected_pairs()
        if self.mode() == MODE_FINAL:
            text = (f"{len(pairs)} pair" + ("s" if len(pairs) != 1 else "") +
                    ": each member's final snapshot (λ = 1) against each of its earlier snapshots (λ = 0).")
        else:
            a, b = pairs[0]
            text = (f"One pair: {snapshot_name(a.member, a.index)} (λ = 0) → "
                    f"{snapshot_name(b.member, b.index)} (λ = 1).")
        if self.last_status and self.last_status != "running":
            text = f"{self._outcome_text()} {text}"
        self._show_note(text, error=self.last_status == "failed")

    def _show_note(self, text: str, error: bool = False) -> None:
        self.note_label.setStyleSheet(ERROR_STYLE if error else HINT_STYLE)
        self.note_label.setText(text)

    # ------------------------------------------------------------ background work

    @Slot()
    def _drain(self) -> None:
        progress: Progress | None = None
        stored: dict[str, Artefact] = {}
        for item in self._mailbox.drain():
            if isinstance(item, Progress):
                progress = item  # only the latest is shown
            elif isinstance(item, Artefact):
                stored[item.name] = item
            elif isinstance(item, _Outcome):
                self._outcome = (item.status, item.message)
        if progress is not None:
            self.task_panel.show_progress(progress)
        if stored:
            self._live.update(stored_interpolations(stored))
            self._redraw()

    @Slot()
    def _finished(self) -> None:
        status, message = self._outcome or ("failed", "the worker ended without a result")
        self.last_status = status
        self._outcome = (status, message)
        self.task_panel.finish(status, time.monotonic() - self._started)
        self._enable_inputs()
        if status == "failed":
            self._show_note(self._outcome_text(), error=True)
        self.computation_finished.emit(status, message)
        document = self.context.document
        if (not self._reading and self._job is not None and document.path is not None
                and same_file(document.path, self._job.path)):
            # The task stored pairs in the open run: the document reads it again (in its worker, not here), unless
            # it is about to read it anyway.
            document.reload()

    def _outcome_text(self) -> str:
        status, message = self._outcome or ("", "")
        job = self._job
        pairs = len(job.pairs) if job is not None else 0
        if status == "finished":
            return f"Done: {message} in the run file."
        if status == "cancelled":
            shown = self._shown()
            kept = sum(1 for a, b in (job.pairs if job else []) if pair_label(a, b) in shown)
            return f"Cancelled: {kept} of {pairs} pair(s) had finished and are stored."
        if status == "failed":
            return f"Interpolation failed: {message}"
        return ""

    # ------------------------------------------------------------ drawing

    def _shown(self) -> dict[str, StoredInterpolation]:
        shown = dict(self.stored)
        for label, item in self._live.items():
            shown.pop(label, None)  # a recomputed pair moves to the end, as it will in the file
            shown[label] = item
        return shown

    def _redraw(self) -> None:
        shown = self._shown()
        members = {s.member for s in self.snapshots}
        per_member = {m: sum(1 for s in self.snapshots if s.member == m) for m in members}
        single_member = members <= {0}
        one_per_member = bool(per_member) and max(per_member.values()) == 1
        self._curves = {}
        for key, plot in self.plots.items():
            item = plot.getPlotItem()
            item.clear()
            if item.legend is not None:
                item.legend.clear()
        for i, (label, (result, attrs)) in enumerate(shown.items()):
            color = member_color(i, len(shown))
            name = legend_name(label, attrs, single_member, one_per_member)
            curves: dict[str, pg.PlotDataItem] = {}
            for key, plot in self.plots.items():
                curve = pg.PlotDataItem(np.asarray(result.lambdas, dtype=np.float64),
                                        np.asarray(getattr(result, key), dtype=np.float64),
                                        pen=pg.mkPen(color, width=2), symbol="o", symbolSize=4, symbolPen=None,
                                        symbolBrush=color, name=name)
                plot.getPlotItem().addItem(curve)
                curves[key] = curve
            self._curves[label] = curves
        for plot in self.plots.values():
            plot.getPlotItem().setXRange(0.0, 1.0, padding=0.03)
            plot.getPlotItem().enableAutoRange(axis="y")
        for actions in self.export_actions.values():
            for action in actions:
                action.setEnabled(bool(shown))

    def _file_stem(self, key: str) -> str:
        name = self.path.stem if self.path is not None else "run"
        return f"{name}-interpolation-{key.replace('_', '-')}"


__all__ = ["InterpolationView", "MODE_FINAL", "MODE_PAIR", "legend_name", "snapshot_key",
           "snapshot_text"]
