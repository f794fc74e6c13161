"""Gap sweeps on disk: every point is an ordinary run file with its width (/analysis/width), plus one summary file
per sweep; storage only (the sweep task in ensgui.tasks.sweep trains and measures)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from ..engine.errors import RunFileError
from ..engine.events import Artefact
from ..engine.spec import Spec
from ..engine.width import TraceEstimate, WidthResult
from ..text import printable
from . import layout as L
from .file_checks import FLOAT, TEXT, FileDamage, UnreadableFile, number_attr, read_dataset, read_file, text_attr
from .reader import (OPEN_OPTIONS, attr_line, attr_text, one_line, process_start, read_artefact, shown_attr,
                     writer_alive)
from .writer import store_artefact
from .workspace import creating_path

SWEEP_KIND = L.SWEEP_KIND
SWEEP_FILE = "gap-sweep summary"
SWEEP_FORMAT = 1
WIDTH_ARTEFACT = "width"  # /analysis/width: attributes only (trace means, standard errors, probe counts)
WIDTH = f"{L.ANALYSIS}/{WIDTH_ARTEFACT}"
TRACES = ("hessian", "fisher_true", "fisher_empirical")
SCALARS = ("mean_margin", "train_acc", "test_acc", "auroc_prob", "auroc_margin")
STRINGS = ("labels", "runs", "statuses")
STRING = h5py.string_dtype("utf-8")


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
class PointRecord:
    """One finished point as the summary keeps it: its gap, its run file and the numbers of its member 0."""

    label: str
    gap: float
    run: Path
    status: str
    row: int = 0  # the ensemble row of member 0's final weights
    values: dict[str, float] = field(default_factory=lambda: {name: float("nan") for name in SCALARS})
    width: WidthResult | None = None


# ---------------------------------------------------------------- width in a run file


def width_artefact(result: WidthResult, meta: dict[str, Any]) -> Artefact:
    """A width measurement as the run file stores it: trace mean, standard error and samples as attributes."""
    attrs: dict[str, Any] = {}
    for name, estimate in zip(TRACES, (result.hessian, result.fisher_true, result.fisher_empirical)):
        attrs.update({f"{name}_mean": estimate.mean, f"{name}_stderr": estimate.stderr,
                      f"{name}_samples": int(estimate.samples)})
    return Artefact(WIDTH_ARTEFACT, {}, {**attrs, "objects": int(result.objects), **meta})


def write_width(path: Path | str, result: WidthResult, meta: dict[str, Any]) -> None:
    """Store a width measurement as /analysis/width of an ended run (replacing an earlier one)."""
    store_artefact(path, width_artefact(result, meta))


def width_from_artefact(artefact: Artefact) -> WidthResult:
    a = artefact.attrs
    traces = [TraceEstimate(float(a[f"{n}_mean"]), float(a[f"{n}_stderr"]), int(a[f"{n}_samples"])) for n in TRACES]
    return WidthResult(*traces, objects=int(a["objects"]))


def read_width(path: Path | str) -> WidthResult | None:
    """The width stored in a run file, or None when it has none."""
    artefact = read_artefact(path, WIDTH_ARTEFACT)
    return None if artefact is None else width_from_artefact(artefact)


# ---------------------------------------------------------------- writing a summary


class SummaryFile:
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

    def write(self, points: Sequence[PointRecord], status: str, error: str = "") -> None:
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
            creating_path(self.path).unlink(missing_ok=True)  # the name's reservation (Workspace.new_sweep_path)
        except OSError as exc:
            raise RunFileError(f"cannot write the sweep summary {self.path}: {one_line(exc)}") from None


# ---------------------------------------------------------------- reading a summary


def read_sweep(path: Path | str) -> SweepData:
    """A gap sweep's summary file; RunFileError with one line for a missing, foreign or damaged file."""
    path = Path(path)
    return read_file(path, SWEEP_FILE, lambda f: _sweep_in(f, path))


def _check_sweep_kind(a: h5py.AttributeManager, path: Path) -> None:
    """UnreadableFile unless the file says it is a gap-sweep summary of a format this ensgui reads."""
    if attr_text(a.get("kind")) != SWEEP_KIND:
        raise UnreadableFile(path, f"is not a gap-sweep summary (no kind = '{SWEEP_KIND}')",
                             "show a run file under a name that ends in .h5 but not .sweep.h5")
    version = number_attr(a, "sweep_format", int, 0)
    if version > SWEEP_FORMAT:
        raise UnreadableFile(path, f"has sweep format {version}, newer than the {SWEEP_FORMAT} this ensgui reads",
                             "open it with a newer ensgui")


def _sweep_arrays(f: h5py.File) -> dict[str, np.ndarray]:
    """Every per-point dataset, checked: text or numbers as the layout says, and one entry per point in each."""
    arrays = {name: read_dataset(f, name, FLOAT, (None,)) for name in ("gaps", *SCALARS)}
    arrays.update({name: read_dataset(f, name, TEXT, (None,)) for name in STRINGS})
    arrays.update({name: read_dataset(f, name, FLOAT, (None, 2)) for name in TRACES})
    n = arrays["gaps"].shape[0]
    if any(len(v) != n for v in arrays.values()):
        raise FileDamage("its datasets have different numbers of points")
    return arrays


def _sweep_in(f: h5py.File, path: Path) -> SweepData:
    """read_sweep of a file that is open."""
    a = f.attrs
    _check_sweep_kind(a, path)
    arrays = _sweep_arrays(f)
    status = attr_line(a, "status") or "running"
    if status == "running" and not writer_alive(a, path):
        status = L.STATUS_INCOMPLETE
    known = {"kind", "sweep_format", "spec", "created", "status", "requested", "error", "width_objects"}
    return SweepData(
        path=path, spec_toml=printable(text_attr(a, "spec"), lines=True), created=attr_line(a, "created"),
        status=status, requested=attr_line(a, "requested"), error=attr_line(a, "error"),
        width_objects=number_attr(a, "width_objects", int, 0), gaps=np.asarray(arrays["gaps"], dtype=np.float64),
        **{name: [printable(attr_text(v)) for v in arrays[name]] for name in STRINGS},
        **{name: np.asarray(arrays[name], dtype=np.float64) for name in (*SCALARS, *TRACES)},
        extra={k: shown_attr(v) for k, v in a.items() if k not in known},
    )


# ---------------------------------------------------------------- small helpers


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


__all__ = ["PointRecord", "SWEEP_KIND", "SummaryFile", "SweepData", "read_sweep", "read_width", "width_artefact",
           "write_width"]
