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
    from ensgui.engine.runner import run_spec
    from ensgui.engine.spec import Spec
    from ensgui.storage.workspace import Workspace
    from ensgui.storage.writer import RunWriter

    spec = Spec.from_dict(tiny_spec_dict(**kwargs))
    path = Workspace(folder).new_run_path(spec.name)
    result = run_spec(spec, [RunWriter(path)], threads=1)
    assert result.status == "finished", result.error
    return path
