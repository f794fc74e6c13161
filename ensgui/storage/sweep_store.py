"""Gap sweeps on disk: every point as an ordinary run file with its width, and one summary file per sweep."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

import h5py
import numpy as np
import torch

from ..engine.errors import CancelledError, EnsguiError, RunFileError, SpecError
from ..engine.events import LogLine, Sink
from ..engine.margins import logit_margins, misclassification_auroc_by_margin
from ..engine.metrics import auroc
from ..engine.spec import Spec
from ..engine.sweep import (DEFAULT_WIDTH_OBJECTS, MEAN, MIN_PROBES, GapValue, SweepPlan, WidthResult, measure_width,
                            parse_gap_values, plan_sweep, point_label, point_spec, trained_net, width_subset)
from ..engine.width import DEFAULT_MAX_ITER, DEFAULT_TOL, TraceEstimate
from . import layout as L
from .writer import open_for_append
from .reader import (OPEN_OPTIONS, final_snapshot, mean_train_margin, open_run, process_start, read_final_weights,
                     read_margins, read_run, writer_alive)
from .workspace import Workspace

SWEEP_KIND = "gap_sweep"
SWEEP_FORMAT = 1
WIDTH = "analysis/width"
TRACES = ("hessian", "fisher_true", "fisher_empirical")
SCALARS = ("mean_margin", "train_acc", "test_acc", "auroc_prob", "auroc_margin")
STRINGS = ("labels", "runs", "statuses")
STRING = h5py.string_dtype("utf-8")
PROB_FLOOR = 1e-45

# on_point(i, n, label) before point i of n is trained.
PointCallback = Callable[[int, int, str], None]


@dataclass
class SweepData:
    """A gap sweep's summary; arrays hold one entry per finished point, in training order (gap 0 first when
    'mean' is asked for). Every number is of the run's member 0 (its last snapshot's row)."""

    path: Path
    spec_toml: str
    created: str
    status: str  # running, finished, cancelled, failed (incomplete: "running" but its writer is gone)
    requested: str  # the gap list as asked, e.g. "0, 0.5, mean"
    error: str
    width_objects: int
    gaps: np.ndarray  # float64 (n,): resolved gaps
    labels: list[str]  # "0", "0.5", "mean = 2.31"
    runs: list[str]  # run file names, in the summary's folder
    statuses: list[str]  # end status of each point's run (finished or diverged)
    mean_margin: np.ndarray  # float64 (n,): mean raw training margin
    train_acc: np.ndarray  # float64 (n,): fraction of positive training margins
    test_acc: np.ndarray
    auroc_prob: np.ndarray  # misclassification ROC-AUC with the max probability as the score
    auroc_margin: np.ndarray  # ... with the predicted-class margin l_(1) - l_(2) as the score
    hessian: np.ndarray  # float64 (n, 2): trace mean and standard error
    fisher_true: np.ndarray
    fisher_empirical: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.gaps.shape[0])

    def run_paths(self) -> list[Path]:
        return [self.path.parent / name for name in self.runs]

    def order(self) -> np.ndarray:
        """Indices that sort the points by gap (for drawing against the gap)."""
        return np.argsort(self.gaps, kind="stable")


@dataclass
class _Point:
    label: str
    gap: float
    run: Path
    status: str
    row: int = 0
    values: dict[str, float] = field(default_factory=lambda: {name: float("nan") for name in SCALARS})
    width: WidthResult | None = None


# ---------------------------------------------------------------- width in a run file


def write_width(path: Path | str, result: WidthResult, meta: dict[str, Any]) -> None:
    """Store a width measurement as /analysis/width of an ended run (replacing an earlier one)."""
    path = Path(path)
    try:
        f = open_for_append(path)
    except OSError as exc:
        raise RunFileError(f"cannot open {path} to store the width: {_one_line(exc)}") from None
    try:
        status = _text(f.attrs.get(L.ATTR_STATUS)) or L.STATUS_RUNNING
        if status == L.STATUS_RUNNING:
            why = ("is still being written by its run" if writer_alive(f.attrs, path)
                   else "says 'running' but its writer has stopped (an incomplete run)")
            raise RunFileError(f"{path} {why}; the width is stored only in runs that have ended")
        if WIDTH in f:
            del f[WIDTH]
        group = f.require_group(WIDTH)
        for name, estimate in zip(TRACES, (result.hessian, result.fisher_true, result.fisher_empirical)):
            group.attrs[f"{name}_mean"] = estimate.mean
            group.attrs[f"{name}_stderr"] = estimate.stderr
            group.attrs[f"{name}_samples"] = int(estimate.samples)
        group.attrs["objects"] = int(result.objects)
        for key, value in meta.items():
            group.attrs[key] = value
        group.attrs["created"] = _now()
        f.flush()
    except (OSError, ValueError, KeyError) as exc:
        raise RunFileError(f"cannot store the width in {path}: {_one_line(exc)}") from None
    finally:
        f.close()


def read_width(path: Path | str) -> WidthResult | None:
    """The width stored in a run file, or None when it has none."""
    with open_run(path) as f:
        if WIDTH not in f:
            return None
        a = f[WIDTH].attrs
        traces = [TraceEstimate(float(a[f"{n}_mean"]), float(a[f"{n}_stderr"]), int(a[f"{n}_samples"]))
                  for n in TRACES]
        return WidthResult(*traces, objects=int(a["objects"]))


# ---------------------------------------------------------------- metrics of a point


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
    # Clamped at float32's smallest subnormal so that an underflowed probability stays finite.
    logs = torch.from_numpy(np.log(np.maximum(np.asarray(probs, dtype=np.float64), PROB_FLOOR)))
    return logit_margins(logs, logs.argmax(1)).numpy()


# ---------------------------------------------------------------- running a sweep


class _SummaryFile:
    """Rewrites the summary atomically (temporary file + os.replace), so a killed sweep leaves the last good one."""

    def __init__(self, path: Path, spec: Spec, requested: str, width_objects: int, probes: int, tol: float,
                 planned: int, added_zero: bool) -> None:
        self.path = path
        self.attrs: dict[str, Any] = {
            "kind": SWEEP_KIND, "sweep_format": SWEEP_FORMAT, "spec": spec.to_toml(), "created": _now(),
            "requested": requested, "width_objects": int(width_objects), "probes": int(probes), "tol": float(tol),
            "planned": int(planned), "added_zero": bool(added_zero),
            # Who writes it, so that a reader can tell a sweep that is still running from one whose process died.
            L.ATTR_PID: os.getpid(), L.ATTR_HOSTNAME: socket.gethostname(),
        }
        start = process_start(os.getpid())
        if start is not None:
            self.attrs[L.ATTR_PROCESS_START] = start

    def write(self, points: Sequence[_Point], status: str, error: str = "") -> None:
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with h5py.File(temporary, "w", **OPEN_OPTIONS) as f:
                for key, value in self.attrs.items():
                    f.attrs[key] = value
                f.attrs["status"] = status
                if error:
                    f.attrs["error"] = error
                f.create_dataset("gaps", data=np.array([p.gap for p in points], dtype=np.float64))
                f.create_dataset("labels", data=np.array([p.label for p in points], dtype=object), dtype=STRING)
                f.create_dataset("runs", data=np.array([p.run.name for p in points], dtype=object), dtype=STRING)
                f.create_dataset("statuses", data=np.array([p.status for p in points], dtype=object), dtype=STRING)
                for name in SCALARS:
                    f.create_dataset(name, data=np.array([p.values[name] for p in points], dtype=np.float64))
                for name in TRACES:
                    rows = [(getattr(p.width, name).mean, getattr(p.width, name).stderr) if p.width else
                            (np.nan, np.nan) for p in points]
                    f.create_dataset(name, data=np.array(rows, dtype=np.float64).reshape(len(points), 2))
            os.replace(temporary, self.path)
        except OSError as exc:
            raise RunFileError(f"cannot write the sweep summary {self.path}: {_one_line(exc)}") from None


def run_gap_sweep(spec: Spec, gaps: Sequence[GapValue], folder: Path, sinks: Sequence[Sink] = (),
                  stop: threading.Event | None = None, threads: int | None = None,
                  width_objects: int = DEFAULT_WIDTH_OBJECTS, on_point: PointCallback | None = None,
                  probes: int = DEFAULT_MAX_ITER, tol: float = DEFAULT_TOL) -> Path:
    """Train one run per gap (the sinks see every point's events), measure each point's width, and keep the
    summary <stamp>-<name>.sweep.h5 in folder up to date after every point; returns the summary's path.

    "mean" is the mean training margin of the gap-0 point, which is therefore trained first. A set stop ends
    the sweep after the current point (status cancelled); a failing point raises EnsguiError after the
    summary is marked failed; a diverged point is kept with its status and no numbers.
    """
    plan = plan_sweep(gaps)
    if width_objects < 1:
        raise SpecError(f"width objects = {width_objects} is invalid: must be an integer >= 1 (2000 by methods.md)")
    if probes < 1:
        raise SpecError(f"probes = {probes} is invalid: must be an integer >= 1 (at most 100 by methods.md)")
    summary = _SummaryFile(Workspace(folder).new_sweep_path(spec.name), spec, ", ".join(map(_gap_text, gaps)),
                           width_objects, probes, tol, len(plan.gaps), plan.added_zero)
    return _sweep(spec, plan, summary, [], sinks, stop, threads, on_point)


def resume_gap_sweep(path: Path | str, sinks: Sequence[Sink] = (), stop: threading.Event | None = None,
                     threads: int | None = None, on_point: PointCallback | None = None) -> Path:
    """Go on with a sweep that was cancelled, failed or whose process died: its stored points are kept (a finished
    point without its width gets the width measured), the rest are trained with the spec, gaps and width settings
    stored in the summary, which is updated in place. A finished sweep is returned as it is."""
    earlier = read_sweep(path)
    if earlier.status == "finished":
        return earlier.path
    if earlier.status == L.STATUS_RUNNING:
        raise RunFileError(f"{earlier.path} is still being written by a running sweep; wait for it or cancel it first")
    try:
        spec = Spec.from_toml(earlier.spec_toml)
        plan = plan_sweep(parse_gap_values(earlier.requested))
        probes, tol = int(earlier.extra["probes"]), float(earlier.extra["tol"])
    except (EnsguiError, KeyError, ValueError) as exc:
        raise RunFileError(f"{earlier.path} cannot be resumed, its settings are unreadable ({_one_line(exc)}); "
                           f"start a new sweep") from None
    for label, run in zip(earlier.labels, earlier.run_paths()):
        if not run.is_file():
            raise RunFileError(f"{earlier.path} cannot be resumed: its point {label} has lost its run file "
                               f"{run.name}; put the file back or start a new sweep")
    points = [_Point(label, float(gap), earlier.path.parent / run, status, row=-1,
                     values={name: float(getattr(earlier, name)[i]) for name in SCALARS},
                     width=_stored_width(earlier, i))
              for i, (label, gap, run, status) in enumerate(zip(earlier.labels, earlier.gaps, earlier.runs,
                                                                 earlier.statuses))]
    for point in points:
        if point.status == "finished":
            point.row = final_row(point.run)
    summary = _SummaryFile(earlier.path, spec, earlier.requested, earlier.width_objects, probes, tol,
                           len(plan.gaps), plan.added_zero)
    summary.attrs["created"] = earlier.created
    summary.attrs["resumed"] = _now()
    return _sweep(spec, plan, summary, points, sinks, stop, threads, on_point)


def _stored_width(sweep: SweepData, i: int) -> WidthResult | None:
    traces = [getattr(sweep, name)[i] for name in TRACES]
    if not all(np.isfinite(t[0]) for t in traces):
        return None
    # The summary keeps mean and standard error; the probe counts live in the run file's /analysis/width.
    stored = read_width(sweep.run_paths()[i])
    if stored is not None:
        return stored
    return WidthResult(*(TraceEstimate(float(t[0]), float(t[1]), 0) for t in traces), objects=sweep.width_objects)


def _sweep(spec: Spec, plan: SweepPlan, summary: _SummaryFile, points: list[_Point], sinks: Sequence[Sink],
           stop: threading.Event | None, threads: int | None, on_point: PointCallback | None) -> Path:
    """Train the plan's points after those already in points, keeping the summary up to date."""
    from ..engine.data import load_splits
    from ..engine.runner import resolve_device, run_spec
    from .writer import RunWriter

    stop = stop or threading.Event()
    report = list(sinks)
    width_objects, probes, tol = summary.attrs["width_objects"], summary.attrs["probes"], summary.attrs["tol"]

    def log(text: str) -> None:
        for sink in report:
            sink(LogLine(text))

    workspace = Workspace(summary.path.parent)
    summary.write(points, "running")
    if plan.added_zero and not points:
        log("gap sweep: added gap 0, whose mean training margin is the gap 'mean'")
    if points:
        log(f"gap sweep resumed: {len(points)} of {len(plan.gaps)} points kept from {summary.path.name}")
    data = None
    status = "finished"
    for i, value in enumerate(plan.gaps):
        if stop.is_set():
            status = "cancelled"
            break
        if i < len(points):
            if points[i].status == "finished" and points[i].width is None:
                data = _loaded(data, spec, load_splits)
                status = _measure_point_width(spec, points[i], data, width_objects, probes, tol, stop, log,
                                              resolve_device)
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
        if on_point is not None:
            on_point(i, len(plan.gaps), label)
        log(f"gap sweep point {i + 1}/{len(plan.gaps)}: gap {label}")
        path = workspace.new_run_path(point.name)
        result = run_spec(point, [RunWriter(path), *report], stop, threads, load_run_weights=read_final_weights,
                          mean_train_margin=mean_train_margin)
        if result.status == "cancelled":
            status = "cancelled"
            log(f"gap sweep cancelled during gap {label}; its run is kept but not in the summary")
            break
        if result.status == "failed":
            error = f"gap {label}: {result.error}"
            summary.write(points, "failed", error)
            raise EnsguiError(error)
        record = _Point(label, gap, path, result.status)
        points.append(record)
        if result.status == "finished":
            record.row = final_row(path)
            record.values = point_values(path, record.row)
            data = _loaded(data, spec, load_splits)
            status = _measure_point_width(spec, record, data, width_objects, probes, tol, stop, log, resolve_device)
        summary.write(points, "running")
        if status == "cancelled":
            break
    summary.write(points, status)
    return summary.path


def _loaded(data: Any, spec: Spec, load_splits: Callable) -> Any:
    """The data for width measurements, loaded once per sweep and only when a width is measured."""
    return load_splits(spec.data.name, spec.data.params, spec.seed) if data is None else data


def _measure_point_width(spec: Spec, point: _Point, data: Any, width_objects: int, probes: int, tol: float,
                         stop: threading.Event, log: Callable[[str], None], resolve_device: Callable) -> str:
    """Measure and store a finished point's width; "cancelled" when a stop came first (the point keeps no width)."""
    net_spec = point_spec(spec, point.gap)
    try:
        point.width = _width(net_spec, point.run, data, resolve_device(net_spec.device), width_objects, probes, tol,
                             stop, log)
    except CancelledError:
        log(f"gap sweep cancelled while measuring the width of gap {point.label}; the point is kept without it")
        return "cancelled"
    return "finished"


def _mean_gap(points: Sequence[_Point]) -> float:
    zero = points[0] if points and points[0].label == "0" else None  # plan_sweep puts gap 0 first for 'mean'
    if zero is None or zero.status != "finished":
        raise EnsguiError("the gap 'mean' needs the gap-0 point, which did not finish; fix that run or drop 'mean'")
    gap = mean_train_margin(zero.run, row=zero.row)
    if not np.isfinite(gap) or gap < 0:
        raise SpecError(f"the gap 'mean' is the mean training margin of the gap-0 run, {gap:.4g}, but a gap must be "
                        f">= 0; train longer (budget.epochs) or drop 'mean'")
    return float(gap)


def _width(spec: Spec, path: Path, data: Any, device: Any, objects: int, probes: int, tol: float,
           stop: threading.Event, log: Callable[[str], None]) -> WidthResult:
    started = time.monotonic()
    x, y = width_subset(data.train_x, data.train_y, objects)
    log(f"measuring the width (Hessian and Fisher traces of CE) on {len(y)} training objects")
    model = trained_net(spec, data.input_shape, data.num_classes, read_final_weights(path), device)
    result = measure_width(model, x.to(device), y.to(device), spec.evaluation["batch_size"], probes, tol,
                           seed=spec.seed, should_stop=stop.is_set)
    write_width(path, result, {"probes": int(probes), "min_probes": min(MIN_PROBES, int(probes)), "tol": float(tol),
                               "seed": int(spec.seed),
                               "device": str(device), "seconds": round(time.monotonic() - started, 3)})
    h, ft, fe = result.hessian, result.fisher_true, result.fisher_empirical
    log(f"width: tr H = {h.mean:.4g} ± {h.stderr:.2g} ({h.samples} probes), tr F = {ft.mean:.4g} ± {ft.stderr:.2g}, "
        f"empirical tr F = {fe.mean:.4g} ± {fe.stderr:.2g}")
    return result


# ---------------------------------------------------------------- reading a summary


def read_sweep(path: Path | str) -> SweepData:
    """A gap sweep's summary file; RunFileError with one line for a missing, foreign or damaged file."""
    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"{path} does not exist or is not a file")
    try:
        f = h5py.File(path, "r", **OPEN_OPTIONS)
    except OSError as exc:
        raise RunFileError(f"{path} is not a readable gap-sweep file (truncated or not HDF5): {_one_line(exc)}") \
            from None
    try:
        a = f.attrs
        if _text(a.get("kind")) != SWEEP_KIND:
            raise RunFileError(f"{path} is not a gap-sweep summary (no kind = '{SWEEP_KIND}'); open run files with "
                               f"`ensgui show` on the run itself")
        if int(a.get("sweep_format", 0)) > SWEEP_FORMAT:
            raise RunFileError(f"{path} has sweep format {int(a['sweep_format'])}, newer than the {SWEEP_FORMAT} this "
                               f"ensgui reads; update ensgui")
        arrays = {name: f[name][()] for name in ("gaps", *STRINGS, *SCALARS, *TRACES)}
        n = arrays["gaps"].shape[0]
        if any(len(v) != n for v in arrays.values()) or any(arrays[t].shape != (n, 2) for t in TRACES):
            raise RunFileError(f"{path} is damaged: its datasets have different numbers of points")
        status = _text(a.get("status")) or "running"
        if status == "running" and not writer_alive(a, path):
            status = L.STATUS_INCOMPLETE
        known = {"kind", "sweep_format", "spec", "created", "status", "requested", "error", "width_objects"}
        return SweepData(
            path=path, spec_toml=_text(a.get("spec")), created=_text(a.get("created")), status=status,
            requested=_text(a.get("requested")), error=_text(a.get("error")),
            width_objects=int(a.get("width_objects", 0)), gaps=np.asarray(arrays["gaps"], dtype=np.float64),
            **{name: [_text(v) for v in arrays[name]] for name in STRINGS},
            **{name: np.asarray(arrays[name], dtype=np.float64) for name in (*SCALARS, *TRACES)},
            extra={k: _python(v) for k, v in a.items() if k not in known},
        )
    except RunFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise RunFileError(f"{path} is damaged and cannot be read as a gap sweep: {_one_line(exc)}") from None
    finally:
        f.close()


# ---------------------------------------------------------------- small helpers


def _gap_text(gap: GapValue) -> str:
    return gap if isinstance(gap, str) else f"{float(gap):g}"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _python(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


__all__ = ["SWEEP_KIND", "SweepData", "final_row", "point_values", "read_sweep", "read_width", "resume_gap_sweep",
           "run_gap_sweep", "write_width"]
