"""The Setup screen: forms from the registries, live validation at the field, preview, presets and TOML files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QLineEdit, QMessageBox, QSpinBox, QWidget

from ensgui.engine.methods import plan_for
from ensgui.engine.schedules import SCHEDULES, ConstantSchedule
from ensgui.engine.schema import Param
from ensgui.engine.spec import Spec
from ensgui.resources import PRESETS, default_spec, preset_paths
from ensgui.views.setup_view import SetupView

LR_COLOR = "#1f77b4"  # the preview's planned learning rate
ERROR_COLOR = "#c62828"  # a field's or the preview's message


@pytest.fixture
def view(qtbot) -> SetupView:
    widget = SetupView()
    qtbot.addWidget(widget)
    widget.resize(1280, 790)
    widget.set_spec(default_spec())
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def retype(qtbot, editor: QWidget, text: str) -> None:
    """Select what the field holds and type over it, as a user does."""
    qtbot.mouseClick(editor, Qt.MouseButton.LeftButton)
    target = editor.lineEdit() if isinstance(editor, (QSpinBox, QComboBox)) else editor
    qtbot.keyClick(target, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(target, text)


def field(view: SetupView, section: str, name: str):
    return view.editors[section].form().fields[name]


def wait_for_plan(qtbot, view: SetupView) -> None:
    """Wait until the debounced preview shows the plan of the spec in the forms."""
    expected = plan_for(view.spec()).lr
    qtbot.waitUntil(lambda: np.array_equal(view.preview.curve.getData()[1], expected), timeout=2000)


# ------------------------------------------------------------ spec round trip

@pytest.mark.parametrize("path", preset_paths(), ids=lambda p: p.stem)
def test_set_spec_then_spec_round_trips_every_preset(qtbot, path: Path) -> None:
    widget = SetupView()
    qtbot.addWidget(widget)
    spec = Spec.load(str(path))
    widget.set_spec(spec)
    assert widget.spec() == spec
    assert widget.spec().to_toml() == spec.to_toml()


def test_forms_show_every_field_with_its_editor_kind(view: SetupView, tmp_path: Path, screenshot) -> None:
    screenshot(view, "setup-default", colors=(LR_COLOR,))
    assert isinstance(field(view, "method", "members").editor, QSpinBox)
    assert isinstance(field(view, "optimizer", "lr").editor, QLineEdit)
    assert isinstance(field(view, "optimizer", "nesterov").editor, QCheckBox)
    assert isinstance(field(view, "spec", "device").editor, QComboBox)
    assert isinstance(field(view, "spec", "name").editor, QLineEdit)
    assert "initial learning rate" in field(view, "optimizer", "lr").editor.toolTip()
    assert view.editors["method"].help_label.text().startswith("Lakshminarayanan")


def test_float_field_accepts_scientific_notation(qtbot, view: SetupView) -> None:
    retype(qtbot, field(view, "optimizer", "lr").editor, "5e-4")
    assert view.spec().optimizer["lr"] == 5e-4
    assert not field(view, "optimizer", "lr").message.isVisible()


# ------------------------------------------------------------ invalid values are marked at the field

@pytest.mark.parametrize(
    ("section", "name", "text", "reason"),
    [
        ("method", "members", "0", "must be an integer >= 1"),
        ("optimizer", "lr", "-1", "must be a number > 0"),
        ("budget", "batch_size", "0", "must be an integer >= 1"),
        ("optimizer", "lr", "fast", "must be a number > 0"),
    ],
)
def test_invalid_value_is_marked_at_the_field_and_start_refused(qtbot, view: SetupView, tmp_path: Path,
                                                                section: str, name: str, text: str,
                                                                reason: str, screenshot) -> None:
    target = field(view, section, name)
    retype(qtbot, target.editor, text)
    assert target.message.isVisible()
    assert reason in target.message.text()
    assert target.is_marked()
    assert not view.start_button.isEnabled()
    with qtbot.assertNotEmitted(view.start_requested, wait=300):
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
        view.request_start()  # Ctrl+R in the main window bypasses the button
    assert reason in target.message.text()
    assert view.error_label.isVisible()
    assert view.preview.plan is None
    screenshot(view, f"setup-invalid-{section}-{name}", colors=(ERROR_COLOR,))


def test_fixing_the_value_clears_the_mark_and_start_emits_the_spec(qtbot, view: SetupView) -> None:
    members = field(view, "method", "members")
    retype(qtbot, members.editor, "0")
    assert members.message.isVisible()
    retype(qtbot, members.editor, "3")
    assert not members.message.isVisible()
    assert not members.is_marked()
    with qtbot.waitSignal(view.start_requested, timeout=1000) as blocker:
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    spec = blocker.args[0]
    assert isinstance(spec, Spec)
    assert spec.method["members"] == 3
    assert spec == default_spec().with_values("method", members=3)


def test_cross_field_error_is_marked_at_the_field_it_names(qtbot, view: SetupView, tmp_path: Path, screenshot) -> None:
    train = field(view, "data", "train_size")
    retype(qtbot, train.editor, "70000")
    assert not train.message.isVisible()  # the field's own check passes; only the dataset size rules it out
    with qtbot.assertNotEmitted(view.start_requested, wait=100):
        view.request_start()
    assert train.message.isVisible()
    assert "only 59000 training objects remain" in train.message.text()
    assert "Data › training subset" in view.error_label.text()
    screenshot(view, "setup-cross-field", colors=(ERROR_COLOR,))
    retype(qtbot, train.editor, "500")
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=2000)
    assert not train.message.isVisible()


def test_schedule_cross_field_error_while_typing(qtbot, view: SetupView) -> None:
    end = field(view, "schedule", "end")
    retype(qtbot, end.editor, "0.2")
    qtbot.waitUntil(lambda: end.message.isVisible(), timeout=2000)
    assert "must be greater than Schedule › start" in end.message.text()
    assert view.preview.plan is None
    assert not view.start_button.isEnabled()


# ------------------------------------------------------------ registry-driven forms

def test_changing_the_method_swaps_its_form(qtbot, view: SetupView, tmp_path: Path, screenshot) -> None:
    editor = view.editors["method"]
    before = editor.form()
    assert "members" in before.fields
    editor.combo.setCurrentIndex(editor.combo.findData("single"))
    assert editor.form() is not before
    assert editor.form().fields == {}
    assert not before.isVisible()
    assert editor.help_label.text().startswith("One network")
    # Same schedule, so the curve stays; the summary shows that the debounced plan changed.
    qtbot.waitUntil(lambda: view.summary_labels["members"].text() == "1", timeout=2000)
    editor.combo.setCurrentIndex(editor.combo.findData("bagging"))
    assert view.start_button.isEnabled()  # a valid choice never greys Start, not even while the preview waits
    assert set(editor.form().fields) == {"members", "vectorize"}
    assert editor.form().isVisible()
    screenshot(view, "setup-bagging", colors=(LR_COLOR,))
    assert view.spec().method.name == "bagging"


def test_every_registry_entry_is_listed_with_its_help(view: SetupView) -> None:
    from ensgui.engine.spec import SECTIONS, registry_for

    for section in SECTIONS:
        combo = view.editors[section].combo
        entries = list(registry_for(section))
        assert [combo.itemData(i) for i in range(combo.count())] == [e.name for e in entries]
        assert [combo.itemText(i) for i in range(combo.count())] == [e.title for e in entries]
        assert combo.itemData(0, Qt.ItemDataRole.ToolTipRole) == entries[0].help


def test_a_new_registry_entry_appears_with_its_field(qtbot, tmp_path: Path, screenshot) -> None:
    name = "test-wobbly-schedule"

    def wobbly(params, base_lr, total_iters, iters_per_epoch):
        return ConstantSchedule(base_lr * params["level"])

    SCHEDULES.register(name, (Param("level", float, 0.5, "fraction of the learning rate to keep", minimum=0.0,
                                    maximum=1.0, exclusive_minimum=True),),
                       title="Wobbly (test)", help="A schedule registered by a test.")(wobbly)
    try:
        widget = SetupView()
        qtbot.addWidget(widget)
        widget.resize(1280, 790)
        widget.set_spec(default_spec())
        widget.show()
        editor = widget.editors["schedule"]
        index = editor.combo.findData(name)
        assert index >= 0 and editor.combo.itemText(index) == "Wobbly (test)"
        editor.combo.setCurrentIndex(index)
        level = editor.form().fields["level"]
        assert isinstance(level.editor, QLineEdit) and level.editor.text() == "0.5"
        wait_for_plan(qtbot, widget)
        assert np.allclose(widget.preview.curve.getData()[1], 0.05 * 0.5)
        retype(qtbot, level.editor, "2")
        assert "must be a number > 0 and <= 1" in level.message.text()
        screenshot(widget, "setup-registered-schedule", colors=(LR_COLOR,))
        retype(qtbot, level.editor, "0.25")
        assert widget.spec().schedule.params == {"level": 0.25}
    finally:
        SCHEDULES._entries.pop(name, None)


# ------------------------------------------------------------ schedule preview

def test_preview_follows_epochs_and_schedule(qtbot, view: SetupView, tmp_path: Path, screenshot) -> None:
    first = view.preview.curve.getData()[1].copy()
    assert np.array_equal(first, plan_for(default_spec()).lr)
    retype(qtbot, field(view, "budget", "epochs").editor, "7")
    wait_for_plan(qtbot, view)
    assert len(view.preview.curve.getData()[1]) == 7 * plan_for(default_spec()).iters_per_epoch
    assert "7 epochs" in view.preview.getPlotItem().titleLabel.text
    schedule = view.editors["schedule"].combo
    schedule.setCurrentIndex(schedule.findData("cosine"))
    wait_for_plan(qtbot, view)
    lr = view.preview.curve.getData()[1]
    assert lr[0] == pytest.approx(0.05) and lr[-1] < 0.001
    screenshot(view, "setup-cosine-7-epochs", colors=(LR_COLOR,))


def test_preview_is_debounced(qtbot, view: SetupView) -> None:
    before = view.preview.curve.getData()[1].copy()
    retype(qtbot, field(view, "budget", "epochs").editor, "5")
    # Typing finished just now; the preview waits for the pause before it plans again.
    assert np.array_equal(view.preview.curve.getData()[1], before)
    wait_for_plan(qtbot, view)


def test_snapshot_markers_are_the_plan_snapshots(qtbot, view: SetupView) -> None:
    x, y = view.preview.snapshot_marks.getData()
    plan = plan_for(view.spec())
    assert np.array_equal(x, plan.snapshots)
    assert np.array_equal(y, plan.lr[plan.snapshots])
    legend = [label.text for _, label in view.preview.legend.items]
    assert "snapshot" in legend
    epochs_x = view.preview.epoch_lines.getData()[0]
    assert set(epochs_x) == {plan.iters_per_epoch * e for e in range(1, plan.epochs)}


def test_summary_describes_the_plan(view: SetupView) -> None:
    plan = plan_for(default_spec())
    assert view.summary_labels["members"].text() == "5"
    assert view.summary_labels["iters_per_epoch"].text() == str(plan.iters_per_epoch)
    assert view.summary_labels["total_iters"].text().startswith(f"{plan.total_iters:,}")
    assert view.summary_labels["train"].text() == "10,000"


# ------------------------------------------------------------ presets and TOML files

def menu_entries(menu) -> list[tuple[str, str]]:
    """(kind, text) of a menu's entries in order: "action", "section" or "menu"."""
    entries = []
    for action in menu.actions():
        if action.menu() is not None:
            entries.append(("menu", action.text()))
        elif action.isSeparator():
            entries.append(("section", action.text()))
        else:
            entries.append(("action", action.text()))
    return entries


def test_presets_menu_is_grouped_by_scale_and_family(view: SetupView) -> None:
    assert menu_entries(view.presets_menu) == [
        ("action", "Default experiment"), ("menu", "Full experiments"), ("menu", "Quick checks (seconds)")]
    for sub in (a.menu() for a in view.presets_menu.actions() if a.menu() is not None):
        entries = menu_entries(sub)
        assert entries[0] == ("section", "Independently trained members")
        assert ("action", "Deep ensemble") in entries and ("section", "From one training run") in entries
        for action in sub.actions():  # every preset says in one line what it is, in plain words
            assert action.isSeparator() or (action.toolTip() and "methods.md" not in action.toolTip())
    listed = [a.data() for m in [view.presets_menu] + [a.menu() for a in view.presets_menu.actions() if a.menu()]
              for a in m.actions() if a.data()]
    assert sorted(listed) == sorted(str(p) for p in preset_paths())  # each preset exactly once


def test_presets_menu_loads_smoke_bagging(qtbot, view: SetupView, tmp_path: Path, screenshot) -> None:
    quick = next(a.menu() for a in view.presets_menu.actions() if a.text() == "Quick checks (seconds)")
    action = next(a for a in quick.actions() if a.data() == str(PRESETS / "smoke-bagging.toml"))
    assert action.text() == "Bagging (bootstrap)" and action.statusTip()
    action.trigger()
    assert view.spec() == Spec.load(str(PRESETS / "smoke-bagging.toml"))
    assert view.editors["method"].combo.currentText() == "Bagging (bootstrap)"
    screenshot(view, "setup-smoke-bagging", colors=(LR_COLOR,))


def test_save_then_load_toml_round_trips(qtbot, view: SetupView, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "mine"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "TOML specs (*.toml)"))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(target) + ".toml", ""))
    retype(qtbot, field(view, "optimizer", "lr").editor, "5e-4")
    retype(qtbot, field(view, "spec", "name").editor, "saved")
    saved = view.spec()
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    assert Spec.load(str(target) + ".toml") == saved
    view.set_spec(default_spec())
    assert view.spec() != saved
    qtbot.mouseClick(view.load_button, Qt.MouseButton.LeftButton)
    assert view.spec() == saved


def test_loading_a_bad_file_shows_the_spec_error(qtbot, view: SetupView, tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(default_spec().to_toml().replace("members = 5", "members = 0"), encoding="utf-8")
    shown: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    qtbot.mouseClick(view.load_button, Qt.MouseButton.LeftButton)
    assert len(shown) == 1 and "method.members = 0 is invalid" in shown[0]
    assert view.spec() == default_spec()


CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "specs"


@pytest.mark.parametrize("name, expected", [
    ("encoding-latin1.toml", "is not UTF-8 text (byte 0xe9"),
    ("encoding-utf16-bom.toml", "is UTF-16 text, not UTF-8"),
    ("encoding-binary.toml", "is not a text file"),
    ("empty.toml", "the spec is empty"),
    ("syntax-unclosed-table.toml", "is not valid TOML"),
    ("method-swag-rank-1000.toml", "method.rank = 1000 is more than"),
    ("..", "is a folder"),
])
def test_loading_a_file_that_is_no_spec_is_one_dialog(qtbot, view: SetupView, monkeypatch, name, expected) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(CORPUS / name), ""))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    qtbot.mouseClick(view.load_button, Qt.MouseButton.LeftButton)
    assert len(shown) == 1 and expected in shown[0] and "\n" not in shown[0]
    assert view.spec() == default_spec()


def test_saving_an_invalid_spec_is_refused(qtbot, view: SetupView, tmp_path: Path, monkeypatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append(text))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: pytest.fail("no dialog for a bad spec"))
    retype(qtbot, field(view, "budget", "epochs").editor, "0")
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    assert len(shown) == 1 and "Budget › epochs = 0 is invalid" in shown[0]


# ------------------------------------------------------------ stored runs

def editors_of(view: SetupView) -> list[QWidget]:
    widgets: list[QWidget] = []
    for editor in view.editors.values():
        if editor.combo is not None:
            widgets.append(editor.combo)
        widgets.extend(f.editor for f in editor.form().fields.values())
    return widgets


def test_show_stored_is_read_only_until_edit_as_new(qtbot, view: SetupView, tmp_path: Path, screenshot) -> None:
    stored = Spec.load(str(PRESETS / "smoke-deep_ensemble.toml"))
    view.show_stored(stored, tmp_path / "20240101-smoke.h5")
    assert view.banner.isVisible()
    assert view.banner_label.text().replace("<b>", "").replace("</b>", "") == \
        "Stored run 20240101-smoke.h5 (read-only)"
    assert all(not w.isEnabled() for w in editors_of(view))
    assert not view.start_button.isEnabled() and not view.load_button.isEnabled()
    assert view.spec() == stored
    screenshot(view, "setup-stored", colors=(LR_COLOR,))
    with qtbot.assertNotEmitted(view.start_requested, wait=100):
        view.request_start()
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    assert not view.banner.isVisible()
    assert all(w.isEnabled() for w in editors_of(view))
    assert view.start_button.isEnabled()
    with qtbot.waitSignal(view.start_requested, timeout=1000) as blocker:
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == stored


def test_a_faulty_registry_entry_becomes_a_message(qtbot, view: SetupView) -> None:
    name = "test-broken-schedule"

    def broken(params, base_lr, total_iters, iters_per_epoch):
        raise RuntimeError("this schedule is broken")

    SCHEDULES.register(name, (), title="Broken (test)")(broken)
    try:
        view.editors["schedule"].sync_entries()
        combo = view.editors["schedule"].combo
        combo.setCurrentIndex(combo.findData(name))
        with qtbot.assertNotEmitted(view.start_requested, wait=100):
            view.request_start()
        assert "this schedule is broken" in view.error_label.text()
        assert view.preview.plan is None
    finally:
        SCHEDULES._entries.pop(name, None)


def test_switching_entries_keeps_what_was_typed(qtbot, view: SetupView) -> None:
    retype(qtbot, field(view, "schedule", "final_factor").editor, "0.2")
    combo = view.editors["schedule"].combo
    combo.setCurrentIndex(combo.findData("cosine"))
    combo.setCurrentIndex(combo.findData("base"))
    assert view.spec().schedule.params["final_factor"] == 0.2


def test_methods_with_their_own_learning_rate_grey_out_the_schedule_section(qtbot, view: SetupView,
                                                                           tmp_path: Path, screenshot) -> None:
    box = view.group_boxes["schedule"]
    assert view.editors["schedule"].isEnabled() and "not used" not in box.title()
    view.set_spec(Spec.load(str(PRESETS / "snapshot.toml")))
    qtbot.waitUntil(lambda: not view.editors["schedule"].isEnabled(), timeout=5000)
    assert "not used: snapshot" in box.title()
    screenshot(view, "setup-schedule-not-used", colors=(LR_COLOR,))
    # NoCycle is the spec's own schedule with snapshots, so the section counts again.
    view.set_spec(Spec.load(str(PRESETS / "snapshot.toml")).with_values("method", variant="nocycle"))
    qtbot.waitUntil(lambda: view.editors["schedule"].isEnabled(), timeout=5000)
    assert "not used" not in box.title()


def test_a_cross_field_message_names_the_fields_in_the_forms_words(qtbot, view: SetupView) -> None:
    retype(qtbot, field(view, "data", "train_size").editor, "59800")
    retype(qtbot, field(view, "data", "val_size").editor, "1000")
    with qtbot.assertNotEmitted(view.start_requested, wait=100):
        view.request_start()
    shown = field(view, "data", "train_size").message.text() + view.error_label.toolTip()
    assert "Data › validation size = 1000" in shown
    assert "data.val_size" not in shown and "data.train_size" not in shown


def test_the_optimiser_box_spells_its_kind_as_its_title_does(view: SetupView) -> None:
    from PySide6.QtWidgets import QLabel

    labels = [label.text() for label in view.editors["optimizer"].findChildren(QLabel)]
    assert "optimiser" in labels and "optimizer" not in labels
