"""Running one spec into one run file: the wiring the CLI, the GUI and sweeps share."""

from __future__ import annotations

from pathlib import Path

from ..engine.runner import RunResult, run_spec
from ..engine.spec import Spec
from ..engine.task_state import TaskState
from ..storage.reader import StoredRunReader
from ..storage.writer import RunWriter


def run_to_file(spec: Spec, path: Path, state: TaskState, threads: int | None = None) -> RunResult:
    """Train and evaluate spec, storing everything in a new run file at path; never raises for user errors.

    Methods that start from a stored run (FGE's start_from, the gap from a run) read it through storage.
    """
    return run_spec(spec, state.with_sinks([RunWriter(Path(path))], first=True), threads, StoredRunReader())


__all__ = ["RunResult", "run_to_file"]
