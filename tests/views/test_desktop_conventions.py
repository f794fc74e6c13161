"""The conventions users expect of a desktop application: menus and shortcuts, remembered state, a question before
unsaved edits are replaced, a notification when a run ends unseen, help, about and an informative status bar."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from ensgui.app import create_window
from ensgui.engine.events import Progress, RunEnded
from ensgui.engine.spec import Spec
from ensgui.resources import default_spec
from ensgui.tasks.engine_info import EngineInfo
from ensgui.views.app_settings import AppSettings
from support import tiny_spec_dict, type_into

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(tmp_path):
    return AppSettings(QSettings(str(tmp_path / "ensgui.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, tmp_path, settings):
    made = create_window(tmp_path / "runs", default_spec(), threads=1, backend="thread", settings=settings)
    qtbot.addWidget(made)
    made.show()
    qtbot.waitExposed(made)
    made.activateWindow()
    return made


def menu_titles(window) -> list[str]:
    return [action.text().replace("&", "") for action in window.menuBar().actions()]


def test_menus_are_in_the_order_desktop_applications_use(window):
    assert menu_titles(window) == ["File", "Edit", "View", "Run", "Help"]
    shortcuts = {key: action.shortcut().toString() for key, action in window.actions_by_key.items()}
    assert shortcuts["open"] == "Ctrl+O" and shortcuts["save"] == "Ctrl+S" and shortcuts["start"] == "Ctrl+R"
    assert shortcuts["stop"] == "Ctrl+." and shortcuts["resume"] == "Ctrl+Shift+R" and shortcuts["help"] == "F1"
    assert shortcuts["screen:results"].startswith("Ctrl+")


def test_ctrl_digit_and_ctrl_tab_move_between_screens(qtbot, window):
    keys = list(window.screens)
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.screen(keys[2])
    qtbot.keyClick(window, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.screen(keys[3])
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is window.screen(keys[0])


def splitter_of(window, key: str):
    from PySide6.QtWidgets import QSplitter

    return window.screen(key).findChildren(QSplitter)[0]


def test_window_size_splitters_smoothing_and_last_experiment_are_remembered(qtbot, tmp_path, window, settings):
    window.resize(1400, 860)
    splitter = splitter_of(window, "setup")
    total = sum(splitter.sizes())
    splitter.setSizes([total // 3, total - total // 3])
    moved = splitter.sizes()
    window.screen("monitor").set_smoothing(0.3)
    type_into(qtbot, window.screen("setup"), "spec", "name", "remembered")
    qtbot.waitUntil(lambda: window.screen("setup").refresh() is not None)
    window.close()

    again = create_window(tmp_path / "runs", settings.last_spec(), threads=1, backend="thread", settings=settings)
    qtbot.addWidget(again)
    assert again.restore_state()
    again.show()
    # The offscreen platform's screen is 800×800 and restoreGeometry fits a window to its screen, so the size
    # is checked as stored; the splitter as the user left it.
    assert window.saveGeometry() == settings.q.value("window/geometry")
    assert splitter_of(again, "setup").sizes()[0] == moved[0]  # the rest follows the (clamped) window width
    assert again.screen("monitor").smoothing() == pytest.approx(0.3)
    assert again.screen("setup").spec().name == "remembered"


def test_a_first_launch_has_nothing_to_restore_and_bad_stored_values_fall_back(qtbot, tmp_path, settings):
    settings.q.setValue("setup/last_spec", "name = [not a spec")
    settings.q.setValue("monitor/smoothing", "lots")
    assert settings.last_spec() is None
    assert settings.smoothing(0.6) == 0.6
    fresh = create_window(tmp_path / "runs", None, threads=1, backend="thread", settings=settings)
    qtbot.addWidget(fresh)
    assert fresh.restore_state() is False
    assert fresh.screen("setup").spec() == default_spec()


def test_opening_a_run_over_unsaved_edits_asks_first(qtbot, monkeypatch, window, finished_runs):
    setup = window.screen("setup")
    type_into(qtbot, setup, "spec", "name", "unsaved-edit")
    assert setup.is_modified()
    asked = []

    def answer(button):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return button
        return staticmethod(question)

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    window.open_run(finished_runs["deep_ensemble"])
    assert asked and "not saved" in asked[0]
    assert setup.spec().name == "unsaved-edit" and not setup.is_read_only()  # Cancel keeps the edits

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    window.open_run(finished_runs["deep_ensemble"])
    window.show_screen("setup")  # Setup fills in the stored spec when it is shown
    qtbot.waitUntil(lambda: setup.is_read_only(), timeout=20000)
    assert len(asked) == 2
    assert window.settings.recent_runs()[0] == finished_runs["deep_ensemble"].resolve()
    recent = [a.text() for a in window.recent_menu.actions()]
    assert recent[0] == finished_runs["deep_ensemble"].name


def test_an_unchanged_setup_is_replaced_without_a_question(window, finished_runs):
    assert not window.screen("setup").is_modified()
    window.open_run(finished_runs["deep_ensemble"])  # the autouse fixture fails on any unexpected question


def test_copy_and_paste_the_experiment_as_toml(qtbot, window):
    from PySide6.QtGui import QGuiApplication

    window.copy_spec()
    text = QGuiApplication.clipboard().text()
    assert Spec.from_toml(text) == default_spec()
    other = Spec.from_dict(tiny_spec_dict(name="pasted"))
    QGuiApplication.clipboard().setText(other.to_toml())
    window.actions_by_key["paste_spec"].trigger()
    assert window.screen("setup").spec().name == "pasted"


def test_pasting_text_that_is_no_experiment_says_so(monkeypatch, window):
    from PySide6.QtGui import QGuiApplication

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda p, title, text: warnings.append((title, text))))
    QGuiApplication.clipboard().setText("hello")
    window.paste_spec()
    assert warnings and warnings[0][0] == "Cannot paste an experiment"
    assert window.screen("setup").spec() == default_spec()


def test_a_run_ending_unseen_is_notified_and_the_status_bar_follows_it(qtbot, tmp_path, window):
    window.hide()
    spec = Spec.from_dict(tiny_spec_dict(members=1, train_size=128, val_size=64, test_size=128, name="unseen"))
    with qtbot.waitSignal(window.controller.run_finished, timeout=120000):
        window.start_run(spec)
    assert window.notifier.sent and window.notifier.sent[-1][0] == "ensgui: run finished"
    assert "unseen" in window.notifier.sent[-1][1]
    assert window.status_line.run_label.text().startswith("unseen: finished after")


def test_the_status_bar_shows_phase_share_and_time_left(window):
    line = window.status_line
    line._name = "demo"
    window.controller.progress.emit(Progress(phase="training", done=25, total=100, eta=90.0))
    assert line.run_label.text() == "demo: training 25% · 1:30 left"
    window.controller.engine_ready.emit(EngineInfo("2.14.1", (), 2))
    assert line.device_label.text() == "engine: CPU"


def test_about_names_the_versions_and_the_device(qtbot, window):
    window.controller.engine_info = EngineInfo("2.14.1", ("NVIDIA H100",), 16)
    window.actions_by_key["about"].trigger()
    text = window.about.text()
    assert "ensgui" in text and "PySide6" in text and "2.14.1" in text and "CUDA (NVIDIA H100)" in text
    window.about.close()


def test_help_opens_on_f1_and_shows_the_keys(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: window.help_dialog is not None and window.help_dialog.isVisible())
    shown = window.help_dialog.browser.toPlainText()
    assert "Ctrl+R" in shown and "ensemble row" in shown
    window.help_dialog.close()


def test_a_run_ending_in_view_is_not_notified(monkeypatch, window):
    monkeypatch.setattr(window.notifier, "unseen", lambda: False)  # offscreen, no window is ever the active one
    window.controller.run_finished.emit(RunEnded("finished"), window.workspace.folder / "missing.h5")
    assert window.notifier.sent == []
