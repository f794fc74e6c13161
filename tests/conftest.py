"""Shared fixtures: offscreen Qt, a private workspace, and small real run files trained on Fashion-MNIST."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from support import train_run_file

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def unexpected_dialogs_fail(monkeypatch):
    """A message box nobody expected fails the test at once: offscreen, a modal dialog would hang the suite.

    Tests that expect a dialog patch QMessageBox themselves, which overrides this.
    """
    if "PySide6.QtWidgets" not in sys.modules:  # engine and storage tests never load Qt
        yield
        return
    from PySide6.QtWidgets import QMessageBox

    def fail(kind):
        def show(parent, title, text, *args, **kwargs):
            raise AssertionError(f"unexpected QMessageBox.{kind}: {title}: {text}")
        return show

    for kind in ("warning", "critical", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(fail(kind)))
    yield


@pytest.fixture(scope="session")
def finished_runs(tmp_path_factory) -> dict[str, Path]:
    """A workspace with a finished deep ensemble (the DEE reference) and a finished bagging run."""
    folder = tmp_path_factory.mktemp("workspace")
    return {
        "deep_ensemble": train_run_file(folder, method="deep_ensemble", name="tiny-de"),
        "bagging": train_run_file(folder, method="bagging", name="tiny-bagging"),
    }


@pytest.fixture
def workspace_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("ENSGUI_WORKSPACE", str(folder))
    return folder
