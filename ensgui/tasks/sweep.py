"""The gap-sweep task: one run file per gap, each point's width, and a summary file kept up to date after each point."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine.data import DATASETS, DataSplits, effective_sizes, load_splits
from ..engine.errors import CancelledError, EnsguiError, RunFileError, SpecError
from ..engine.events import SweepDone, SweepPoint
from ..engine.metrics import auroc, misclassification_auroc_by_margin
from ..engine.runner import resolve_device
from ..engine.spec import Spec
from ..engine.sweep import MEAN, GapValue, SweepPlan, parse_gap_values, plan_sweep, point_label, point_spec
from ..engine.task_state import TaskState
from ..engine.width import DEFAULT_MAX_ITER, DEFAULT_TOL, DEFAULT_WIDTH_OBJECTS, TraceEstimate, WidthResult
from ..storage import layout as L
from ..storage.reader import final_snapshot, mean_train_margin, one_line, read_margins, read_run
from ..storage.sweep_store import SCALARS, TRACES, PointRecord, SummaryFile, SweepData, read_sweep, read_width
from ..storage.workspace import Workspace
from .run import run_to_file
from .width import measure_run_width

PROB_FLOOR = 1e-45  # float32's smallest subnormal: an underflowed probability keeps a finite logarithm


def run_gap_sweep(spec: Spec, gaps: Sequence[GapValue], folder: Path, state: TaskState, threads: int | None = None,
                  width_objects: int = DEFAULT_WIDTH_OBJECTS, probes: int = DEFAULT_MAX_ITER,
                  tol: float = DEFAULT_TOL) -> Path:
    """Train one run per gap (the state's sinks see every point's events), measure each point's width, and keep the
    summary <stamp>-<name>.sweep.h5 in folder up to date after every point; returns the summary's path.

    "mean" is the mean training margin of the gap-0 point, which is therefore trained first. A stop ends the sweep
    after the current point (status cancelled); a failing point raises EnsguiError after the summary is marked
    failed; a diverged point is kept with its status and no numbers. SweepPoint is emitted before every point
    and SweepDone once the summary is written for the last time.
    """
    plan = plan_sweep(gaps)
    if width_objects < 1:
        raise SpecError(f"width objects = {width_objects} is invalid: must be an integer >= 1 (2000 is the usual choice)")
    train_size, _ = effective_sizes(DATASETS.get(spec.data.name).factory.info, spec.data.params)
    if width_objects > train_size:  # the traces would silently use fewer objects than the summary states
        raise SpecError(f"width objects = {width_objects} is more than the {train_size} training objects of the spec; "
                        f"lower the width objects or raise data.train_size")
    if probes < 1:
        raise SpecError(f"probes = {probes} is invalid: must be an integer >= 1 (at most 100 is the usual choice)")
    summary = SummaryFile(Workspace(folder).new_sweep_path(spec.name), spec, ", ".join(map(_gap_text, gaps)),
                          width_objects, probes, tol, len(plan.gaps), plan.added_zero)
    return _sweep(spec, plan, summary, [], state, threads)


def resume_gap_sweep(path: Path | str, state: TaskState, threads: int | None = None) -> Path:
    """Go on with a sweep that was cancelled, failed or whose process died: its stored points are kept (a finished
    point without its width gets the width measured), the rest are trained with the spec, gaps and width settings
    stored in the summary, which is updated in place. A finished sweep is returned as it is."""
    earlier = read_sweep(path)
    if earlier.status == "finished":
        state.emit(SweepDone(earlier.path))
        return earlier.path
    if earlier.status == L.STATUS_RUNNING:
        raise RunFileError(f"{earlier.path} is still being written by a running sweep; wait for it or cancel it first")
    try:
        spec = Spec.from_toml(earlier.spec_toml)
        plan = plan_sweep(parse_gap_values(earlier.requested))
        probes, tol = int(earlier.extra["probes"]), float(earlier.extra["tol"])
    except (EnsguiError, KeyError, ValueError) as exc:
        raise RunFileError(f"{earlier.path} cannot be resumed, its settings are unreadable ({one_line(exc)}); "
                           f"start a new sweep") from None
    for label, run in zip(earlier.labels, earlier.run_paths()):
        if not run.is_file():
            raise RunFileError(f"{earlier.path} cannot be resumed: its point {label} has lost its run file "
                               f"{run.name}; put the file back or start a new sweep")
    points = [PointRecord(label, float(gap), earlier.path.parent / run, status, row=-1,
                          values={name: float(getattr(earlier, name)[i]) for name in SCALARS},
                          width=_stored_width(earlier, i))
              for i, (label, gap, run, status) in enumerate(zip(earlier.labels, earlier.gaps, earlier.runs,
                                                                 earlier.statuses))]
    for point in points:
        if point.status == "finished":
            point.row = final_row(point.run)
    summary = SummaryFile(earlier.path, spec, earlier.requested, earlier.width_objects, probes, tol,
                          len(plan.gaps), plan.added_zero)
    summary.attrs["created"] = earlier.created
    summary.attrs["resumed"] = _now()
    return _sweep(spec, plan, summary, points, state, threads)


def _stored_width(sweep: SweepData, i: int) -> WidthResult | None:
    traces = [getattr(sweep, name)[i] for name in TRACES]
    if not all(np.isfinite(t[0]) for t in traces):
        return None
    # The summary keeps mean and standard error; the probe counts live in the run file's /analysis/width.
    stored = read_width(sweep.run_paths()[i])
    if stored is not None:
        return stored
    return WidthResult(*(TraceEstimate(float(t[0]), float(t[1]), 0) for t in traces), objects=sweep.width_objects)


def _sweep(spec: Spec, plan: SweepPlan, summary: SummaryFile, points: list[PointRecord], state: TaskState,
           threads: int | None) -> Path:
    """Train the plan's points after those already in points, keeping the summary up to date."""
    width_objects, probes, tol = summary.attrs["width_objects"], summary.attrs["probes"], summary.attrs["tol"]
    workspace = Workspace(summary.path.parent)
    summary.write(points, "running")
    if plan.added_zero and not points:
        state.log("gap sweep: added gap 0, whose mean training margin is the gap 'mean'")
    if points:
        state.log(f"gap sweep resumed: {len(points)} of {len(plan.gaps)} points kept from {summary.path.name}")
    data: DataSplits | None = None
    status = "finished"
    for i, value in enumerate(plan.gaps):
        if state.should_stop():
            status = "cancelled"
            break
        if i < len(points):
            if points[i].status == "finished" and points[i].width is None:
                data = data or load_splits(spec.data.name, spec.data.params, spec.seed, state.log)
                status = _measure_point_width(spec, points[i], data, width_objects, probes, tol, state)
                summary.write(points, "running")
                if status == "cancelled":
                    break
            continue
        try:
            gap = _mean_gap(points) if value == MEAN else float(value)
            label = point_label(value, gap)
            point = point_spec(spec, gap)
        except EnsguiError as exc:
            summary.write(points, "failed", str(exc))
            raise
        state.emit(SweepPoint(i, len(plan.gaps), label))
        state.log(f"gap sweep point {i + 1}/{len(plan.gaps)}: gap {label}")
        path = workspace.new_run_path(point.name)
        result = run_to_file(point, path, state, threads)
        if result.status == "cancelled":
            status = "cancelled"
            state.log(f"gap sweep cancelled during gap {label}; its run is kept but not in the summary")
            break
        if result.status == "failed":
            error = f"gap {label}: {result.error}"
            summary.write(points, "failed", error)
            raise EnsguiError(error)
        record = PointRecord(label, gap, path, result.status)
        points.append(record)
        if result.status == "finished":
            record.row = final_row(path)
            record.values = point_values(path, record.row)
            data = data or load_splits(spec.data.name, spec.data.params, spec.seed, state.log)
            status = _measure_point_width(spec, record, data, width_objects, probes, tol, state)
        summary.write(points, "running")
        if status == "cancelled":
            break
    summary.write(points, status)
    state.emit(SweepDone(summary.path))
    return summary.path


def _measure_point_width(spec: Spec, point: PointRecord, data: DataSplits, width_objects: int, probes: int,
                         tol: float, state: TaskState) -> str:
    """Measure and store a finished point's width; "cancelled" when a stop came first (the point keeps no width)."""
    net_spec = point_spec(spec, point.gap)
    try:
        point.width = measure_run_width(net_spec, point.run, data, resolve_device(net_spec.device), width_objects,
                                        probes, tol, state)
    except CancelledError:
        state.log(f"gap sweep cancelled while measuring the width of gap {point.label}; the point is kept without it")
        return "cancelled"
    return "finished"


def _mean_gap(points: Sequence[PointRecord]) -> float:
    zero = points[0] if points and points[0].label == "0" else None  # plan_sweep puts gap 0 first for 'mean'
    if zero is None or zero.status != "finished":
        raise EnsguiError("the gap 'mean' needs the gap-0 point, which did not finish; fix that run or drop 'mean'")
    gap = mean_train_margin(zero.run, row=zero.row)
    if not np.isfinite(gap) or gap < 0:
        raise SpecError(f"the gap 'mean' is the mean training margin of the gap-0 run, {gap:.4g}, but a gap must be "
                        f">= 0; train longer (budget.epochs) or drop 'mean'")
    return float(gap)


# ---------------------------------------------------------------- the numbers of a point


def final_row(path: Path) -> int:
    """The ensemble row of member 0's last snapshot: the net whose weights read_final_weights returns."""
    final = final_snapshot(path)
    if final is None:
        raise RunFileError(f"{path} holds no stored weights of member 0")
    return final.row


def point_values(path: Path, row: int) -> dict[str, float]:
    """Mean margin, train and test accuracy and both misclassification ROC-AUCs of one row of a run file."""
    values = {name: float("nan") for name in SCALARS}
    margins = read_margins(path)
    if "train" in margins:
        train = margins["train"].raw[row].astype(np.float64)
        values["mean_margin"] = float(train.mean())
        values["train_acc"] = float(np.mean(train > 0))
    test = read_run(path, with_probs=True).eval.get("test")
    if test is not None and test.probs is not None and len(test.probs) > row:
        probs, labels = test.probs[row], test.labels
        correct = probs.argmax(1) == labels
        values["test_acc"] = float(correct.mean())
        values["auroc_prob"] = auroc(probs, labels, score="maxprob")
        values["auroc_margin"] = misclassification_auroc_by_margin(predicted_margins(probs), correct)
    return values


def predicted_margins(probs: np.ndarray) -> np.ndarray:
    """Label-free margins l_(1) - l_(2) of the predicted class, as log p_(1) - log p_(2) (softmax keeps logit
    differences). The true-label margin cannot score misclassification: its sign is correctness itself."""
    logs = np.log(np.maximum(np.asarray(probs, dtype=np.float64), PROB_FLOOR))
    top_two = np.sort(logs, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def _gap_text(gap: GapValue) -> str:
    return gap if isinstance(gap, str) else f"{float(gap):g}"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


__all__ = ["final_row", "point_values", "predicted_margins", "resume_gap_sweep", "run_gap_sweep"]
