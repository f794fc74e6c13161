"""Helpers shared by the test packages: tiny real specs and run files (imported as `support`)."""

from __future__ import annotations

from pathlib import Path


def tiny_spec_dict(method: str = "deep_ensemble", members: int = 3, epochs: int = 1, train_size: int = 600,
                   val_size: int = 200, model: str = "lenet300_100", name: str = "tiny",
                   test_size: int = 1000) -> dict:
    """A spec that trains in a few seconds on the CPU."""
    method_table: dict = {"name": method}
    if method != "single":
        method_table["members"] = members
    return {
        "name": name, "seed": 0, "device": "cpu",
        "data": {"name": "fashion-mnist", "train_size": train_size, "val_size": val_size,
                 "test_size": test_size},
        "model": {"name": model},
        "method": method_table,
        "optimizer": {"name": "sgd", "lr": 0.05},
        "schedule": {"name": "base"},
        "budget": {"epochs": epochs, "batch_size": 64},
        "evaluation": {"orders": 3, "cnll_runs": 2},
    }


def train_run_file(folder: Path, **kwargs) -> Path:
    """Train a tiny spec for real and store it as a run file in folder."""
    from ensgui.engine.spec import Spec
    from ensgui.engine.task_state import TaskState
    from ensgui.storage.workspace import Workspace
    from ensgui.tasks.run import run_to_file

    spec = Spec.from_dict(tiny_spec_dict(**kwargs))
    path = Workspace(folder).new_run_path(spec.name)
    result = run_to_file(spec, path, TaskState(), threads=1)
    assert result.status == "finished", result.error
    return path


def final_margins(events: list) -> dict:
    """The final-margins artefacts among a run's events, by split: each with .raw, .normalized and .labels."""
    from types import SimpleNamespace

    from ensgui.engine.events import Artefact

    return {e.name.split("/", 1)[1]: SimpleNamespace(split=e.name.split("/", 1)[1], **e.arrays)
            for e in events if isinstance(e, Artefact) and e.name.startswith("margins/")}


def open_and_wait(context, path: Path) -> None:
    """Open a run in a context's document as the Runs screen does; wait until it and the runs it needs are read
    and every screen in view has drawn it."""
    context.document.open(path)
    settle(context)


def settle(context=None) -> None:
    """Finish what screens do in the background or part by part over turns of the event loop, since tests read
    widgets at once: drawings, and with a context the open run and the other runs a drawing asked for."""
    from ensgui.views.screens import FillWhenShown

    while True:
        FillWhenShown.settle()
        if context is None:
            return
        assert context.document.wait(20_000) and context.loader.wait(20_000)
        if not FillWhenShown._drawing and not context.document.busy() and not context.loader.busy():
            return


def sweep_state(*sinks, stop=None, on_point=None):
    """A TaskState for a gap sweep: these sinks, an optional stop flag, and on_point(index, total, label) called
    before every point is trained."""
    from ensgui.engine.events import SweepPoint
    from ensgui.engine.task_state import TaskState

    def point(event) -> None:
        if on_point is not None and isinstance(event, SweepPoint):
            on_point(event.index, event.total, event.label)

    return TaskState([*sinks, point], stop)


def compute_and_check_interpolation(qtbot, window, path: Path, pairs: int) -> None:
    """Click Compute on the Interpolation screen (default: final vs each earlier snapshot) and check that
    what it draws is what it stored in the run file, on at least 21 points."""
    import numpy as np
    from PySide6.QtCore import Qt

    from ensgui.storage.analysis import read_interpolations

    view = window.screen("interpolation")
    window.tabs.setCurrentWidget(view)
    assert view.mode() == "final" and len(view.selected_pairs()) == pairs
    view.train_spin.setValue(500)
    done = []
    view.computation_finished.connect(lambda status, message: done.append(status))
    qtbot.mouseClick(view.compute_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: done == ["finished"], timeout=120000)
    stored = read_interpolations(path)
    assert len(stored) == pairs
    for key in ("train_loss", "test_loss", "test_error"):
        drawn = view.drawn(key)
        assert set(drawn) == set(stored)
        for label, (result, _attrs) in stored.items():
            assert len(result.lambdas) >= 21
            np.testing.assert_array_equal(drawn[label][0], result.lambdas)
            np.testing.assert_array_equal(drawn[label][1], getattr(result, key))


SHOTS = Path("/tmp/ensgui-shots")  # a fixed place to look at the screens after a run, beside tmp_path


def save_screenshot(widget, folder: Path, name: str):
    """Grab a widget as a user would see it and save it as <name>.png in folder and in SHOTS; returns the QImage."""
    from PySide6.QtCore import QCoreApplication

    settle()  # the parts of a drawing still waiting for their turn: a user sees them a few milliseconds later
    QCoreApplication.sendPostedEvents()  # pending layout requests, so the picture shows the settled layout
    image = widget.grab().toImage()
    assert image.save(str(folder / f"{name}.png"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    image.save(str(SHOTS / f"{name}.png"))
    return image


def type_into(qtbot, setup, section: str, field: str, text: str) -> None:
    """Select a Setup field's text and type a new value, as a user does."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit

    editor = setup.editors[section].form().fields[field].editor
    line = editor.lineEdit() if isinstance(editor, QAbstractSpinBox) else editor
    assert isinstance(line, QLineEdit)
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Tab)
