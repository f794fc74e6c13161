"""The run file reader: summaries for run lists, full run data for the result screens, snapshots on demand."""

from __future__ import annotations

import os
import socket
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import h5py
import numpy as np

from ..engine.errors import RunFileError
from ..engine.events import Artefact
from ..engine.spec import Spec
from . import layout as L

# A writer on another machine cannot be asked whether it lives; a file untouched this long is taken for dead.
FOREIGN_WRITER_TIMEOUT_S = 600.0

# h5py >= 3.5 can switch off HDF5's file locks; without that a reader holding the file open makes
# the writer's next open fail (and the other way round). Both sides use these options.
OPEN_OPTIONS: dict[str, Any] = {"locking": False} if h5py.version.version_tuple >= (3, 5) else {}

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
    """Open a run file read-only; every way it can be unreadable becomes one RunFileError line."""
    path = Path(path)
    if not path.exists():
        raise RunFileError(f"{path} does not exist")
    if path.is_dir():
        raise RunFileError(f"{path} is a folder, not an ensgui run file")
    try:
        f = h5py.File(path, "r", **OPEN_OPTIONS)
    except OSError as exc:
        raise RunFileError(f"{path} is not a readable ensgui run file (truncated or not HDF5): "
                           f"{one_line(exc)}") from None
    try:
        fmt = f.attrs.get(L.ATTR_FORMAT)
        if fmt is None:
            raise RunFileError(f"{path} is an HDF5 file but not an ensgui run file (no '{L.ATTR_FORMAT}' attribute)")
        if int(fmt) > L.FORMAT:
            raise RunFileError(f"{path} has run file format {int(fmt)}, newer than the {L.FORMAT} this ensgui "
                               f"reads; update ensgui")
        try:
            yield f
        except RunFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            # A file cut short after its header (or caught mid-write) fails only when a dataset is read;
            # h5py reports a half-written group index as RuntimeError.
            raise RunFileError(f"{path} is damaged and cannot be read (truncated or caught mid-write): "
                               f"{one_line(exc)}") from None
    finally:
        f.close()


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (HDF5's span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def attr_text(value: Any) -> str:
    """An HDF5 attribute as text: bytes decoded, None as ""."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


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
    """Whether the process that wrote a "running" file can still be writing it."""
    pid = attrs.get(L.ATTR_PID)
    host = attr_text(attrs.get(L.ATTR_HOSTNAME))
    if pid is None:
        return False
    if host == socket.gethostname():
        started = attrs.get(L.ATTR_PROCESS_START)
        return _process_alive(int(pid), None if started is None else int(started))
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    return age <= FOREIGN_WRITER_TIMEOUT_S


# ---------------------------------------------------------------- reading


def _status(f: h5py.File, path: Path) -> str:
    status = attr_text(f.attrs.get(L.ATTR_STATUS)) or L.STATUS_RUNNING
    if status == L.STATUS_RUNNING and not writer_alive(f.attrs, path):
        return L.STATUS_INCOMPLETE
    return status


def _spec_sections(spec_toml: str) -> dict[str, Any]:
    try:
        return tomllib.loads(spec_toml)
    except tomllib.TOMLDecodeError:
        return {}


def _section_name(values: dict[str, Any], section: str) -> str:
    table = values.get(section)
    return str(table.get("name", "")) if isinstance(table, dict) else ""


def _summary(f: h5py.File, path: Path) -> RunSummary:
    a = f.attrs
    values = _spec_sections(attr_text(a.get(L.ATTR_SPEC)))
    rows = f[L.SCHEDULE].attrs.get(L.ATTR_ROWS, 0) if L.SCHEDULE in f else 0
    headline: dict[str, float] = {}
    curves_path = f"{L.eval_path('test')}/{L.CURVES}"
    if curves_path in f:
        curves = f[curves_path]
        for metric in L.HEADLINE_METRICS:
            if metric in curves and curves[metric].shape[0] > 0:
                headline[metric] = float(curves[metric][-1, 0])
    return RunSummary(
        path=path,
        name=str(values.get("name") or path.stem),
        status=_status(f, path),
        method=_section_name(values, "method"),
        dataset=_section_name(values, "data"),
        model=_section_name(values, "model"),
        created=attr_text(a.get(L.ATTR_CREATED)),
        rows=int(rows),
        device=attr_text(a.get(L.ATTR_DEVICE)),
        headline=headline,
    )


def read_summary(path: Path | str) -> RunSummary:
    """What a run list shows: name, status, method, data, model, when, and the headline test metrics."""
    path = Path(path)
    with open_run(path) as f:
        return _summary(f, path)


def _read_eval(group: h5py.Group, with_probs: bool) -> EvalData:
    temperature = group.attrs.get(L.ATTR_TEMPERATURE)
    curves = group.get(L.CURVES, {})
    members = group.get(L.MEMBER_METRICS, {})
    return EvalData(
        probs=group[L.PROBS][()] if with_probs and L.PROBS in group else None,
        labels=group[L.LABELS][()] if L.LABELS in group else np.zeros(0, dtype=np.int64),
        curves={name: curves[name][()] for name in curves},
        member_metrics={name: members[name][()] for name in members},
        temperature=None if temperature is None else float(temperature),
        partial=dict(zip((int(r) for r in group.attrs.get(L.ATTR_PARTIAL_ROWS, ())),
                         (float(e) for e in group.attrs.get(L.ATTR_PARTIAL_EPOCHS, ())))),
    )


def _parse_spec(text: str) -> Spec | None:
    try:
        return Spec.from_toml(text)
    except Exception:  # noqa: BLE001 - any reason the stored spec no longer builds means "show it as text"
        return None


def read_run(path: Path | str, with_probs: bool = True) -> RunData:
    """Everything in a run file but the snapshot weights (read those with read_snapshot)."""
    path = Path(path)
    with open_run(path) as f:
        return run_data_in(f, path, with_probs)


def run_data_in(f: h5py.File, path: Path, with_probs: bool = True) -> RunData:
    """read_run of a file that is already open."""
    a = f.attrs
    summary = _summary(f, path)
    spec_toml = attr_text(a.get(L.ATTR_SPEC))
    schedule = f[L.SCHEDULE] if L.SCHEDULE in f else None
    metrics: dict[int, dict[str, np.ndarray]] = {}
    for member, group in sorted(f.get(L.METRICS, {}).items(), key=lambda item: int(item[0])):
        metrics[int(member)] = {name: group[name][()] for name in group}
    evaluations = {split: _read_eval(group, with_probs) for split, group in f.get(L.EVAL, {}).items()}
    log = [attr_text(line) for line in f[L.LOG][()]] if L.LOG in f else []
    elapsed = a.get(L.ATTR_ELAPSED)
    extra = {key[len(L.EXTRA_PREFIX):]: float(a[key]) for key in a if key.startswith(L.EXTRA_PREFIX)}
    return RunData(
        path=path,
        summary=summary,
        spec_toml=spec_toml,
        spec=_parse_spec(spec_toml),
        error=attr_text(a.get(L.ATTR_ERROR)),
        lr=schedule["lr"][()] if schedule is not None else np.zeros(0),
        snapshots=schedule["snapshots"][()] if schedule is not None else np.zeros(0, dtype=np.int64),
        iters_per_epoch=int(schedule.attrs.get(L.ATTR_ITERS_PER_EPOCH, 0)) if schedule is not None else 0,
        epochs=int(schedule.attrs.get(L.ATTR_EPOCHS, 0)) if schedule is not None else 0,
        members=int(schedule.attrs.get(L.ATTR_MEMBERS, 0)) if schedule is not None else 0,
        row_names=[attr_text(n) for n in a.get(L.ATTR_ROW_NAMES, [])],
        metrics=metrics,
        eval=evaluations,
        log=log,
        elapsed=None if elapsed is None else float(elapsed),
        extra=extra,
    )




def list_snapshots(path: Path | str) -> list[SnapshotInfo]:
    """Every stored snapshot as (member, index, epoch, step, lr, row), by member then index."""
    with open_run(path) as f:
        return snapshots_in(f)


def snapshots_in(f: h5py.File) -> list[SnapshotInfo]:
    """list_snapshots of a file that is already open."""
    out: list[SnapshotInfo] = []
    for member, group in f.get(L.MEMBERS, {}).items():
        for index, snap in group.get(L.SNAPSHOTS, {}).items():
            s = snap.attrs
            partial = s.get(L.ATTR_PARTIAL_EPOCH)
            out.append(SnapshotInfo(int(member), int(index), int(s.get(L.ATTR_EPOCH, 0)), int(s.get(L.ATTR_STEP, 0)),
                                    float(s.get(L.ATTR_LR, 0.0)), int(s.get(L.ATTR_ROW, -1)),
                                    None if partial is None else float(partial)))
    return sorted(out)


def read_snapshot(path: Path | str, member: int, index: int) -> dict[str, np.ndarray]:
    """The weights of one snapshot, parameter name -> array, as the engine's load_state takes them."""
    with open_run(path) as f:
        where = L.snapshot_path(member, index)
        if where not in f:
            raise RunFileError(f"{path} has no snapshot {index} of member {member}")
        group = f[where]
        return {L.decode_name(name): group[name][()] for name in group}


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
    with open_run(path) as f:
        return margins_in(f)


def margins_in(f: h5py.File) -> dict[str, MarginsData]:
    """The final margins of an open run file, from its artefacts margins/<split>."""
    prefix = f"{L.MARGINS_ARTEFACT}/"
    return {name[len(prefix):]: MarginsData(raw=a.arrays[L.MARGINS_RAW], normalized=a.arrays[L.MARGINS_NORMALIZED],
                                            labels=a.arrays[L.LABELS])
            for name, a in artefacts_in(f, L.MARGINS_ARTEFACT).items()}


def has_margins(path: Path | str) -> bool:
    """Whether a run file stores final margins (cheap: opens the file and looks for the group)."""
    with open_run(path) as f:
        return L.MARGINS in f and len(f[L.MARGINS]) > 0


def mean_train_margin(path: Path | str, row: int = 0) -> float:
    """Mean raw training margin of one ensemble row: the "gap = mean margin of a trained net" of methods.md 6."""
    where = f"{L.margins_path('train')}/{L.MARGINS_RAW}"
    with open_run(path) as f:
        if where not in f:
            raise RunFileError(f"{path} has no stored training margins ({where}): it ended before its margins "
                               f"were computed or was made by an older ensgui; pick a finished run, or run it again")
        raw = f[where]
        if not 0 <= row < raw.shape[0]:
            raise RunFileError(f"{path} has margins of rows 0..{raw.shape[0] - 1}, not of row {row}; pick one of those")
        values = raw[row]
    return float(np.mean(values, dtype=np.float64))


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
        arrays = {key: item[()] for key, item in leaf.items() if isinstance(item, h5py.Dataset)}
        attrs = {key: attr_value(value) for key, value in leaf.attrs.items()}
        out[name] = Artefact(name, arrays, attrs)
    return out


def read_artefacts(path: Path | str, prefix: str = "") -> dict[str, Artefact]:
    """Every artefact of a run file under /analysis/<prefix> (all of them without a prefix)."""
    with open_run(path) as f:
        return artefacts_in(f, prefix)


def read_artefact(path: Path | str, name: str) -> Artefact | None:
    """One artefact by its full name, or None when the run has none of that name."""
    return read_artefacts(path, name).get(name)


def artefact_kinds(f: h5py.File) -> list[str]:
    """The first parts of the artefact names a run file holds (margins, boosting, interpolation, ...)."""
    group = f.get(L.ANALYSIS)
    if not isinstance(group, h5py.Group):
        return []
    return [name for name, item in group.items() if isinstance(item, h5py.Group)]
