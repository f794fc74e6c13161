"""Running one spec into one run file: the wiring the CLI, the GUI and sweeps share."""

from __future__ import annotations

from pathlib import Path

from ..engine.data import prepare_dataset
from ..engine.errors import RunFileError, SpecError
from ..engine.methods import method_for
from ..engine.runner import Resumption, RunResult, resolve_device, run_spec
from ..engine.spec import Spec
from ..engine.sweep import resolve_gap_from_run
from ..engine.task_state import TaskState
from ..storage.checkpoint import read_resumable
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


def resume_run(path: Path, state: TaskState, threads: int | None = None) -> RunResult:
    """Continue a stopped (cancelled, killed or failed) run in its own file from its latest checkpoint.

    It ends with the numbers the run would have had without the stop: bitwise on the CPU with the thread count
    the run was started with, which is the default here. Raises RunFileError or SpecError (one line) when the
    run cannot be resumed; everything after that is reported through the run's status, as for a new run.
    """
    path = Path(path)
    stopped = read_resumable(path)
    try:
        spec = Spec.from_toml(stopped.spec_toml)
    except SpecError as exc:
        raise RunFileError(f"{path.name} cannot be resumed: its stored spec no longer validates ({exc})") from None
    if threads is None:
        threads = stopped.threads
    elif stopped.threads and threads != stopped.threads:
        state.log(f"resuming with {threads} CPU thread(s) where the run had {stopped.threads}: the numbers will "
                  f"differ slightly from an uninterrupted run")
    writer = RunWriter(path, resume_from=stopped.checkpoint.mark)
    return run_spec(spec, state.with_sinks([writer], first=True), threads, StoredRunReader(),
                    Resumption(stopped.checkpoint.state, stopped.rows))


__all__ = ["RunResult", "check_run_inputs", "resume_run", "run_to_file"]
