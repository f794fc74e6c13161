"""The editor of one spec section: a registry entry picked in a combo box and its schema form, or a fixed schema."""

from __future__ import annotations

from typing import Any, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..engine.registry import Registry
from ..engine.schema import Schema
from ..engine.spec import registry_for
from .schema_form import FIELD_LABEL, SchemaForm, WheelSafeComboBox

HELP_STYLE = "color: #555; font-size: 11px;"


# The window writes British English ("Optimiser" is the group's title); spec keys keep PyTorch's spelling.
KIND_LABELS = {"optimizer": "optimiser"}


class SectionEditor(QWidget):
    """Edits one section of a spec.

    With a registry (data, model, method, optimizer, schedule) it lists the registry's entries and
    shows the form of the chosen one; with a fixed schema (budget, evaluation, the top level) it is
    just that schema's form. `where` is the prefix SpecError messages use for this section's fields.
    """

    changed = Signal()
    form_added = Signal()  # a newly chosen entry brought its form (screens re-align their label columns)

    def __init__(self, section: str, parent: QWidget | None = None, *, schema: Schema | None = None,
                 where: str | None = None) -> None:
        super().__init__(parent)
        self.section = section
        self.where = where or section
        self.registry: Registry[Any] | None = None if schema is not None else registry_for(section)
        self._forms: dict[str, SchemaForm] = {}
        self._read_only = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.combo: WheelSafeComboBox | None = None
        self.help_label: QLabel | None = None
        if self.registry is None:
            assert schema is not None
            self._fixed = SchemaForm(schema, self.where, self)
            self._fixed.changed.connect(self.changed)
            layout.addWidget(self._fixed)
        else:
            self.combo = WheelSafeComboBox(self)
            self.combo.setObjectName(f"{section}.name")
            self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            self.combo.setSizeAdjustPolicy(WheelSafeComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.combo.setMinimumContentsLength(14)
            self.help_label = QLabel(self)
            self.help_label.setWordWrap(True)
            self.help_label.setStyleSheet(HELP_STYLE)
            # The help label spans the form's width; its height follows the wrapped text.
            self.help_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Minimum)
            head = QFormLayout()
            head.setContentsMargins(0, 0, 0, 0)
            head.setHorizontalSpacing(10)
            head.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            head.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            kind = QLabel(KIND_LABELS.get(self.registry.kind, self.registry.kind), self)
            kind.setObjectName(FIELD_LABEL)
            kind.setBuddy(self.combo)
            head.addRow(kind, self.combo)
            layout.addLayout(head)
            layout.addWidget(self.help_label)
            self._forms_layout = QVBoxLayout()
            self._forms_layout.setContentsMargins(0, 0, 0, 0)
            layout.addLayout(self._forms_layout)
            self.sync_entries()
            self.combo.currentIndexChanged.connect(self._choice_changed)
            self._choice_changed()

    # ------------------------------------------------------------ entries

    def sync_entries(self) -> None:
        """List the registry's entries now, so an entry registered after construction appears too."""
        if self.combo is None or self.registry is None:
            return
        entries = list(self.registry)
        if [self.combo.itemData(i) for i in range(self.combo.count())] == [e.name for e in entries]:
            return
        current = self.combo.currentData()
        self.combo.blockSignals(True)
        self.combo.clear()
        for entry in entries:
            self.combo.addItem(entry.title, entry.name)
            self.combo.setItemData(self.combo.count() - 1, entry.help, Qt.ItemDataRole.ToolTipRole)
        index = self.combo.findData(current)
        self.combo.setCurrentIndex(index if index >= 0 else 0)
        self.combo.blockSignals(False)
        for name in [n for n in self._forms if n not in self.registry]:
            self._forms.pop(name).deleteLater()
        self._choice_changed()

    def choice(self) -> str | None:
        """The chosen entry's name (None for a fixed-schema section)."""
        return None if self.combo is None else self.combo.currentData()

    def set_choice(self, name: str) -> None:
        assert self.combo is not None
        self.sync_entries()
        index = self.combo.findData(name)
        if index >= 0:
            self.combo.setCurrentIndex(index)

    def _choice_changed(self, *_: Any) -> None:
        assert self.combo is not None and self.registry is not None and self.help_label is not None
        name = self.combo.currentData()
        if name is None:
            return
        entry = self.registry.get(name)
        self.help_label.setText(entry.help)
        self.help_label.setVisible(bool(entry.help))
        self.combo.setToolTip(entry.help)
        if name not in self._forms:
            # Forms are kept per entry, so switching away and back keeps what the user typed.
            form = SchemaForm(entry.schema, self.where, self)
            form.changed.connect(self.changed)
            form.set_read_only(self._read_only)
            self._forms[name] = form
            self._forms_layout.addWidget(form)
            self.form_added.emit()
        for other, form in self._forms.items():
            form.setVisible(other == name)
        self.changed.emit()

    # ------------------------------------------------------------ values

    def form(self) -> SchemaForm:
        """The form shown now: the chosen entry's, or the fixed schema's."""
        if self.combo is None:
            return self._fixed
        return self._forms[self.combo.currentData()]

    def values(self) -> dict[str, Any]:
        """The section as a spec table: {"name": entry, <params>} or the fixed schema's values."""
        values = self.form().values()
        name = self.choice()
        return values if name is None else {"name": name, **values}

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Select values["name"] (for registry sections) and fill its form."""
        values = dict(values)
        # "name" picks the registry entry; in a fixed schema (the top level) it is an ordinary field.
        if self.combo is not None and "name" in values:
            self.set_choice(str(values.pop("name")))
        self.form().set_values(values)

    def has_own_errors(self) -> bool:
        return self.form().has_own_errors()

    def errors(self) -> dict[str, str]:
        return self.form().errors()

    def mark(self, field: str, message: str) -> bool:
        """Show a cross-field problem at one of this section's fields; False if it has no such field."""
        if field == "name" and self.combo is not None:
            return False
        return self.form().mark(field, message)

    def clear_external_marks(self) -> None:
        self.form().clear_external_marks()

    def field_widget(self, field: str) -> QWidget | None:
        """The widget of a field (for scrolling it into view), or None."""
        form = self.form()
        return form.fields[field] if field in form.fields else None

    def set_read_only(self, read_only: bool) -> None:
        self._read_only = read_only
        if self.combo is not None:
            self.combo.setEnabled(not read_only)
            for form in self._forms.values():
                form.set_read_only(read_only)
        else:
            self._fixed.set_read_only(read_only)
