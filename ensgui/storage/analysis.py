"""Analyses stored in a finished run file under /analysis/ (interpolation), and computing them from its snapshots."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import h5py
import numpy as np
import torch

from ..engine.data import load_splits
from ..engine.errors import CancelledError, EnsguiError, RunFileError, SpecError
from ..engine.interpolation import (DEFAULT_TRAIN_OBJECTS, InterpolationResult, build_model, interpolate,
                                    lambda_grid, pair_label, snapshot_name, train_subset_size)
from ..engine.models import has_batchnorm
from ..engine.runner import resolve_device
from . import layout as L
from .writer import open_for_append
from .reader import SnapshotInfo, open_run, read_run, read_snapshot, writer_alive

ANALYSIS = "analysis"
INTERPOLATION = f"{ANALYSIS}/interpolation"
ATTR_A = "a"
ATTR_B = "b"
ATTR_POINTS = "points"
ATTR_TRAIN_OBJECTS = "train_objects"
ATTR_CREATED = "created"

# What every interpolation stores besides the meta it is given; the label must be one HDF5 link name.
_FORBIDDEN_IN_LABEL = ("/",)


class StoredInterpolation(NamedTuple):
    """One stored interpolation: its curves and its attributes (unpacks as (arrays, attrs))."""

    result: InterpolationResult
    attrs: dict[str, Any]


def _check_label(label: str) -> None:
    if not label or label in (".", "..") or any(c in label for c in _FORBIDDEN_IN_LABEL):
        raise ValueError(f"{label!r} is not a valid analysis label: it must be non-empty and contain no '/'")


def _attr_value(value: Any) -> Any:
    """Meta values as HDF5 attributes: text, numbers and booleans pass; anything else is stored as text."""
    if isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return str(value)


def _python(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_interpolation(path: Path | str, label: str, result: InterpolationResult,
                        meta: Mapping[str, Any]) -> None:
    """Store one interpolation as /analysis/interpolation/<label>, replacing only an earlier one of that label.

    The run must have ended: a file whose status is "running" is refused with RunFileError, because its
    writer (the only writer while it trains) may open it at any moment. Nothing outside the label's group
    is changed.
    """
    path = Path(path)
    _check_label(label)
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in result.arrays().items()}
    if len({a.shape for a in arrays.values()}) != 1 or arrays["lambdas"].ndim != 1:
        raise ValueError("an interpolation's arrays must be 1-D and of one length")
    if not path.is_file():
        raise RunFileError(f"{path} does not exist or is not a file; analyses are stored in an existing run file")
    try:
        f = open_for_append(path)
    except OSError as exc:
        raise RunFileError(f"cannot open {path} to store the interpolation: {_one_line(exc)}") from None
    try:
        if f.attrs.get(L.ATTR_FORMAT) is None:
            raise RunFileError(f"{path} is not an ensgui run file (no '{L.ATTR_FORMAT}' attribute)")
        status = _python(f.attrs.get(L.ATTR_STATUS)) or L.STATUS_RUNNING
        if status == L.STATUS_RUNNING:
            why = ("is still being written by its run" if writer_alive(f.attrs, path)
                   else "says 'running' but its writer has stopped (an incomplete run)")
            raise RunFileError(f"{path} {why}; analyses are stored only in runs that have ended")
        group = f[INTERPOLATION] if INTERPOLATION in f else _create_ordered(f)
        if label in group:
            del group[label]
        target = group.create_group(label)
        for name, values in arrays.items():
            target.create_dataset(name, data=values)
        for key, value in meta.items():
            target.attrs[str(key)] = _attr_value(value)
        target.attrs[ATTR_POINTS] = int(arrays["lambdas"].shape[0])
        target.attrs.setdefault(ATTR_CREATED, datetime.now().astimezone().isoformat(timespec="seconds"))
        f.flush()
    except (OSError, ValueError, KeyError) as exc:
        raise RunFileError(f"cannot store the interpolation in {path}: {_one_line(exc)}") from None
    finally:
        f.close()


def _create_ordered(f: h5py.File) -> h5py.Group:
    # Creation order, not HDF5's alphabetical order, is the order the curves were computed and are listed in.
    parent = f.require_group(ANALYSIS)
    return parent.create_group("interpolation", track_order=True)


def read_interpolations(path: Path | str) -> dict[str, StoredInterpolation]:
    """Every stored interpolation of a run, label -> (curves, attributes), in the order they were stored."""
    out: dict[str, StoredInterpolation] = {}
    with open_run(path) as f:
        group = f.get(INTERPOLATION)
        if not isinstance(group, h5py.Group):
            return out
        for label, item in group.items():
            if not isinstance(item, h5py.Group) or any(n not in item for n in InterpolationResult.ARRAYS):
                continue  # a foreign or half-written entry: show what is complete
            values = {name: np.asarray(item[name][()], dtype=np.float64) for name in InterpolationResult.ARRAYS}
            out[label] = StoredInterpolation(InterpolationResult(**values),
                                             {key: _python(value) for key, value in item.attrs.items()})
    return out


def interpolation_meta(a: SnapshotInfo, b: SnapshotInfo, train_objects: int, **extra: Any) -> dict[str, Any]:
    """The attributes an interpolation of snapshot a → b is stored with."""
    meta: dict[str, Any] = {
        ATTR_A: snapshot_name(a.member, a.index), ATTR_B: snapshot_name(b.member, b.index),
        "a_member": int(a.member), "a_index": int(a.index), "a_epoch": int(a.epoch),
        "b_member": int(b.member), "b_index": int(b.index), "b_epoch": int(b.epoch),
        ATTR_TRAIN_OBJECTS: int(train_objects),
    }
    meta.update(extra)
    return meta


# progress(done, total, text) over all pairs; on_result(label, result, attrs) after each stored pair.
PairsProgress = Callable[[int, int, str], None]
ResultCallback = Callable[[str, InterpolationResult, dict[str, Any]], None]


def compute_interpolations(path: Path | str, pairs: Sequence[tuple[SnapshotInfo, SnapshotInfo]], points: int,
                           train_objects: int = DEFAULT_TRAIN_OBJECTS, device: str | None = None,
                           progress: PairsProgress | None = None, should_stop: Callable[[], bool] | None = None,
                           on_result: ResultCallback | None = None) -> list[str]:
    """Interpolate every pair of a run's snapshots and store each as soon as it is done; returns the labels.

    The data are the run's own (its spec's dataset, split and seed). A cancel (CancelledError) keeps the
    pairs already stored. Raises EnsguiError subclasses for what the user can fix.
    """
    path = Path(path)
    stop = should_stop or (lambda: False)
    if not pairs:
        raise ValueError("no snapshot pairs to interpolate")
    lambdas = lambda_grid(points)
    run = read_run(path, with_probs=False)
    if run.spec is None:
        raise RunFileError(f"{path} holds a spec this ensgui cannot rebuild, so its model and data are unknown")
    if run.summary.status in (L.STATUS_RUNNING, L.STATUS_INCOMPLETE):
        raise RunFileError(f"{path} has not ended (status {run.summary.status}); analyses are stored only in "
                           f"runs that have ended")
    spec = run.spec
    try:
        target = resolve_device(device or spec.device)
    except SpecError:
        target = torch.device("cpu")  # a run trained on a GPU is still analysable on a machine without one
    report = progress or (lambda done, total, text: None)
    total = len(pairs) * len(lambdas)
    report(0, total, f"loading {spec.data.name}")
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    used = train_subset_size(data, train_objects)
    batchnorm = has_batchnorm(build_model(spec, data))
    labels: list[str] = []
    for i, (a, b) in enumerate(pairs):
        if stop():
            raise CancelledError("interpolation cancelled by the user")
        started = time.monotonic()
        text = f"{snapshot_name(a.member, a.index)} → {snapshot_name(b.member, b.index)}"
        base = i * len(lambdas)
        report(base, total, text)
        state_a, state_b = read_snapshot(path, a.member, a.index), read_snapshot(path, b.member, b.index)
        try:
            result = interpolate(spec, state_a, state_b, lambdas, data, target,
                                 progress=lambda done, n, base=base, text=text: report(base + done, total, text),
                                 should_stop=stop, train_objects=used)
        except ValueError as exc:
            raise EnsguiError(f"cannot interpolate {text}: {exc}") from None
        label = pair_label(a, b)
        meta = interpolation_meta(a, b, used, test_objects=int(len(data.test_y)), batchnorm=batchnorm,
                                  device=str(target), seconds=round(time.monotonic() - started, 3))
        write_interpolation(path, label, result, meta)
        labels.append(label)
        if on_result is not None:
            on_result(label, result, meta)
    return labels


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


__all__ = ["INTERPOLATION", "StoredInterpolation", "compute_interpolations", "interpolation_meta",
           "read_interpolations", "write_interpolation"]
