"""The run file reader: summaries for run lists, full run data for the result screens, snapshots on demand."""

from __future__ import annotations

import os
import socket
import time
import tomllib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple, TypeVar

import h5py
import numpy as np

from ..engine.errors import RunFileError
from ..engine.events import Artefact
from ..engine.spec import Spec
from ..text import printable
from . import layout as L
from .file_checks import (FLOAT, INTEGER, OPEN_OPTIONS, RERUN, TEXT, FileDamage, UnreadableFile, check_dataset,
                          check_finite, dataset_at, group_at, number_attr, number_name, one_line, opened, read_dataset,
                          read_file, shown, subgroups, text_attr, text_list_attr, values)

T = TypeVar("T")
RUN_FILE = "run file"

# A writer on another machine cannot be asked whether it lives; a file untouched this long is taken for dead.
FOREIGN_WRITER_TIMEOUT_S = 600.0

# HDF5 refuses to open a file for writing while the same process holds it open read-only: the GUI thread
# reading a run's summary for the Runs list must delay a flush, not fail the run. Reads last milliseconds.
OPEN_RETRY_SECONDS = 5.0
OPEN_RETRY_PAUSE = 0.02


def open_for_append(path: Path) -> h5py.File:
    """Open a run file for writing, waiting out a read-only open of it elsewhere in this process."""
    deadline = time.monotonic() + OPEN_RETRY_SECONDS
    while True:
        try:
            return h5py.File(path, "a", **OPEN_OPTIONS)
        except OSError as exc:
            if "already open" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(OPEN_RETRY_PAUSE)


@dataclass
class RunSummary:
    path: Path
    name: str
    status: str  # running, finished, cancelled, failed, diverged, or incomplete (writer died)
    method: str
    dataset: str
    model: str
    created: str
    rows: int
    device: str
    headline: dict[str, float]  # test error, nll, cnll, ece of the full ensemble, where stored


@dataclass
class EvalData:
    probs: np.ndarray | None  # float32 (K, N, C); None when read without probabilities
    labels: np.ndarray
    curves: dict[str, np.ndarray]  # metric -> (K, 2) mean and std over member orders
    member_metrics: dict[str, np.ndarray]  # metric -> (K,)
    temperature: float | None
    partial: dict[int, float] = field(default_factory=dict)  # rows of members stopped in flight -> epoch reached


@dataclass
class RunData:
    path: Path
    summary: RunSummary
    spec_toml: str
    spec: Spec | None  # None when the stored spec no longer validates (e.g. a method was removed)
    error: str
    lr: np.ndarray
    snapshots: np.ndarray
    iters_per_epoch: int
    epochs: int
    members: int
    row_names: list[str]
    metrics: dict[int, dict[str, np.ndarray]]  # member -> name -> (n, 3) [global_step, epoch, value]
    eval: dict[str, EvalData]
    log: list[str]
    elapsed: float | None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class MarginsData:
    """Final margins of every ensemble row on one split (/analysis/margins/<split>)."""

    raw: np.ndarray  # float32 (K, N): l_y - max_{j != y} l_j
    normalized: np.ndarray  # float32 (K, N): the same on l / ||l||_2
    labels: np.ndarray  # int64 (N,)


class SnapshotInfo(NamedTuple):
    member: int
    index: int
    epoch: int
    step: int
    lr: float
    row: int
    partial_epoch: float | None = None  # weights of a member stopped in flight (not a snapshot of the plan)


# ---------------------------------------------------------------- opening


@contextmanager
def open_run(path: Path | str) -> Iterator[h5py.File]:
    """Open a run file read-only, once (read_run_file retries a file caught mid-write); every way it can be
    unreadable, at the open or while the body reads it, becomes one RunFileError line (an UnreadableFile)."""
    path = Path(path)
    with opened(path, RUN_FILE) as f:
        check_run_format(f, path)
        yield f


def read_run_file(path: Path | str, read: Callable[[h5py.File], T]) -> T:
    """read(f) of a run file open read-only, retried briefly when the file is caught while its writer writes it."""
    path = Path(path)

    def checked(f: h5py.File) -> T:
        check_run_format(f, path)
        return read(f)

    return read_file(path, RUN_FILE, checked)


def check_run_format(f: h5py.File, path: Path) -> None:
    """UnreadableFile unless the file says it is a run file of a format this ensgui reads."""
    value = f.attrs.get(L.ATTR_FORMAT)
    if value is None:
        if f.attrs.get("kind") in (L.SWEEP_KIND, L.SWEEP_KIND.encode()):
            raise UnreadableFile(path, "is a gap-sweep summary, not a run file",
                                 "show it under a name that ends in .sweep.h5")
        # may_pass: a file caught while its writer creates it has no attributes yet.
        raise UnreadableFile(path, f"is an HDF5 file but not an ensgui run file (no '{L.ATTR_FORMAT}' attribute)",
                             "give a run file that ensgui wrote", may_pass=True)
    try:
        number = number_attr(f.attrs, L.ATTR_FORMAT, int, 0)
    except FileDamage:
        number = 0
    if number < 1:
        raise UnreadableFile(path, f"is damaged: its format attribute {shown(value)} is not a format number "
                                   f"(a whole number from 1 on)", RERUN)
    if number > L.FORMAT:
        raise UnreadableFile(path, f"has run file format {number}, newer than the {L.FORMAT} this ensgui reads",
                             "open it with a newer ensgui")


def attr_text(value: Any) -> str:
    """An HDF5 attribute as text: bytes decoded, None as ""."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def attr_line(attrs: h5py.AttributeManager, name: str) -> str:
    """A text attribute to show on one line: control characters and escape sequences removed."""
    return printable(text_attr(attrs, name))


# ---------------------------------------------------------------- writer liveness


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot, Linux only): with the pid it names one process
    for good, because pids are reused."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _process_alive(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            after_name = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal test is all there is
    if after_name and after_name[0] in ("Z", "X"):
        return False  # killed but not yet reaped by its parent
    if started is not None and len(after_name) > 19 and after_name[19] != str(started):
        return False  # the pid now belongs to another process
    return True


def writer_alive(attrs: h5py.AttributeManager, path: Path) -> bool:
    """Whether the process that wrote a "running" file can still be writing it (FileDamage, a ValueError, when its
    pid is no number)."""
    pid = number_attr(attrs, L.ATTR_PID, int, None)
    host = text_attr(attrs, L.ATTR_HOSTNAME)
    if pid is None:
        return False
    if host == socket.gethostname():
        return _process_alive(pid, number_attr(attrs, L.ATTR_PROCESS_START, int, None))
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    return age <= FOREIGN_WRITER_TIMEOUT_S


# ---------------------------------------------------------------- reading


def _status(f: h5py.File, path: Path) -> str:
    status = attr_line(f.attrs, L.ATTR_STATUS) or L.STATUS_RUNNING
    if status == L.STATUS_RUNNING and not writer_alive(f.attrs, path):
        return L.STATUS_INCOMPLETE
    return status


def _spec_text(f: h5py.File) -> str:
    """The stored spec's TOML, printable line by line."""
    return printable(text_attr(f.attrs, L.ATTR_SPEC, required=True), lines=True)


def _spec_sections(spec_toml: str) -> dict[str, Any]:
    try:
        return tomllib.loads(spec_toml)
    except tomllib.TOMLDecodeError as exc:
        raise FileDamage(f"its stored spec is not valid TOML ({one_line(exc)})") from None


def _section_name(values: dict[str, Any], section: str) -> str:
    table = values.get(section)
    return printable(str(table.get("name", ""))) if isinstance(table, dict) else ""


def _summary(f: h5py.File, path: Path, test_curves: dict[str, np.ndarray] | None = None) -> RunSummary:
    """The summary of an open run; test_curves when they have been read already (else the headline ones are)."""
    a = f.attrs
    values = _spec_sections(_spec_text(f))
    schedule = group_at(f, L.SCHEDULE)
    curves = _headline_curves(f) if test_curves is None else test_curves
    return RunSummary(
        path=path,
        name=printable(str(values.get("name") or path.stem)),
        status=_status(f, path),
        method=_section_name(values, "method"),
        dataset=_section_name(values, "data"),
        model=_section_name(values, "model"),
        created=attr_line(a, L.ATTR_CREATED),
        rows=number_attr(schedule.attrs, L.ATTR_ROWS, int, 0) if schedule is not None else 0,
        device=attr_line(a, L.ATTR_DEVICE),
        headline={metric: float(curves[metric][-1, 0]) for metric in L.HEADLINE_METRICS if metric in curves},
    )


def read_summary(path: Path | str) -> RunSummary:
    """What a run list shows: name, status, method, data, model, when, and the headline test metrics."""
    path = Path(path)
    return read_run_file(path, lambda f: _summary(f, path))


# ---------------------------------------------------------------- evaluations, checked as they are read


def _splits(f: h5py.File) -> dict[str, h5py.Group]:
    """The /eval/<split> groups."""
    group = group_at(f, L.EVAL)
    return dict(subgroups(group)) if group is not None else {}


def _headline_curves(f: h5py.File) -> dict[str, np.ndarray]:
    """The test curves a run list shows, checked."""
    split = _splits(f).get("test")
    curves = group_at(split, L.CURVES) if split is not None else None
    if curves is None:
        return {}
    return _read_curves(curves, [m for m in L.HEADLINE_METRICS if m in curves], None)


def _read_curves(group: h5py.Group, names: list[str], probs: h5py.Dataset | None) -> dict[str, np.ndarray]:
    """Curves (K, 2) of one split, each checked: rows, one per ensemble size, as many as the probabilities have (or
    as the first curve), no NaN where the metric is always defined, no infinity anywhere."""
    out: dict[str, np.ndarray] = {}
    rows, source = (probs.shape[0], probs.name) if probs is not None else (None, "")
    for name in names:
        ds = dataset_at(group, name, required=True)
        check_dataset(ds, FLOAT, (None, 2))
        if ds.shape[0] == 0:
            raise FileDamage(f"{ds.name} has no rows")
        if rows is None:
            rows, source = ds.shape[0], ds.name
        if ds.shape[0] != rows:
            raise FileDamage(f"{ds.name} has {ds.shape[0]} rows but {source} has {rows}; both have one per "
                             f"ensemble row")
        out[name] = values(ds)
        _check_curve(ds.name, name, out[name])
    return out


def _check_curve(where: str, metric: str, curve: np.ndarray) -> None:
    """No NaN in a curve every evaluation defines, no infinity in any."""
    check_finite(where, curve if metric in L.DEFINED_CURVES else curve[~np.isnan(curve)])


def _check_probs(name: str, probs: np.ndarray) -> None:
    """Stored probabilities are finite and in [0, 1]."""
    check_finite(name, probs)
    if probs.size and (probs.min() < 0 or probs.max() > 1 + L.PROBABILITY_TOLERANCE):
        raise FileDamage(f"{name} holds values outside [0, 1] (from {probs.min():.4g} to {probs.max():.4g}), which "
                         f"are no probabilities")


def _read_probs(probs: h5py.Dataset, keep: bool) -> np.ndarray | None:
    """The probabilities, checked; without keep they are checked one row at a time and dropped (`show`)."""
    if keep:
        out = values(probs)
        _check_probs(probs.name, out)
        return out
    for row in range(probs.shape[0]):
        _check_probs(f"{probs.name} row {row}", values(probs, row))
    return None


def _read_labels(group: h5py.Group, probs: h5py.Dataset | None) -> np.ndarray:
    """The labels of a split, checked against the probabilities: one per object, each a class index."""
    labels = read_dataset(group, L.LABELS, INTEGER, (None,), required=probs is not None)
    if labels is None:
        return np.zeros(0, dtype=np.int64)
    name = f"{group.name}/{L.LABELS}"
    if probs is not None and len(labels) != probs.shape[1]:
        raise FileDamage(f"{probs.name} has {probs.shape[1]} objects but {name} has {len(labels)} labels")
    classes = probs.shape[2] if probs is not None else None
    if labels.size and (labels.min() < 0 or (classes is not None and labels.max() >= classes)):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise FileDamage(f"{name} holds the label {bad}, outside the classes 0..{(classes or 1) - 1}"
                         + (f" of {probs.name}" if probs is not None else ""))
    return labels


def _read_eval(group: h5py.Group, with_probs: bool, check_probs: bool = False) -> EvalData:
    """One split's evaluation, checked; the probabilities kept with with_probs, else checked with check_probs."""
    probs = dataset_at(group, L.PROBS)
    if probs is not None:
        check_dataset(probs, FLOAT, (None, None, None))
    rows = probs.shape[0] if probs is not None else None
    labels = _read_labels(group, probs)
    curves = group_at(group, L.CURVES)
    members = group_at(group, L.MEMBER_METRICS)
    kept = _read_probs(probs, with_probs) if probs is not None and (with_probs or check_probs) else None
    return EvalData(
        probs=kept,
        labels=labels,
        curves=_read_curves(curves, list(curves), probs) if curves is not None else {},
        member_metrics={name: read_dataset(members, name, FLOAT, (rows,)) for name in members}
        if members is not None else {},
        temperature=number_attr(group.attrs, L.ATTR_TEMPERATURE, float, None),
        partial=_partial_rows(group.attrs),
    )


def _parse_spec(text: str) -> Spec | None:
    try:
        return Spec.from_toml(text)
    except Exception:  # noqa: BLE001 - any reason the stored spec no longer builds means "show it as text"
        return None


def read_run(path: Path | str, with_probs: bool = True, check_probs: bool = False) -> RunData:
    """Everything in a run file but the snapshot weights (read those with read_snapshot). Without with_probs the
    probabilities are left out, and with check_probs still read row by row to check them (`ensgui show`)."""
    path = Path(path)
    return read_run_file(path, lambda f: run_data_in(f, path, with_probs, check_probs))


def _read_metrics(f: h5py.File) -> dict[int, dict[str, np.ndarray]]:
    """/metrics/<member>/<name>, each (n, 3) [global_step, epoch, value], by member number."""
    group = group_at(f, L.METRICS)
    if group is None:
        return {}
    metrics = {number_name(group, member): {name: read_dataset(of_member, name, FLOAT, (None, 3))
                                            for name in of_member}
               for member, of_member in subgroups(group)}
    return dict(sorted(metrics.items()))


def _read_log(f: h5py.File) -> list[str]:
    """/log, each line printable."""
    lines = read_dataset(f, L.LOG, TEXT, (None,), required=False)
    return [] if lines is None else [printable(attr_text(line)) for line in lines]


@dataclass(frozen=True)
class _Schedule:
    """/schedule as read: planned learning rates, snapshot iterations and the plan's sizes."""

    lr: np.ndarray
    snapshots: np.ndarray
    iters_per_epoch: int = 0
    epochs: int = 0
    members: int = 0


def _read_schedule(f: h5py.File) -> _Schedule:
    """/schedule, checked (empty when the file has none)."""
    group = group_at(f, L.SCHEDULE)
    if group is None:
        return _Schedule(np.zeros(0), np.zeros(0, dtype=np.int64))
    return _Schedule(read_dataset(f, L.SCHEDULE_LR, FLOAT, (None,)),
                     read_dataset(f, L.SCHEDULE_SNAPSHOTS, INTEGER, (None,)),
                     *(number_attr(group.attrs, name, int, 0)
                       for name in (L.ATTR_ITERS_PER_EPOCH, L.ATTR_EPOCHS, L.ATTR_MEMBERS)))


def run_data_in(f: h5py.File, path: Path, with_probs: bool = True, check_probs: bool = False) -> RunData:
    """read_run of a file that is already open."""
    a = f.attrs
    evaluations = {split: _read_eval(group, with_probs, check_probs) for split, group in _splits(f).items()}
    test = evaluations.get("test")
    spec_toml = _spec_text(f)
    schedule = _read_schedule(f)
    return RunData(
        path=path,
        summary=_summary(f, path, test.curves if test is not None else {}),
        spec_toml=spec_toml,
        spec=_parse_spec(spec_toml),
        error=attr_line(a, L.ATTR_ERROR),
        lr=schedule.lr,
        snapshots=schedule.snapshots,
        iters_per_epoch=schedule.iters_per_epoch,
        epochs=schedule.epochs,
        members=schedule.members,
        row_names=text_list_attr(a, L.ATTR_ROW_NAMES),
        metrics=_read_metrics(f),
        eval=evaluations,
        log=_read_log(f),
        elapsed=number_attr(a, L.ATTR_ELAPSED, float, None),
        extra={key[len(L.EXTRA_PREFIX):]: number_attr(a, key, float, 0.0) for key in a
               if key.startswith(L.EXTRA_PREFIX)},
    )




def list_snapshots(path: Path | str) -> list[SnapshotInfo]:
    """Every stored snapshot as (member, index, epoch, step, lr, row), by member then index."""
    return read_run_file(path, snapshots_in)


def _snapshot_info(member: int, index: int, snap: h5py.Group) -> SnapshotInfo:
    """A snapshot group's attributes, checked."""
    s = snap.attrs
    return SnapshotInfo(member, index, number_attr(s, L.ATTR_EPOCH, int, 0), number_attr(s, L.ATTR_STEP, int, 0),
                        number_attr(s, L.ATTR_LR, float, 0.0), number_attr(s, L.ATTR_ROW, int, -1),
                        number_attr(s, L.ATTR_PARTIAL_EPOCH, float, None))


def _partial_rows(attrs: h5py.AttributeManager) -> dict[int, float]:
    """The rows of a stopped run's members in flight and the epoch each reached (none in other runs)."""
    rows = np.asarray(attrs.get(L.ATTR_PARTIAL_ROWS, ()), dtype=np.int64).ravel()
    epochs = np.asarray(attrs.get(L.ATTR_PARTIAL_EPOCHS, ()), dtype=np.float64).ravel()
    if len(rows) != len(epochs):
        raise FileDamage(f"the attributes '{L.ATTR_PARTIAL_ROWS}' and '{L.ATTR_PARTIAL_EPOCHS}' differ in length")
    return {int(r): float(e) for r, e in zip(rows, epochs)}


def snapshots_in(f: h5py.File) -> list[SnapshotInfo]:
    """list_snapshots of a file that is already open."""
    out: list[SnapshotInfo] = []
    members = group_at(f, L.MEMBERS)
    for member_name, member in subgroups(members) if members is not None else ():
        snapshots = group_at(member, L.SNAPSHOTS)
        for index_name, snap in subgroups(snapshots) if snapshots is not None else ():
            out.append(_snapshot_info(number_name(members, member_name), number_name(snapshots, index_name), snap))
    return sorted(out)


def read_snapshot(path: Path | str, member: int, index: int) -> dict[str, np.ndarray]:
    """The weights of one snapshot, parameter name -> array, as the engine's load_state takes them."""

    def read(f: h5py.File) -> dict[str, np.ndarray]:
        where = L.snapshot_path(member, index)
        if where not in f:
            raise RunFileError(f"{path} has no snapshot {index} of member {member}")
        group = group_at(f, where, required=True)
        return {L.decode_name(name): values(dataset_at(group, name, required=True)) for name in group}

    return read_run_file(path, read)


def final_snapshot(path: Path | str, member: int = 0) -> SnapshotInfo | None:
    """A member's last stored snapshot (its final weights), or None when the member stored none."""
    snapshots = [s for s in list_snapshots(path) if s.member == member and s.partial_epoch is None]
    return max(snapshots, key=lambda s: s.index) if snapshots else None


def read_final_weights(path: Path | str) -> dict[str, np.ndarray]:
    """The weights of member 0's last snapshot: where a method continues from a finished run (FGE)."""
    final = final_snapshot(path)
    if final is None:
        raise RunFileError(f"{path} holds no stored weights to start from; pick a finished run")
    return read_snapshot(Path(path), 0, final.index)


def read_margins(path: Path | str) -> dict[str, MarginsData]:
    """The stored final margins by split ("train", "val", "test"); empty for a run that has none (older files)."""
    return read_run_file(path, margins_in)


def _margins(name: str, artefact: Artefact) -> MarginsData:
    """One split's margins artefact; FileDamage when one of its arrays is missing."""
    lacking = [key for key in (L.MARGINS_RAW, L.MARGINS_NORMALIZED, L.LABELS) if key not in artefact.arrays]
    if lacking:
        raise FileDamage(f"/{L.artefact_path(name)} lacks {', '.join(lacking)}")
    a = artefact.arrays
    return MarginsData(raw=a[L.MARGINS_RAW], normalized=a[L.MARGINS_NORMALIZED], labels=a[L.LABELS])


def margins_in(f: h5py.File) -> dict[str, MarginsData]:
    """The final margins of an open run file, from its artefacts margins/<split>."""
    return margins_from(artefacts_in(f, L.MARGINS_ARTEFACT))


def margins_from(artefacts: dict[str, Artefact]) -> dict[str, MarginsData]:
    """The final margins among artefacts already read, by split."""
    prefix = f"{L.MARGINS_ARTEFACT}/"
    return {name[len(prefix):]: _margins(name, a) for name, a in artefacts.items() if name.startswith(prefix)}


def has_margins(path: Path | str) -> bool:
    """Whether a run file stores final margins (cheap: opens the file and looks for the group)."""
    return read_run_file(path, lambda f: L.MARGINS in f and len(f[L.MARGINS]) > 0)


def mean_train_margin(path: Path | str, row: int = 0) -> float:
    """Mean raw training margin of one ensemble row: the "gap = mean margin of a trained net" of methods.md 6."""
    where = f"{L.margins_path('train')}/{L.MARGINS_RAW}"

    def read(f: h5py.File) -> np.ndarray:
        if where not in f:
            raise RunFileError(f"{path} has no stored training margins ({where}): it ended before its margins "
                               f"were computed or was made by an older ensgui; pick a finished run, or run it again")
        raw = dataset_at(f, where, required=True)
        if not 0 <= row < raw.shape[0]:
            raise RunFileError(f"{path} has margins of rows 0..{raw.shape[0] - 1}, not of row {row}; pick one of those")
        return values(raw, row)

    return float(np.mean(read_run_file(path, read), dtype=np.float64))


@dataclass
class BoostingData:
    """The gap-boosting rounds of a run (/analysis/boosting): row r holds the gaps model models[r] trained with."""

    models: np.ndarray  # int64 (R,): 0-based model index, 1..T-1
    gaps: np.ndarray  # float32 (R, N_train)
    margins: np.ndarray  # float32 (R, N_train): training margins of the previous model or running ensemble
    variant: str  # save_mean or zero_mean
    margins_of: str  # previous or ensemble

    @classmethod
    def from_artefact(cls, artefact: Artefact) -> BoostingData:
        a = artefact.arrays
        return cls(models=a[L.BOOSTING_MODELS], gaps=a[L.BOOSTING_GAPS], margins=a[L.BOOSTING_MARGINS],
                   variant=str(artefact.attrs.get(L.ATTR_VARIANT, "")),
                   margins_of=str(artefact.attrs.get(L.ATTR_MARGINS_OF, "")))


def read_boosting(path: Path | str) -> BoostingData | None:
    """The stored gap-boosting rounds, or None for a run that has none (another method, or stopped in model 1)."""
    artefact = read_artefact(path, L.BOOSTING_ARTEFACT)
    return None if artefact is None else BoostingData.from_artefact(artefact)


class StoredRunReader:
    """The engine's StoredRuns read from run files: where FGE starts from and where a gap is taken from."""

    def final_weights(self, path: str) -> dict[str, np.ndarray]:
        return read_final_weights(path)

    def mean_train_margin(self, path: str) -> float:
        return mean_train_margin(path)


# ---------------------------------------------------------------- artefacts (/analysis)


def attr_value(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value: bytes decoded, numpy scalars unwrapped."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _leaves(group: h5py.Group, prefix: str) -> Iterator[tuple[str, h5py.Group]]:
    """Every group below (or at) group that holds no groups itself, with its artefact name."""
    children = [(name, item) for name, item in group.items() if isinstance(item, h5py.Group)]
    if not children:
        yield prefix, group
        return
    for name, item in children:
        yield from _leaves(item, f"{prefix}/{name}" if prefix else name)


def artefacts_in(f: h5py.File, prefix: str = "") -> dict[str, Artefact]:
    """Every artefact stored under /analysis/<prefix> of an open run file, by name, in stored order."""
    where = L.artefact_path(prefix) if prefix else L.ANALYSIS
    group = f.get(where)
    if not isinstance(group, h5py.Group):
        return {}
    out: dict[str, Artefact] = {}
    for name, leaf in _leaves(group, prefix):
        if not name:
            continue  # an empty /analysis
        arrays = {key: values(item) for key, item in leaf.items() if isinstance(item, h5py.Dataset)}
        attrs = {key: shown_attr(value) for key, value in leaf.attrs.items()}
        out[name] = Artefact(name, arrays, attrs)
    return out


def shown_attr(value: Any) -> Any:
    """An HDF5 attribute as a plain value to show: as attr_value, with text made printable."""
    value = attr_value(value)
    return printable(value) if isinstance(value, str) else value


def read_artefacts(path: Path | str, prefix: str = "") -> dict[str, Artefact]:
    """Every artefact of a run file under /analysis/<prefix> (all of them without a prefix)."""
    return read_run_file(path, lambda f: artefacts_in(f, prefix))


def read_artefact(path: Path | str, name: str) -> Artefact | None:
    """One artefact by its full name, or None when the run has none of that name."""
    return read_artefacts(path, name).get(name)


def artefact_kinds(f: h5py.File) -> list[str]:
    """The first parts of the artefact names a run file holds (margins, boosting, interpolation, ...)."""
    group = f.get(L.ANALYSIS)
    if not isinstance(group, h5py.Group):
        return []
    return [name for name, item in group.items() if isinstance(item, h5py.Group)]
