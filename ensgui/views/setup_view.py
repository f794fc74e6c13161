"""The Setup screen: the experiment's forms built from the registries, single run or gap sweep, a preview and Start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.data import DATASETS, effective_sizes
from ..engine.errors import SpecError
from ..engine.methods import method_for, plan_for
from ..engine.plan import Plan
from ..engine.spec import BUDGET_SCHEMA, EVALUATION_SCHEMA, SECTIONS, TOP_SCHEMA, Spec
from ..engine.sweep import EXAMPLE, GapValue, parse_gap_values
from ..engine.width import DEFAULT_WIDTH_OBJECTS
from ..resources import MENU_GROUPS, PRESETS, Preset, presets
from .schedule_preview import SchedulePreviewPlot
from .schema_form import INVALID_STYLE, MESSAGE_STYLE, align_labels
from .screens import AppContext, FillWhenShown, register_screen
from .section_editor import SectionEditor
from .theme import ERROR_STYLE

DEBOUNCE_MS = 150
TOP = "spec"  # the prefix SpecError messages give the top-level fields (name, seed, device)
TITLES = {TOP: "Experiment", "data": "Data", "model": "Model", "loss": "Loss", "method": "Method",
          "optimizer": "Optimiser", "schedule": "Schedule", "budget": "Budget", "evaluation": "Evaluation"}
# The two form columns. What an ensemble user decides first (the method and its members, the budget, the data) heads
# the first column, so it is on screen without scrolling down to 1280x720; what is tuned less often follows.
FORM_COLUMNS = ((TOP, "method", "budget", "data"), ("model", "optimizer", "schedule", "loss", "evaluation"))
# Messages from cross-field checks start with the field they blame: "data.train_size = 70000 is invalid: ...".
FIELD_IN_MESSAGE = re.compile(r"^\[?([A-Za-z_]\w*)\]?\.([A-Za-z_]\w*)\b")
# Any "section.field" a message mentions; in the window it reads as the form's own words ("Data › validation size").
FIELD_ANYWHERE = re.compile(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b")
# Style sheets do not pass fonts on to children, so only the group titles turn bold. A stored run is
# shown with disabled editors; darker disabled text keeps its values readable (a palette would not
# reach editors under a style sheet).
GROUP_STYLE = """
QGroupBox { font-weight: bold; }
QLineEdit:disabled, QSpinBox:disabled, QComboBox:disabled { color: #505050; }
"""
BANNER_STYLE = "QFrame#banner { background: #fff4d6; border: 1px solid #e0b84a; border-radius: 3px; }"
START_STYLE = """
QPushButton { background: #2e7d32; color: white; border: none; border-radius: 4px; padding: 8px; }
QPushButton:hover { background: #388e3c; }
QPushButton:pressed { background: #1b5e20; }
QPushButton:disabled { background: #b0bec5; color: #eceff1; }
"""
SINGLE, SWEEP = "single", "gap_sweep"
EXPERIMENTS = ((SINGLE, "single run"), (SWEEP, "gap sweep"))
MAX_WIDTH_OBJECTS = 1_000_000
SUMMARY_ROWS = (
    ("members", "members"),
    ("iters_per_epoch", "iterations per epoch"),
    ("total_iters", "total iterations"),
    ("snapshots", "snapshots per member"),
    ("rows", "ensemble rows"),
    ("train", "training objects"),
    ("val", "validation objects"),
)


def gaps_hint(gaps: tuple[GapValue, ...]) -> str:
    """What a gap list will train, e.g. "3 runs of the spec, one per gap; gap 0 first: its mean margin is 'mean'"."""
    mean = any(isinstance(g, str) for g in gaps)
    runs = len(gaps) + (1 if mean and 0.0 not in gaps else 0)
    text = f"{runs} run{'s' if runs != 1 else ''} of the spec with the gap loss, one per gap"
    if mean:
        text += "; gap 0 first (added if missing): its mean training margin is the gap 'mean'"
    return text


class ExperimentChoice(QGroupBox):
    """Single run or gap sweep; for a sweep the gap list (checked as typed, marked at the field) and width objects."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Experiment type", parent)
        self.setStyleSheet(GROUP_STYLE)
        self._error = ""
        self.kind_combo = QComboBox(self)
        self.kind_combo.setObjectName("setup.experiment")
        for key, text in EXPERIMENTS:
            self.kind_combo.addItem(text, key)
        self.kind_combo.setToolTip("Single run: train the spec once.\nGap sweep: train it once per gap with the gap "
                                   "loss CE(l - m e_y, y), then measure accuracy, ROC-AUC and the width of each net")
        self.gaps_edit = QLineEdit(EXAMPLE, self)
        self.gaps_edit.setObjectName("setup.gaps")
        self.gaps_edit.setToolTip("Gaps m >= 0, separated by commas; the word 'mean' is the mean training margin "
                                  "of the gap-0 point (trained first, added if missing)")
        self.gaps_message = QLabel(self)
        self.gaps_message.setObjectName("setup.gaps.message")
        self.gaps_message.setWordWrap(True)
        self.gaps_message.setStyleSheet(MESSAGE_STYLE)
        self.gaps_message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.gaps_message.hide()
        self.gaps_hint = QLabel(self)
        self.gaps_hint.setObjectName("setup.gaps.hint")
        self.gaps_hint.setWordWrap(True)
        self.gaps_hint.setStyleSheet("color: #555; font-size: 11px;")
        self.gaps_row = gaps = QWidget(self)
        gaps_column = QVBoxLayout(gaps)
        gaps_column.setContentsMargins(0, 0, 0, 0)
        gaps_column.setSpacing(1)
        gaps_column.addWidget(self.gaps_edit)
        gaps_column.addWidget(self.gaps_message)
        gaps_column.addWidget(self.gaps_hint)
        self.width_spin = QSpinBox(self)
        self.width_spin.setObjectName("setup.width_objects")
        self.width_spin.setRange(1, MAX_WIDTH_OBJECTS)
        self.width_spin.setSingleStep(500)
        self.width_spin.setValue(DEFAULT_WIDTH_OBJECTS)
        self.width_spin.setToolTip("Training objects the Hessian and Fisher traces are measured on (the first ones "
                                   "of the shuffled training split; 2000 is the usual choice)")
        self.form = QFormLayout(self)
        self.form.setContentsMargins(10, 6, 10, 8)
        self.form.setVerticalSpacing(3)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.addRow("experiment", self.kind_combo)
        self.form.addRow("gaps", gaps)
        self.form.addRow("width objects", self.width_spin)
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self.gaps_edit.textChanged.connect(self._gaps_edited)
        self.width_spin.valueChanged.connect(lambda _: self.changed.emit())
        self._kind_changed()

    def is_sweep(self) -> bool:
        return self.kind_combo.currentData() == SWEEP

    def set_sweep(self, sweep: bool) -> None:
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(SWEEP if sweep else SINGLE))

    def gaps(self) -> tuple[GapValue, ...]:
        """The gap list typed; raises SpecError naming the bad entry."""
        return parse_gap_values(self.gaps_edit.text())

    def width_objects(self) -> int:
        return self.width_spin.value()

    def error(self) -> str:
        """Why the gap list cannot be used, or "" (also "" in single-run mode, where it is not used)."""
        return self._error if self.is_sweep() else ""

    def _kind_changed(self, *_: object) -> None:
        sweep = self.is_sweep()
        for row in (self.gaps_row, self.width_spin):
            self.form.setRowVisible(row, sweep)
        self._gaps_edited()

    def _gaps_edited(self, *_: object) -> None:
        try:
            gaps = self.gaps()
            self._error = ""
            self.gaps_hint.setText(gaps_hint(gaps))
        except SpecError as exc:
            self._error = str(exc)
            self.gaps_hint.setText("")
        shown = self.error()
        self.gaps_hint.setVisible(not shown)
        self.gaps_message.setText(shown)
        self.gaps_message.setVisible(bool(shown))
        self.gaps_edit.setStyleSheet(f"QLineEdit {{ {INVALID_STYLE} }}" if shown else "")
        self.changed.emit()

    def set_read_only(self, read_only: bool) -> None:
        for widget in (self.kind_combo, self.gaps_edit, self.width_spin):
            widget.setEnabled(not read_only)


@register_screen("setup", "Setup", order=10)
class SetupView(QWidget):
    """Compose an experiment: forms for every spec section, single run or gap sweep, a live plan preview and Start.

    In a window (context given) Start asks the window to run the spec; on its own it only emits the requests.
    """

    start_requested = Signal(object)  # a valid Spec
    sweep_requested = Signal(object, object, int)  # a valid Spec, its gap list, the width objects

    def __init__(self, context: AppContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if context is not None:
            self.start_requested.connect(context.actions.start_run)
            self.sweep_requested.connect(context.actions.start_sweep)
        self._stored: tuple[Spec, Path] | None = None  # a stored run's spec waiting for Setup to be shown
        self._stored_filler = FillWhenShown(self, self._show_stored)
        self._read_only = False
        self._modified = False  # edits since the forms were last filled, saved or started
        self._filling = False
        self._last_folder = str(PRESETS)
        self._valid_spec: Spec | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.refresh)

        self.editors: dict[str, SectionEditor] = {
            TOP: SectionEditor(TOP, schema=TOP_SCHEMA),
            **{section: SectionEditor(section) for section in SECTIONS},
            "budget": SectionEditor("budget", schema=BUDGET_SCHEMA),
            "evaluation": SectionEditor("evaluation", schema=EVALUATION_SCHEMA),
        }
        for editor in self.editors.values():
            editor.changed.connect(self._fields_changed)
            editor.changed.connect(self._edited)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(self._build_toolbar())
        layout.addWidget(self._build_banner())
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_forms())
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([800, 460])  # at 1280 wide the longest entry title (FGE) fits its combo
        layout.addWidget(splitter, 1)
        align_labels(self.scroll.widget())
        for editor in self.editors.values():
            # A newly chosen entry brings its own form; its labels join the common label column.
            editor.form_added.connect(lambda: align_labels(self.scroll.widget()))
        self.refresh()

    # ------------------------------------------------------------ layout

    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        self.presets_button = QToolButton(self)
        self.presets_button.setText("Presets ▾")
        # The arrow is part of the text; Qt's own indicator squeezes into the label at small sizes.
        self.presets_button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.presets_button.setToolTip("Load one of the shipped experiments")
        self.presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.presets_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.presets_menu = self._build_presets_menu()
        self.presets_button.setMenu(self.presets_menu)
        self.load_button = QPushButton("Load TOML…", self)
        self.load_button.setToolTip("Read an experiment from a TOML spec file")
        self.load_button.clicked.connect(self._load_clicked)
        self.save_button = QPushButton("Save TOML…", self)
        self.save_button.setToolTip("Write this experiment to a TOML spec file")
        self.save_button.clicked.connect(self.save_dialog)
        for widget in (self.presets_button, self.load_button, self.save_button):
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def _build_presets_menu(self) -> QMenu:
        """The default experiment, then full experiments and quick checks, each in sections by method family."""
        menu = QMenu(self.presets_button)
        menu.setToolTipsVisible(True)
        shipped = presets()
        for preset in shipped:
            if not preset.group:
                menu.addAction(self._preset_action(preset, menu))
        for quick, title in ((False, "Full experiments"), (True, "Quick checks (seconds)")):
            sub = menu.addMenu(title)
            sub.setToolTipsVisible(True)
            for group, heading in MENU_GROUPS.items():
                members = [p for p in shipped if p.group == group and p.quick == quick]
                if members:
                    sub.addSection(heading)
                for preset in members:
                    sub.addAction(self._preset_action(preset, sub))
        return menu

    def _preset_action(self, preset: Preset, menu: QMenu) -> QAction:
        action = QAction(preset.title, menu)
        action.setStatusTip(preset.description)
        action.setToolTip(preset.description)
        action.setData(str(preset.path))
        action.triggered.connect(lambda _=False, p=preset.path: self.load_path(p))
        return action

    def _build_banner(self) -> QFrame:
        self.banner = QFrame(self)
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner_label = QLabel(self.banner)
        self.edit_button = QPushButton("Edit as new experiment", self.banner)
        self.edit_button.setToolTip("Make the forms editable; starting then creates a new run")
        self.edit_button.clicked.connect(lambda: self.set_read_only(False))
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.banner_label, 1)
        row.addWidget(self.edit_button)
        self.banner.hide()
        return self.banner

    def _build_forms(self) -> QScrollArea:
        self.group_boxes: dict[str, QGroupBox] = {}
        content = QWidget()
        columns = QHBoxLayout(content)
        columns.setContentsMargins(0, 0, 4, 0)
        columns.setSpacing(8)
        assert sorted(sum(FORM_COLUMNS, ())) == sorted(self.editors), "every section belongs to one column"
        for chunk in FORM_COLUMNS:
            column = QVBoxLayout()
            column.setSpacing(8)
            for section in chunk:
                box = QGroupBox(TITLES.get(section, section.capitalize()), content)
                box.setStyleSheet(GROUP_STYLE)
                inner = QVBoxLayout(box)
                inner.setContentsMargins(8, 6, 8, 8)
                inner.addWidget(self.editors[section])
                column.addWidget(box)
                self.group_boxes[section] = box
            column.addStretch(1)
            columns.addLayout(column, 1)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(content)
        self.scroll.setMinimumWidth(520)
        return self.scroll

    def _build_side(self) -> QWidget:
        side = QWidget(self)
        column = QVBoxLayout(side)
        column.setContentsMargins(4, 0, 0, 0)
        column.setSpacing(8)
        self.experiment = ExperimentChoice(side)
        self.experiment.changed.connect(self._experiment_changed)
        self.experiment.changed.connect(self._edited)
        column.addWidget(self.experiment)
        self.preview = SchedulePreviewPlot(side)
        column.addWidget(self.preview, 1)
        summary = QGroupBox("Summary", side)
        summary.setStyleSheet(GROUP_STYLE)
        form = QFormLayout(summary)
        form.setContentsMargins(10, 6, 10, 8)
        form.setVerticalSpacing(3)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.summary_labels: dict[str, QLabel] = {}
        for key, title in SUMMARY_ROWS:
            value = QLabel("–", summary)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(title, value)
            self.summary_labels[key] = value
        column.addWidget(summary)
        self.error_label = QLabel(side)
        self.error_label.setObjectName("setup.error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
        self.error_label.hide()
        column.addWidget(self.error_label)
        self.start_button = QPushButton("Start", side)
        self.start_button.setToolTip("Train this experiment (Ctrl+R)")
        font = QFont(self.start_button.font())
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.start_button.setFont(font)
        self.start_button.setMinimumHeight(48)
        self.start_button.setStyleSheet(START_STYLE)
        self.start_button.clicked.connect(self.request_start)
        column.addWidget(self.start_button)
        return side

    # ------------------------------------------------------------ the spec

    def set_spec(self, spec: Spec) -> None:
        """Fill every form from a spec and preview its plan at once (a stored run's spec still waiting is dropped).

        The forms then hold no unsaved edits: whatever replaced them has asked first (confirm_replace)."""
        self._stored = None
        values = spec.to_dict()
        self._filling = True
        try:
            self.editors[TOP].set_values({p.name: values[p.name] for p in TOP_SCHEMA})
            for section, editor in self.editors.items():
                if section != TOP:
                    editor.set_values(values[section])
        finally:
            self._filling = False
        self._modified = False
        self.refresh()

    def _edited(self) -> None:
        if not self._filling and not self._read_only:
            self._modified = True

    def is_modified(self) -> bool:
        """Whether the forms hold edits that are neither saved to a file nor started as a run."""
        return self._modified

    def confirm_replace(self, what: str) -> bool:
        """Before the forms are replaced (by what): ask to save, discard or keep unsaved edits; True to go on."""
        if not self._modified:
            return True
        answer = QMessageBox.question(
            self, "Unsaved experiment",
            f"The experiment on Setup has changes that are not saved. Save them before {what}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_dialog()
        return answer == QMessageBox.StandardButton.Discard

    def values(self) -> dict[str, Any]:
        """The forms as a spec dict, unchecked."""
        values = dict(self.editors[TOP].values())
        for section, editor in self.editors.items():
            if section != TOP:
                values[section] = editor.values()
        return values

    def spec(self) -> Spec:
        """The spec the forms describe; raises SpecError naming the first bad field."""
        return Spec.from_dict(self.values())

    def refresh(self) -> Spec | None:
        """Check the whole spec, mark what is wrong, and update the preview and summary; the spec or None."""
        self._timer.stop()
        for editor in self.editors.values():
            editor.clear_external_marks()
        try:
            spec = self.spec()
            plan = plan_for(spec)
            self._show_summary(spec, plan)
            self._show_schedule_use(spec)
        except SpecError as exc:
            self._show_problem(str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - a faulty registry entry must become a message, not a crash
            self._show_problem(f"cannot plan this experiment: {type(exc).__name__}: {exc}")
            return None
        self._valid_spec = spec
        self.error_label.hide()
        self.preview.show_plan(plan)
        self._update_start()
        return spec

    def _fields_changed(self) -> None:
        # Field-level marks are immediate; the whole-spec check, preview and summary wait for typing to pause.
        self._valid_spec = None
        self._timer.start()
        self._update_start()

    def _show_problem(self, message: str) -> None:
        self._valid_spec = None
        where = self._mark(message)
        if where:
            self.error_label.setText(f"Fix the marked field: {where}.")
            self.error_label.setToolTip(self.readable(message))
        else:
            self.error_label.setText(self.readable(message))
            self.error_label.setToolTip("")
        self.error_label.show()
        self.preview.show_problem("no preview until the experiment is valid")
        for label in self.summary_labels.values():
            label.setText("–")
        self._update_start()

    def _mark(self, message: str) -> str:
        """Mark the field a message names; its title ("Data › training subset") or "" if none matches."""
        match = FIELD_IN_MESSAGE.match(message)
        if not match:
            return ""
        section, field = match.groups()
        editor = self.editors.get(section)
        if editor is None or not editor.mark(field, self.readable(message)):
            return ""
        return self._field_title(section, field) or field

    def _field_title(self, section: str, field: str) -> str:
        """"Data › validation size" for ("data", "val_size"), or "" when the form has no such field."""
        editor = self.editors.get(section)
        if editor is None:
            return ""
        title = next((p.title for p in editor.form().schema if p.name == field), None)
        return f"{TITLES.get(section, section)} › {title}" if title else ""

    def readable(self, message: str) -> str:
        """A spec message in the form's words: spec keys such as data.val_size become the fields' titles."""
        return FIELD_ANYWHERE.sub(lambda m: self._field_title(*m.groups()) or m.group(0), message)

    def _show_schedule_use(self, spec: Spec) -> None:
        """Grey out the Schedule section when the method brings its own learning-rate formula."""
        used = method_for(spec).uses_schedule()
        box = self.group_boxes.get("schedule")
        if box is None:
            return
        title = TITLES.get("schedule", "Schedule")
        box.setTitle(title if used else f"{title} (not used: {spec.method.name} sets its own learning rate)")
        self.editors["schedule"].setEnabled(used)

    def _show_summary(self, spec: Spec, plan: Plan) -> None:
        train, val = effective_sizes(DATASETS.get(spec.data.name).factory.info, spec.data.params)
        texts = {
            "members": f"{plan.members:,}",
            "iters_per_epoch": f"{plan.iters_per_epoch:,}",
            "total_iters": f"{plan.total_iters:,} per member ({plan.epochs} epochs)",
            "snapshots": f"{len(plan.snapshots):,}",
            "rows": f"{plan.rows:,}",
            "train": f"{train:,}",
            "val": f"{val:,}",
        }
        for key, text in texts.items():
            self.summary_labels[key].setText(text)

    def _update_start(self) -> None:
        own_errors = any(editor.has_own_errors() for editor in self.editors.values()) or bool(self.experiment.error())
        pending = self._timer.isActive()
        self.start_button.setEnabled(not self._read_only and not own_errors
                                     and (pending or self._valid_spec is not None))

    def _experiment_changed(self) -> None:
        sweep = self.experiment.is_sweep()
        self.start_button.setText("Start gap sweep" if sweep else "Start")
        self.start_button.setToolTip("Train the spec once per gap, then measure each net (Ctrl+R)" if sweep
                                     else "Train this experiment (Ctrl+R)")
        self._update_start()

    # ------------------------------------------------------------ actions

    def request_start(self) -> None:
        """Emit start_requested with the spec if it is valid; otherwise show the problem where it is."""
        if self._read_only:
            self.error_label.setText("This is a stored run: click “Edit as new experiment” to run it again.")
            self.error_label.show()
            return
        spec = self.refresh()
        if spec is None:
            self._reveal_first_mark()
            return
        if not self.experiment.is_sweep():
            self._modified = False  # the run file keeps the experiment
            self.start_requested.emit(spec)
            return
        try:
            gaps = self.experiment.gaps()
        except SpecError:
            self.experiment.gaps_edit.setFocus()  # the message is already shown under the field
            return
        self._modified = False
        self.sweep_requested.emit(spec, gaps, self.experiment.width_objects())

    def _reveal_first_mark(self) -> None:
        # Only on an explicit request: scrolling while the user types elsewhere would yank the form away.
        for editor in self.editors.values():
            for name in editor.errors():
                widget = editor.field_widget(name)
                if widget is not None:
                    self.scroll.ensureWidgetVisible(widget, 20, 20)
                    return

    def load_path(self, path: str | Path) -> bool:
        """Load a spec file into the forms (after asking about unsaved edits); a bad file becomes a message box.
        True when loaded."""
        try:
            spec = Spec.load(str(path))
        except SpecError as exc:
            QMessageBox.warning(self, "Cannot load the spec", f"{Path(path).name}: {exc}")
            return False
        return self.replace_spec(spec, f"loading {Path(path).name}")

    def replace_spec(self, spec: Spec, what: str) -> bool:
        """Fill the forms with another experiment, editable, once unsaved edits are saved or given up."""
        if not self.confirm_replace(what):
            return False
        self.set_read_only(False)
        self.set_spec(spec)
        return True

    def _load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a spec", self._last_folder,
                                              "TOML specs (*.toml);;All files (*)")
        if path:
            self._last_folder = str(Path(path).parent)
            self.load_path(path)

    def save_dialog(self) -> bool:
        """Ask for a file and write the experiment to it as TOML; True once saved."""
        spec = self.refresh()
        if spec is None:
            detail = self.error_label.toolTip() or self.error_label.text()
            QMessageBox.warning(self, "Cannot save the spec",
                                f"The experiment has an invalid value; fix it first.\n\n{detail}")
            return False
        suggested = str(Path(self._last_folder) / f"{spec.name}.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save the spec", suggested, "TOML specs (*.toml)")
        if not path:
            return False
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".toml")
        try:
            spec.save(str(target))
        except OSError as exc:
            QMessageBox.warning(self, "Cannot save the spec", f"cannot write {target}: {exc.strerror}")
            return False
        self._last_folder = str(target.parent)
        self._modified = False
        return True

    # ------------------------------------------------------------ stored runs

    def show_stored(self, spec: Spec, path: str | Path) -> None:
        """Show a stored run's spec read-only, with a banner offering to edit it as a new experiment.

        While another screen is in view this waits until Setup is shown: refilling every form and the plan
        preview would otherwise add to the drawing of the screen the user is looking at.
        """
        self._stored = (spec, Path(path))
        self._stored_filler.request()

    def _show_stored(self) -> None:
        if self._stored is None:
            return
        (spec, path), self._stored = self._stored, None
        self.set_spec(spec)
        self.set_read_only(True)
        self.banner_label.setText(f"Stored run <b>{path.name}</b> (read-only)")
        self.banner_label.setToolTip(str(path))
        self.banner.show()

    def set_read_only(self, read_only: bool) -> None:
        """Disable (or enable) every editor, loading and Start; leaving read-only hides the stored-run banner."""
        self._read_only = read_only
        for editor in self.editors.values():
            editor.set_read_only(read_only)
        self.experiment.set_read_only(read_only)
        self.presets_button.setEnabled(not read_only)
        self.load_button.setEnabled(not read_only)
        if not read_only:
            self.banner.hide()
            if self._valid_spec is not None:
                self.error_label.hide()
        self._update_start()

    def is_read_only(self) -> bool:
        return self._read_only
