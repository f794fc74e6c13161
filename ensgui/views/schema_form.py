"""A form built from a registry schema: one editor per Param, each checked live and marked at the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import SpecError
from ..engine.schema import Param, Schema
from ..storage.workspace import default_workspace

# The spin box accepts any 32-bit integer so that an out-of-range value can be typed and then
# explained at the field; clamping silently would hide what is allowed.
INT_LIMIT = 2**31 - 1

FIELD_LABEL = "fieldLabel"  # object name of every row label, so a screen can align them across forms
FIELD_FRAME = "fieldFrame"
INVALID_RED = "#d32f2f"
INVALID_BACKGROUND = "#fff5f5"
INVALID_STYLE = f"border: 1px solid {INVALID_RED}; border-radius: 2px; background: {INVALID_BACKGROUND};"
# The object-name selector keeps the border on the frame itself, not on the editor inside it.
FRAME_STYLE = ("QFrame#" + FIELD_FRAME
               + " {{ border: 1px solid {border}; border-radius: 3px; background: {background}; }}")
MESSAGE_STYLE = "color: #c62828; font-size: 11px;"


def align_labels(root: QWidget) -> None:
    """Give every field label under root the width of the widest, so separate forms line up."""
    labels = root.findChildren(QLabel, FIELD_LABEL)
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def reason_of(message: str, param: Param | None = None) -> str:
    """The part of a SpecError message that says what is wrong, without the field and value it names."""
    marker = " is invalid: "
    reason = message.split(marker, 1)[1] if marker in message else message
    if param is not None and reason.endswith(f" ({param.help})"):
        # The help text is already the field's tooltip; repeating it under the field only adds noise.
        reason = reason[: -len(param.help) - 3]
    return reason


class WheelSafeSpinBox(QSpinBox):
    """A spin box that lets the wheel scroll the form unless the box has focus."""

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class WheelSafeComboBox(QComboBox):
    """A combo box that lets the wheel scroll the form unless the box has focus."""

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class FloatEdit(QLineEdit):
    """A line edit for floats that accepts scientific notation (5e-4) and shows the exact stored value."""

    def value(self) -> float | str:
        """The number typed, or the raw text when it is not a number (Param.check then explains why)."""
        text = self.text().strip()
        try:
            return float(text)
        except ValueError:
            return text

    def setValue(self, value: float) -> None:
        # repr is the shortest text that reads back to the same float, so set/get round-trips exactly.
        self.setText(repr(float(value)))


class ParamField(QWidget):
    """One parameter's editor with the red message shown under it while its value is invalid."""

    changed = Signal()

    def __init__(self, param: Param, where: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.where = where
        self._own_error = ""
        self._external_error = ""
        self.editor = self._make_editor(param)
        self.editor.setObjectName(f"{where}.{param.name}")
        tip = f"{param.help}\nAllowed: {param.allowed()}"
        self.editor.setToolTip(tip)
        self.message = QLabel(self)
        self.message.setObjectName(f"{where}.{param.name}.message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(MESSAGE_STYLE)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        # Spin boxes and combo boxes lose their native arrows under a style sheet, so the red border
        # of an invalid value is drawn by a frame around the editor; line edits take it directly.
        self.frame = QFrame(self)
        self.frame.setObjectName(FIELD_FRAME)
        self.frame.setStyleSheet(FRAME_STYLE.format(border="transparent", background="transparent"))
        inner = QHBoxLayout(self.frame)
        inner.setContentsMargins(1, 1, 1, 1)
        inner.addWidget(self.editor, 1)
        if param.run_file:
            self.browse = QToolButton(self.frame)
            self.browse.setObjectName(f"{where}.{param.name}.browse")
            self.browse.setText("Browse…")
            self.browse.setToolTip("pick a stored run file (.h5)")
            self.browse.clicked.connect(self._browse_run_file)
            inner.addWidget(self.browse)
        if isinstance(self.editor, QCheckBox):
            inner.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(self.frame)
        layout.addWidget(self.message)
        self.set_value(param.default)

    # ------------------------------------------------------------ editors

    def _make_editor(self, param: Param) -> QWidget:
        if param.choices is not None:
            combo = WheelSafeComboBox(self)
            combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            for choice in param.choices:
                combo.addItem(str(choice), choice)
            combo.currentIndexChanged.connect(self._edited)
            return combo
        if param.kind is bool:
            box = QCheckBox(self)
            box.toggled.connect(self._edited)
            return box
        if param.kind is int:
            spin = WheelSafeSpinBox(self)
            spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            spin.setRange(-INT_LIMIT - 1, INT_LIMIT)
            spin.setAccelerated(True)
            spin.setMinimumWidth(90)
            spin.valueChanged.connect(self._edited)
            # An emptied or half-typed box keeps its last value; textChanged catches that state too.
            spin.lineEdit().textChanged.connect(self._edited)
            return spin
        if param.kind is float:
            edit = FloatEdit(self)
            edit.setPlaceholderText("e.g. 0.05 or 5e-4")
            edit.textChanged.connect(self._edited)
            return edit
        line = QLineEdit(self)
        line.textChanged.connect(self._edited)
        return line

    def _browse_run_file(self) -> None:
        assert isinstance(self.editor, QLineEdit)
        current = self.editor.text().strip()
        start = str(Path(current).parent) if current else str(default_workspace())
        path, _ = QFileDialog.getOpenFileName(self, f"Choose the run for {self.param.title}", start,
                                              "Run files (*.h5)")
        if path:
            self.editor.setText(path)

    def raw_value(self) -> Any:
        """What the editor holds, converted to the field's type where the text allows it."""
        editor = self.editor
        if isinstance(editor, QComboBox):
            return editor.currentData()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QSpinBox):
            return editor.value() if editor.hasAcceptableInput() else editor.text().strip()
        if isinstance(editor, FloatEdit):
            return editor.value()
        assert isinstance(editor, QLineEdit)
        return editor.text()

    def set_value(self, value: Any) -> None:
        editor = self.editor
        if isinstance(editor, QComboBox):
            index = editor.findData(value)
            editor.setCurrentIndex(max(index, 0))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QSpinBox):
            editor.setValue(int(value))
        elif isinstance(editor, FloatEdit):
            editor.setValue(float(value))
        else:
            assert isinstance(editor, QLineEdit)
            editor.setText(str(value))
        self._edited()

    # ------------------------------------------------------------ validation

    def _edited(self, *_: Any) -> None:
        # A mark set from a cross-field check described the old value; the next full check decides anew.
        self._external_error = ""
        self.validate()
        self.changed.emit()

    def validate(self) -> bool:
        """Check the value with Param.check and update the mark; True when valid."""
        try:
            self.param.check(self.raw_value(), self.where)
            self._own_error = ""
        except SpecError as exc:
            self._own_error = reason_of(str(exc), self.param)
        self._show_mark()
        return not self._own_error

    def set_external_error(self, message: str) -> None:
        """Mark the field with a problem found by a check that involves other fields."""
        self._external_error = reason_of(message, self.param) if message else ""
        self._show_mark()

    def error(self) -> str:
        """The reason shown under the field, or an empty string when the field is fine."""
        return self._own_error or self._external_error

    def _show_mark(self) -> None:
        error = self.error()
        self.message.setText(error)
        self.message.setToolTip(error)
        self.message.setVisible(bool(error))
        self.editor.setProperty("invalid", bool(error))
        if type(self.editor) in (QLineEdit, FloatEdit):
            _restyle(self.editor, f"QLineEdit {{ {INVALID_STYLE} }}" if error else "")
        else:
            _restyle(self.frame, FRAME_STYLE.format(border=INVALID_RED if error else "transparent",
                                                    background=INVALID_BACKGROUND if error else "transparent"))

    def is_marked(self) -> bool:
        """Whether the red border is shown (at the line edit itself or at the frame around the editor)."""
        return INVALID_RED in self.editor.styleSheet() + self.frame.styleSheet()


def _restyle(widget: QWidget, style: str) -> None:
    # Setting a style sheet re-polishes the widget (a fraction of a millisecond each, for dozens of fields on
    # every spec shown): only a change is applied.
    if widget.styleSheet() != style:
        widget.setStyleSheet(style)


class SchemaForm(QWidget):
    """Editors for every Param of a schema, laid out as label and field rows."""

    changed = Signal()

    def __init__(self, schema: Schema, where: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.schema = tuple(schema)
        self.where = where
        self.fields: dict[str, ParamField] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(10)
        layout.setVerticalSpacing(3)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        for param in self.schema:
            field = ParamField(param, where, self)
            field.changed.connect(self.changed)
            label = QLabel(param.title, self)
            label.setObjectName(FIELD_LABEL)
            label.setToolTip(field.editor.toolTip())
            label.setBuddy(field.editor)
            layout.addRow(label, field)
            self.fields[param.name] = field
        if not self.schema:
            empty = QLabel("no parameters", self)
            empty.setStyleSheet("color: #777; font-style: italic;")
            layout.addRow(empty)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def values(self) -> dict[str, Any]:
        """Every field's current value, unchecked (Spec.from_dict checks it and names the field)."""
        return {name: field.raw_value() for name, field in self.fields.items()}

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Fill the fields named in values; the others keep their current value."""
        for name, value in values.items():
            if name in self.fields:
                self.fields[name].set_value(value)

    def editor(self, name: str) -> QWidget:
        return self.fields[name].editor

    def validate(self) -> bool:
        return all([field.validate() for field in self.fields.values()])

    def errors(self) -> dict[str, str]:
        """Reasons of the fields that are marked invalid now."""
        return {name: field.error() for name, field in self.fields.items() if field.error()}

    def has_own_errors(self) -> bool:
        """Whether a field fails its own schema check (cross-field marks not counted)."""
        return any(field._own_error for field in self.fields.values())

    def mark(self, name: str, message: str) -> bool:
        """Show a cross-field problem at the named field; False when there is no such field."""
        if name not in self.fields:
            return False
        self.fields[name].set_external_error(message)
        return True

    def clear_external_marks(self) -> None:
        for field in self.fields.values():
            field.set_external_error("")

    def set_read_only(self, read_only: bool) -> None:
        for field in self.fields.values():
            field.editor.setEnabled(not read_only)
