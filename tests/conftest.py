"""Shared fixtures: offscreen Qt, a private workspace, and small real run files trained on Fashion-MNIST."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import train_run_file

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


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
