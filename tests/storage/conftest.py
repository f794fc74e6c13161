"""Storage fixtures: run files written from hand-made event sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from storage_events import run_events, small_spec, write_events

from ensgui.engine.spec import Spec


@pytest.fixture
def write_run(tmp_path: Path) -> Callable[..., Path]:
    """Write a hand-made run file; keyword arguments go to run_events (and spec= to pick the spec)."""
    counter = iter(range(1000))

    def write(path: Path | None = None, spec: Spec | None = None, **kwargs) -> Path:
        path = path or tmp_path / f"run-{next(counter)}.h5"
        write_events(path, run_events(spec or small_spec(), **kwargs))
        return path

    return write
