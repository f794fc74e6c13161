"""The window on a laptop screen: everything fits at 1366x768 and at the minimum 1280x720, Setup shows the method
and its members without scrolling, and no combo box of Setup clips its text, whichever preset is loaded."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox

from ensgui.app import create_window
from ensgui.resources import default_spec, presets

pytestmark = pytest.mark.gui
LAPTOP, SMALLEST = (1366, 768), (1280, 720)


@pytest.fixture
def window(qtbot, tmp_path):
    made = create_window(tmp_path / "runs", default_spec(), threads=1, backend="thread")
    qtbot.addWidget(made)
    made.show()
    qtbot.waitExposed(made)
    return made


def test_every_screen_fits_the_smallest_window(window) -> None:
    hint = window.minimumSizeHint()
    assert window.minimumWidth() <= SMALLEST[0] and window.minimumHeight() <= SMALLEST[1]
    # Below its layout's minimum a screen would overlap or cut its widgets: every screen must fit 1280x720.
    assert hint.width() <= SMALLEST[0] and hint.height() <= SMALLEST[1], (hint.width(), hint.height())


def visible_in(widget, area) -> bool:
    """Whether the whole widget lies inside the scroll area's viewport as it is scrolled now."""
    top_left = widget.mapTo(area.viewport(), widget.rect().topLeft())
    return area.viewport().rect().contains(QRect(top_left, widget.size()))


def text_fits(combo: QComboBox) -> bool:
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                         QStyle.SubControl.SC_ComboBoxEditField, combo)
    return combo.fontMetrics().horizontalAdvance(combo.currentText()) <= field.width()


@pytest.mark.parametrize("size", [LAPTOP, SMALLEST], ids=lambda s: f"{s[0]}x{s[1]}")
def test_setup_shows_method_and_members_without_scrolling(qtbot, window, size, screenshot) -> None:
    window.resize(*size)
    window.show_screen("setup")
    setup = window.screen("setup")
    qtbot.waitUntil(lambda: window.size().width() == size[0] and window.size().height() == size[1], timeout=2000)
    qtbot.wait(50)
    assert setup.scroll.verticalScrollBar().value() == 0
    method = setup.editors["method"]
    for widget in (method.combo, method.form().fields["members"].editor, setup.editors["budget"].form().fields["epochs"].editor,
                   setup.start_button):
        assert visible_in(widget, setup.scroll) if widget is not setup.start_button else widget.isVisible()
    screenshot(window, f"layout-setup-{size[0]}x{size[1]}", colors=("#2e7d32",))  # the Start button's green


def test_no_setup_combo_clips_its_text_for_any_preset(qtbot, window) -> None:
    window.resize(*SMALLEST)
    window.show_screen("setup")
    setup = window.screen("setup")
    for preset in presets():
        setup.load_path(preset.path)
        qtbot.wait(20)
        clipped = [(combo.objectName(), combo.currentText()) for combo in setup.findChildren(QComboBox)
                   if combo.isVisible() and not text_fits(combo)]
        assert not clipped, (preset.path.stem, clipped)
