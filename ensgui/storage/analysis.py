"""Interpolations stored in a run file: artefacts interpolation/<pair label> with the curves along λ."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple

import h5py
import numpy as np

from ..engine.events import Artefact
from ..engine.interpolation import InterpolationResult, snapshot_name
from . import layout as L
from .reader import SnapshotInfo, artefacts_in, read_run_file
from .writer import store_artefact

INTERPOLATION_ARTEFACT = "interpolation"
INTERPOLATION = f"{L.ANALYSIS}/{INTERPOLATION_ARTEFACT}"
ATTR_A = "a"
ATTR_B = "b"
ATTR_POINTS = "points"
ATTR_TRAIN_OBJECTS = "train_objects"


class StoredInterpolation(NamedTuple):
    """One stored interpolation: its curves and its attributes (unpacks as (arrays, attrs))."""

    result: InterpolationResult
    attrs: dict[str, Any]


def write_interpolation(path: Path | str, label: str, result: InterpolationResult,
                        meta: Mapping[str, Any]) -> None:
    """Store one interpolation as /analysis/interpolation/<label>, replacing only an earlier one of that label.

    The run must have ended (see writer.store_artefact); nothing outside the label's group is changed.
    """
    if not label or "/" in label or label in (".", ".."):
        raise ValueError(f"{label!r} is not a valid analysis label: it must be non-empty and contain no '/'")
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in result.arrays().items()}
    if len({a.shape for a in arrays.values()}) != 1 or arrays["lambdas"].ndim != 1:
        raise ValueError("an interpolation's arrays must be 1-D and of one length")
    attrs = {**meta, ATTR_POINTS: int(arrays["lambdas"].shape[0])}
    store_artefact(path, Artefact(f"{INTERPOLATION_ARTEFACT}/{label}", arrays, attrs))


def stored_interpolations(artefacts: Mapping[str, Artefact]) -> dict[str, StoredInterpolation]:
    """The complete interpolations among artefacts named interpolation/<label> (read from a file, or emitted by
    the task as it stores them), label -> (curves, attributes), in the order given."""
    out: dict[str, StoredInterpolation] = {}
    prefix = f"{INTERPOLATION_ARTEFACT}/"
    for name, artefact in artefacts.items():
        if not name.startswith(prefix) or any(n not in artefact.arrays for n in InterpolationResult.ARRAYS):
            continue  # a foreign or half-written entry: show what is complete
        values = {n: np.asarray(artefact.arrays[n], dtype=np.float64) for n in InterpolationResult.ARRAYS}
        out[name[len(prefix):]] = StoredInterpolation(InterpolationResult(**values), dict(artefact.attrs))
    return out


def interpolations_in(f: h5py.File) -> dict[str, StoredInterpolation]:
    """Every complete interpolation of an open run file, label -> (curves, attributes), in the order stored."""
    return stored_interpolations(artefacts_in(f, INTERPOLATION_ARTEFACT))


def read_interpolations(path: Path | str) -> dict[str, StoredInterpolation]:
    """Every stored interpolation of a run, label -> (curves, attributes), in the order they were stored."""
    return read_run_file(path, interpolations_in)


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


__all__ = ["INTERPOLATION", "StoredInterpolation", "interpolation_meta", "interpolations_in", "read_interpolations",
           "stored_interpolations", "write_interpolation"]
