"""The runner: runs one spec from data loading to evaluation, turning every outcome into events."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import numpy as np
import torch

from .data import DataSplits, load_splits
from .errors import CancelledError, DivergedError, EnsguiError, SpecError
from .evaluation import EvalOptions, ensemble_curves, member_metrics
from .events import Evaluated, RunEnded, RunStarted, Sink, TrainingState
from .margin_tracking import final_margins
from .methods import Method, method_for
from .metrics import ensemble_log_mean, fit_temperature
from .planning import iters_per_epoch
from .progress import ProgressTracker, run_work
from .seeding import DROPOUT, EVAL, derive_seed
from .spec import Spec
from .sweep import resolve_gap_from_run
from .task_state import TaskState
from .training import StoredRuns, TrainContext


@dataclass(frozen=True)
class RunResult:
    status: str  # finished, cancelled, failed, diverged
    error: str
    rows: int
    elapsed: float


@dataclass(frozen=True)
class Resumption:
    """What a resumed run continues from: its latest checkpoint and the rows its run file holds."""

    state: TrainingState
    rows: dict[int, dict[str, np.ndarray]]


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when a GPU is visible; asking for CUDA without one is a spec error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError(f"device = {name!r} but no CUDA GPU is visible to torch; set device = \"auto\" or \"cpu\"")
    return torch.device(name)


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in str(exc)


def run_spec(spec: Spec, state: TaskState, threads: int | None = None,
             stored_runs: StoredRuns | None = None, resume: Resumption | None = None) -> RunResult:
    """Run a spec to the end (or until the state's stop is set), emitting events; never raises for user errors.

    stored_runs reads finished run files for methods that start from one (the engine has no h5py): the task
    layer's run_to_file passes the storage reader. Without it such specs fail with one message. With resume the
    run continues from a checkpoint instead of starting afresh, and ends with the numbers of a run never stopped.
    """
    emit = state.emit
    started = time.monotonic()
    before = resume.state.elapsed if resume is not None else 0.0
    rows = 0
    extra: dict[str, float] = {}

    def ended(status: str, error: str = "") -> RunResult:
        elapsed = before + time.monotonic() - started
        emit(RunEnded(status, error, elapsed, extra))
        return RunResult(status, error, rows, elapsed)

    try:
        # The run file keeps the spec as given; the gap it resolved to is logged and stored as extra.resolved_gap.
        given = spec
        spec, resolved_gap = resolve_gap_from_run(given, None if stored_runs is None else stored_runs.mean_train_margin)
        if resolved_gap is not None:
            extra["resolved_gap"] = resolved_gap
            state.log(f"gap = {resolved_gap:.4g} (mean training margin of member 0 of {given.loss['gap_from_run']})")
        device = resolve_device(spec.device)
        if threads:
            torch.set_num_threads(threads)
        method = method_for(spec)
        plan = method.plan(iters_per_epoch(spec))
        state.log(f"loading {spec.data.name} (train {spec.data['train_size'] or 'all'}, "
                  f"validation {spec.data['val_size']})")
        data = _to_device(load_splits(spec.data.name, spec.data.params, spec.seed, state.log), device)
        emit(RunStarted(given.to_toml(), plan, str(device), tuple(method.row_names(plan)), torch.get_num_threads(),
                        None if resume is None else resume.state.step))
        state.log(f"{spec.method.name}: {plan.members} member(s) x {plan.total_iters} iterations "
                  f"({plan.epochs} epochs of {plan.iters_per_epoch}) on {device} with "
                  f"{torch.get_num_threads()} CPU thread(s)")
        torch.manual_seed(derive_seed(spec.seed, 0, DROPOUT))
        margin_objects = min(spec.evaluation["margin_train_objects"] or len(data.train_y), len(data.train_y))
        work = run_work(plan.members, plan.total_iters, spec.budget["batch_size"], plan.rows,
                        len(data.val_y) + len(data.test_y), spec.evaluation["orders"], margin_objects)
        progress = ProgressTracker(emit, plan.members, plan.total_iters, work=work)
        ctx = TrainContext(spec, data, device, plan, state, progress, stored_runs)
        if resume is not None:
            _continue_from(ctx, resume)
        status = "finished"
        stopped: dict[int, float] = {}
        try:
            method.train(ctx)
        except CancelledError:
            status = "cancelled"
            emit(progress.snapshot())  # the rate limiter may have held back the last steps
            finished = len(ctx.rows)
            stopped = method.stopped_rows(ctx)
            state.log(f"stopped at {progress.done} of {progress.total} member-steps: {finished} finished and "
                      f"{len(stopped)} partial row(s) evaluated; the run can be resumed")
        rows = len(ctx.rows)
        if ctx.rows:
            evaluate_rows(ctx, method, emit, method.partial_eval_rows(ctx, stopped) if status != "finished" else {})
        return ended(status)
    except DivergedError as exc:
        return ended("diverged", str(exc))
    except EnsguiError as exc:
        return ended("failed", str(exc))
    except Exception as exc:  # noqa: BLE001 - every failure must reach the user as a status, not a crash
        if _is_out_of_memory(exc):
            return ended("failed", f"out of memory on {spec.device}: lower budget.batch_size or method.members, "
                                   f"or set method.vectorize = false")
        state.log(traceback.format_exc())
        return ended("failed", f"internal error: {type(exc).__name__}: {exc}")


def _continue_from(ctx: TrainContext, resume: Resumption) -> None:
    """Set a resumed run's context where its checkpoint left it: finished members, their rows, the progress."""
    saved, plan = resume.state, ctx.plan
    ctx.resume = saved
    ctx.finished = set(saved.finished)
    ctx.rows.update(resume.rows)
    ctx.elapsed_before = saved.elapsed
    ctx.progress.resume_from([plan.total_iters if m in ctx.finished else saved.step if m in saved.members else 0
                              for m in range(plan.members)], saved.epoch)
    where = ("at the end of epoch" if saved.reason == "epoch" else "in epoch") + \
        f" {saved.epoch if saved.reason == 'epoch' else saved.epoch + 1}"
    ctx.log(f"resumed {where} (iteration {saved.step} of {plan.total_iters}) of member(s) "
            f"{', '.join(map(str, saved.members))}; finished before: "
            f"{', '.join(map(str, saved.finished)) or 'none'}; {len(resume.rows)} stored row(s) read back")


def _to_device(data: DataSplits, device: torch.device) -> DataSplits:
    if device.type == "cpu":
        return data
    fields = {name: getattr(data, name) for name in data.__dataclass_fields__}
    for name, value in fields.items():
        if isinstance(value, torch.Tensor):
            fields[name] = value.to(device)
    return DataSplits(**fields)


def evaluate_rows(ctx: TrainContext, method: Method, emit: Sink, partial: dict[int, float] | None = None) -> None:
    """Predict every stored row on validation and test, then compute the metric-vs-size curves; partial marks
    the rows of members stopped in flight (row -> epoch reached)."""
    partial = partial or {}
    ctx.progress.start_phase("predicting")
    has_val = len(ctx.data.val_y) > 0
    predicted = method.predict(ctx, [ctx.data.test_x, ctx.data.val_x] if has_val else [ctx.data.test_x])
    test_probs = predicted.probs[0]
    test_labels = ctx.data.test_y.cpu().numpy().astype(np.int64)
    val_probs = predicted.probs[1] if has_val else None
    val_labels = ctx.data.val_y.cpu().numpy().astype(np.int64) if has_val else None
    ev = ctx.spec.evaluation
    # Ordered rows (boosting) are evaluated as trained: the ensemble of the first k rows, with std 0.
    ordered = method.ordered_rows()
    options = EvalOptions(n_orders=1 if ordered else ev["orders"], n_bins=ev["ece_bins"],
                          cnll_splits=ev["cnll_splits"], cnll_runs=ev["cnll_runs"],
                          seed=derive_seed(ctx.spec.seed, 0, EVAL) % (2**31), in_order=ordered)
    ctx.log(f"computing metrics for ensemble sizes 1..{len(test_probs)} "
            + ("in training order" if ordered else f"over {ev['orders']} member orders"))
    ctx.progress.start_phase("evaluating")
    curves = ensemble_curves(test_probs, test_labels, val_probs, val_labels, options,
                             progress=ctx.progress.phase_step)
    temperature = None
    if val_probs is not None:
        temperature = float(fit_temperature(ensemble_log_mean(np.log(val_probs.astype(np.float64) + 1e-30)),
                                            val_labels))
        emit(Evaluated("val", val_probs, val_labels, curves["val"], member_metrics(val_probs, val_labels),
                       temperature, partial))
    emit(Evaluated("test", test_probs, test_labels, curves["test"], member_metrics(test_probs, test_labels),
                   temperature, partial))
    # The rows' logits of the prediction give their validation and test margins without another forward pass.
    known = {} if predicted.row_logits is None else dict(zip(("test", "val"), predicted.row_logits))
    final_margins(ctx, emit, known)

