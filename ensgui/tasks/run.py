"""Running one spec into one run file: the wiring the CLI, the GUI and sweeps share."""

from __future__ import annotations

from pathlib import Path

from ..engine.data import prepare_dataset
from ..engine.methods import method_for
from ..engine.runner import RunResult, resolve_device, run_spec
from ..engine.spec import Spec
from ..engine.sweep import resolve_gap_from_run
from ..engine.task_state import TaskState
from ..storage.reader import StoredRunReader
from ..storage.writer import RunWriter


def check_run_inputs(spec: Spec) -> None:
    """Check what a valid spec needs from the machine (its device, its data files, the run files it names) and
    raise the EnsguiError a run would end with, before a run file or a line of output exists.

    The data are loaded here; the run reuses them (engine.data caches the last datasets read).
    """
    reader = StoredRunReader()
    resolve_device(spec.device)
    resolve_gap_from_run(spec, reader.mean_train_margin)
    method_for(spec).check_stored(reader)
    prepare_dataset(spec.data.name, spec.data.params)


def run_to_file(spec: Spec, path: Path, state: TaskState, threads: int | None = None) -> RunResult:
    """Train and evaluate spec, storing everything in a new run file at path; never raises for user errors.

    Methods that start from a stored run (FGE's start_from, the gap from a run) read it through storage.
    """
    return run_spec(spec, state.with_sinks([RunWriter(Path(path))], first=True), threads, StoredRunReader())


__all__ = ["RunResult", "check_run_inputs", "run_to_file"]
