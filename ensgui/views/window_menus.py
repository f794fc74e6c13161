"""The main window's menus and shortcuts: File, Edit, View, Run and Help, as desktop applications have them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

if TYPE_CHECKING:
    from .main_window import MainWindow

EXPORT_BUTTON = "export"  # the object name of every Export ▾ button (views.export.export_button)


@dataclass(frozen=True)
class Item:
    """One menu entry: its text, shortcuts (the first is shown), tip and what it does."""

    key: str
    text: str
    run: Callable[[], object]
    shortcuts: tuple[QKeySequence | QKeySequence.StandardKey | str, ...] = ()
    tip: str = ""
    checkable: bool = False


def _action(window: QWidget, item: Item) -> QAction:
    action = QAction(item.text, window)
    keys: list[QKeySequence] = []
    for shortcut in item.shortcuts:
        if isinstance(shortcut, QKeySequence.StandardKey):
            keys.extend(QKeySequence.keyBindings(shortcut))
        else:
            keys.append(QKeySequence(shortcut))
    # A standard key may already be the literal one given beside it (F1 is HelpContents): twice is ambiguous.
    action.setShortcuts(list(dict.fromkeys(keys)))
    action.setStatusTip(item.tip)
    action.setToolTip(item.tip or item.text.replace("&", ""))
    action.setCheckable(item.checkable)
    action.triggered.connect(lambda _checked=False, run=item.run: run())
    return action


def current_export_button(screen: QWidget) -> QToolButton | None:
    """The first Export ▾ button a user can see on a screen (its main plot's), or None."""
    for button in screen.findChildren(QToolButton, EXPORT_BUTTON):
        if button.isVisible() and button.isEnabled():
            return button
    return None


def build_menus(window: MainWindow) -> dict[str, QAction]:
    """Add the menu bar to the window; returns every action by key (for the status bar, tests and state)."""
    setup = window.screen("setup")
    menus: dict[str, list[Item | None]] = {
        "&File": [
            Item("open", "&Open…", window.open_file_dialog, (QKeySequence.StandardKey.Open,),
                 "Open a run file (.h5) to see its results, or a spec (.toml) to edit it in Setup"),
            None,  # the recent-runs submenu goes here
            Item("save", "&Save experiment…", setup.save_dialog, (QKeySequence.StandardKey.Save,),
                 "Write the experiment on Setup to a TOML spec file"),
            Item("export", "&Export the current plot…", window.export_current, ("Ctrl+E",),
                 "The export menu of the screen in view: PNG, SVG or CSV"),
            None,
            Item("quit", "&Quit", window.close, (QKeySequence.StandardKey.Quit,)),
        ],
        "&Edit": [
            Item("copy_spec", "&Copy experiment as TOML", window.copy_spec, ("Ctrl+Shift+C",),
                 "Put the experiment on Setup on the clipboard as TOML text"),
            Item("paste_spec", "&Paste experiment from TOML", window.paste_spec, ("Ctrl+Shift+V",),
                 "Fill Setup from TOML text on the clipboard"),
            Item("reset_spec", "&Reset to the default experiment", window.reset_spec, (),
                 "Fill Setup with the built-in default experiment"),
        ],
        "&View": [
            *[Item(f"screen:{key}", f"&{i + 1} {window.tab_title(key)}", lambda k=key: window.show_screen(k),
                   (f"Ctrl+{i + 1}",) if i < 9 else ()) for i, key in enumerate(window.screens)],
            None,
            Item("next_tab", "&Next screen", lambda: window.step_screen(1), ("Ctrl+Tab", "Ctrl+PgDown")),
            Item("previous_tab", "&Previous screen", lambda: window.step_screen(-1),
                 ("Ctrl+Shift+Tab", "Ctrl+PgUp")),
            None,
            Item("full_screen", "&Full screen", window.toggle_full_screen,
                 (QKeySequence.StandardKey.FullScreen, "F11"), checkable=True),
        ],
        "&Run": [
            Item("start", "&Start", setup.request_start, ("Ctrl+R",), "Train the experiment on Setup"),
            Item("stop", "S&top && evaluate", window.stop_run, ("Ctrl+.",),
                 "Stop at the next step, evaluate the members as they stand and keep a checkpoint"),
            Item("resume", "&Resume", window.resume_last, ("Ctrl+Shift+R",),
                 "Continue the stopped run shown on Monitor (or selected on Runs) from its checkpoint"),
        ],
        "&Help": [
            Item("help", "ensgui &Help", window.show_help, (QKeySequence.StandardKey.HelpContents, "F1")),
            Item("about", "&About ensgui", window.show_about),
        ],
    }
    actions: dict[str, QAction] = {}
    for title, items in menus.items():
        menu = window.menuBar().addMenu(title)
        menu.setToolTipsVisible(True)
        for item in items:
            if item is None:
                if title == "&File" and "recent" not in actions:
                    recent = QMenu("Open &recent", menu)
                    window.recent_menu = recent
                    actions["recent"] = menu.addMenu(recent)
                else:
                    menu.addSeparator()
                continue
            action = _action(window, item)
            menu.addAction(action)
            actions[item.key] = action
    return actions
