"""The run file writer: an event sink that is the only writer of one HDF5 run file."""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import ensgui

from ..engine.errors import RunFileError
from ..engine.events import (Artefact, CheckpointTaken, Event, EpochEnded, Evaluated, LogLine, MemberData, RunEnded,
                             RunStarted, Scalar, SnapshotTaken)
from . import layout as L
from .checkpoint import FileMark, mark_of, remove_checkpoint, roll_back, write_checkpoint
from .reader import OPEN_OPTIONS, attr_value, one_line, open_for_append, process_start, writer_alive
from .workspace import creating_path

STRING = h5py.string_dtype("utf-8")
PROBS_CHUNK_VALUES = 2**18  # about 1 MiB of float32 per chunk: one member's predictions read in a few chunks
ARTEFACT_ROWS_PER_CHUNK = 64  # chunk length of a 1-D artefact array that grows by rows (append)


def _torch_version() -> str:
    # Read from the package metadata so that storing a run never imports torch by itself.
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "unknown"


class RunWriter:
    """Buffers events and writes them at every epoch end, snapshot, evaluation and run end.

    Between those points the file is closed, so a killed process leaves a consistent file that
    holds everything up to the last finished epoch (see docs/hdf5-layout.md for why not SWMR).
    Checkpoints go beside it (storage.checkpoint). With resume_from, the writer continues an existing run
    file instead of creating one: it rolls the file back to that checkpoint mark when the run starts.
    """

    def __init__(self, path: Path, resume_from: FileMark | None = None) -> None:
        self.path = Path(path)
        self.resume_from = resume_from
        self.started = False
        self.ended = False
        self._broken = False
        self._log: list[str] = []
        self._scalars: dict[tuple[int, str], list[tuple[float, float, float]]] = defaultdict(list)
        self._member_data: list[MemberData] = []
        self._snapshots: list[SnapshotTaken] = []
        self._evaluations: list[Evaluated] = []
        self._artefacts: list[Artefact] = []
        self._end: RunEnded | None = None

    # ------------------------------------------------------------ the sink

    def __call__(self, event: Event) -> None:
        if self._broken or self.ended:
            return
        if isinstance(event, RunStarted):
            self._start(event)
            return
        if isinstance(event, LogLine):
            # Lines before RunStarted (data loading) are kept and written with the file's creation.
            self._log.append(event.text)
            return
        if not self.started:
            return
        if isinstance(event, Scalar):
            self._scalars[(event.member, event.name)].append((float(event.step), float(event.epoch),
                                                             float(event.value)))
        elif isinstance(event, MemberData):
            self._member_data.append(event)
        elif isinstance(event, SnapshotTaken):
            self._snapshots.append(event)
            self.flush()
        elif isinstance(event, Evaluated):
            self._evaluations.append(event)
            self.flush()
        elif isinstance(event, Artefact):
            self._artefacts.append(event)
            self.flush()
        elif isinstance(event, EpochEnded):
            self.flush()
        elif isinstance(event, CheckpointTaken):
            self._checkpoint(event)
        elif isinstance(event, RunEnded):
            self._end = event
            if event.error:
                self._log.append(f"{event.status}: {event.error}")
            self.flush()
            self.ended = True
            if event.status in ("finished", "diverged"):
                # Nothing left to resume: a finished run is complete, a diverged one would diverge again.
                remove_checkpoint(self.path)

    # ------------------------------------------------------------ writing

    def _start(self, event: RunStarted) -> None:
        if self.started:
            return
        if self.resume_from is not None:
            self._continue(event, self.resume_from)
        else:
            self._create(event)
        self.started = True
        self.flush()

    def _create(self, event: RunStarted) -> None:
        """Write the header under a hidden temporary name, then link it to the run's name: a process killed
        meanwhile leaves no half-made run file, and an existing run file is never overwritten."""
        if self.path.exists():
            self._fail(f"{self.path} already exists; a run file is never overwritten, choose a new file name")
        temporary = creating_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(temporary, "w", **OPEN_OPTIONS) as f:
                self._write_header(f, event)
        except (OSError, ValueError) as exc:
            if temporary.parent.is_dir():
                temporary.unlink(missing_ok=True)
            self._fail(f"cannot create run file {self.path}: {one_line(exc)}")
        try:
            _link_exclusively(temporary, self.path)
        except FileExistsError:
            self._fail(f"{self.path} appeared while this run was creating it; a run file is never overwritten, "
                       f"start the run again")
        except OSError as exc:
            self._fail(f"cannot create run file {self.path}: {one_line(exc)}")
        finally:
            temporary.unlink(missing_ok=True)

    def _continue(self, event: RunStarted, mark: FileMark) -> None:
        """Open a stopped run's file again, as it stood at its checkpoint, and mark it running."""
        try:
            with open_for_append(self.path) as f:
                roll_back(f, mark)
                self._mark_writer(f, event)
                f.attrs[L.ATTR_STATUS] = L.STATUS_RUNNING
        except (OSError, ValueError, KeyError) as exc:
            self._fail(f"cannot continue run file {self.path}: {one_line(exc)}")

    def _fail(self, message: str) -> None:
        self._broken = True
        raise RunFileError(message) from None

    def _mark_writer(self, f: h5py.File, event: RunStarted) -> None:
        """Who writes the file now (readers tell a live run from a dead one by it) and with how many threads."""
        a = f.attrs
        a[L.ATTR_PID] = os.getpid()
        a[L.ATTR_HOSTNAME] = socket.gethostname()
        start = process_start(os.getpid())
        if start is not None:
            a[L.ATTR_PROCESS_START] = start
        elif L.ATTR_PROCESS_START in a:
            del a[L.ATTR_PROCESS_START]
        if event.threads:
            a[L.ATTR_THREADS] = int(event.threads)

    def _checkpoint(self, event: CheckpointTaken) -> None:
        """Write what is buffered, then the checkpoint with the mark of the file as it now stands."""
        mark = self.flush(marked=True)
        if mark is None:
            return
        try:
            write_checkpoint(self.path, event.state, mark)
        except RunFileError:
            self._broken = True
            raise

    def _write_header(self, f: h5py.File, event: RunStarted) -> None:
        plan = event.plan
        a = f.attrs
        a[L.ATTR_FORMAT] = L.FORMAT
        a[L.ATTR_ENSGUI_VERSION] = ensgui.__version__
        a[L.ATTR_TORCH_VERSION] = _torch_version()
        a[L.ATTR_CREATED] = datetime.now().astimezone().isoformat(timespec="seconds")
        a[L.ATTR_STATUS] = L.STATUS_RUNNING
        a[L.ATTR_DEVICE] = event.device
        a[L.ATTR_SPEC] = event.spec_toml
        self._mark_writer(f, event)
        a.create(L.ATTR_ROW_NAMES, np.array(list(event.row_names), dtype=object), dtype=STRING)
        schedule = f.create_group(L.SCHEDULE)
        schedule.create_dataset("lr", data=np.asarray(plan.lr, dtype=np.float64))
        schedule.create_dataset("snapshots", data=np.asarray(plan.snapshots, dtype=np.int64))
        schedule.attrs[L.ATTR_ITERS_PER_EPOCH] = int(plan.iters_per_epoch)
        schedule.attrs[L.ATTR_EPOCHS] = int(plan.epochs)
        schedule.attrs[L.ATTR_MEMBERS] = int(plan.members)
        schedule.attrs[L.ATTR_ROWS] = int(plan.rows)
        f.create_group(L.METRICS)
        f.create_group(L.MEMBERS)
        f.create_group(L.EVAL)
        f.create_dataset(L.LOG, shape=(0,), maxshape=(None,), dtype=STRING, chunks=(L.LOG_CHUNK_LINES,))

    def flush(self, marked: bool = False) -> FileMark | None:
        """Write everything buffered, then close the file so that it is consistent on disk; marked: return the
        mark of the file as it then stands (for a checkpoint)."""
        if not self.started or self._broken or self.ended:
            return None
        try:
            with open_for_append(self.path) as f:
                self._write_pending(f)
                f.flush()
                return mark_of(f) if marked else None
        except (OSError, ValueError, KeyError) as exc:
            # Stop writing: the run fails with this message and later events must not raise again.
            self._broken = True
            raise RunFileError(f"cannot write run file {self.path}: {one_line(exc)}; what it holds stays readable: "
                               f"free disk space (or fix the folder's permissions), then resume the run") from None

    def _write_pending(self, f: h5py.File) -> None:
        for data in self._member_data:
            group = f.require_group(L.member_path(data.member))
            for name, values in ((L.TRAIN_INDICES, data.train_indices), (L.OOB_INDICES, data.oob_indices)):
                if name in group:
                    del group[name]
                group.create_dataset(name, data=np.asarray(values, dtype=np.int64))
        self._member_data.clear()
        for (member, name), rows in self._scalars.items():
            _append_rows(f, L.metric_path(member, name), np.asarray(rows, dtype=np.float64))
        self._scalars.clear()
        for snap in self._snapshots:
            _write_snapshot(f, snap)
        self._snapshots.clear()
        for evaluation in self._evaluations:
            _write_evaluation(f, evaluation)
        self._evaluations.clear()
        for artefact in self._artefacts:
            write_artefact(f, artefact)
        self._artefacts.clear()
        if self._log:
            log = f[L.LOG]
            n = log.shape[0]
            log.resize((n + len(self._log),))
            log[n:] = np.array(self._log, dtype=object)
            self._log.clear()
        if self._end is not None:
            a = f.attrs
            a[L.ATTR_STATUS] = self._end.status
            a[L.ATTR_ELAPSED] = float(self._end.elapsed)
            if self._end.error:
                a[L.ATTR_ERROR] = self._end.error
            for key, value in self._end.extra.items():
                a[L.EXTRA_PREFIX + key] = float(value)


def _append_rows(f: h5py.File, path: str, rows: np.ndarray) -> None:
    dataset = f.get(path)
    if dataset is None:
        dataset = f.create_dataset(path, shape=(0, 3), maxshape=(None, 3), dtype=np.float64,
                                   chunks=(L.METRIC_CHUNK_ROWS, 3))
    n = dataset.shape[0]
    dataset.resize((n + len(rows), 3))
    dataset[n:] = rows


def _write_snapshot(f: h5py.File, snap: SnapshotTaken) -> None:
    path = L.snapshot_path(snap.member, snap.index)
    if path in f:
        del f[path]  # a resumed member retakes the snapshot; the newer weights win
    group = f.create_group(path)
    for name, tensor in snap.state.items():
        group.create_dataset(L.encode_name(name), data=np.asarray(tensor), **checksummed(np.asarray(tensor)))
    group.attrs[L.ATTR_EPOCH] = int(snap.epoch)
    group.attrs[L.ATTR_STEP] = int(snap.step)
    group.attrs[L.ATTR_LR] = float(snap.lr)
    group.attrs[L.ATTR_ROW] = int(snap.row)
    if snap.partial_epoch is not None:
        group.attrs[L.ATTR_PARTIAL_EPOCH] = float(snap.partial_epoch)


def checksummed(array: np.ndarray) -> dict[str, Any]:
    """HDF5's fletcher32 checksum for a dataset, so that flipped bytes are detected on read; it needs chunks,
    which a scalar or an empty array cannot have."""
    return {"fletcher32": True, "chunks": True} if array.ndim and array.size else {}


def _link_exclusively(source: Path, target: Path) -> None:
    """Give source the name target, failing with FileExistsError if target exists (never overwrite)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links: check, then rename (a race of microseconds, not seconds).
        if target.exists():
            raise FileExistsError(target) from None
        os.rename(source, target)


def _write_evaluation(f: h5py.File, ev: Evaluated) -> None:
    path = L.eval_path(ev.split)
    if path in f:
        del f[path]
    group = f.create_group(path)
    probs = np.asarray(ev.probs, dtype=np.float32)
    if probs.ndim == 3 and probs.size:
        k, n, c = probs.shape
        rows = max(1, min(n, PROBS_CHUNK_VALUES // max(c, 1)))
        group.create_dataset(L.PROBS, data=probs, chunks=(1, rows, c), compression="gzip", compression_opts=1,
                             shuffle=True, fletcher32=True)
    else:
        group.create_dataset(L.PROBS, data=probs, **checksummed(probs))
    group.create_dataset(L.LABELS, data=np.asarray(ev.labels, dtype=np.int64))
    curves = group.create_group(L.CURVES)
    for metric, values in ev.curves.items():
        curves.create_dataset(metric, data=np.asarray(values, dtype=np.float64))
    members = group.create_group(L.MEMBER_METRICS)
    for metric, values in ev.member_metrics.items():
        members.create_dataset(metric, data=np.asarray(values, dtype=np.float64))
    if ev.temperature is not None:
        group.attrs[L.ATTR_TEMPERATURE] = float(ev.temperature)
    if ev.partial:
        rows = sorted(ev.partial)
        group.attrs[L.ATTR_PARTIAL_ROWS] = np.asarray(rows, dtype=np.int64)
        group.attrs[L.ATTR_PARTIAL_EPOCHS] = np.asarray([ev.partial[r] for r in rows], dtype=np.float64)


# ---------------------------------------------------------------- artefacts


def _storable(value: Any) -> Any:
    """Attributes are text, numbers or booleans; anything else is stored as its text."""
    if isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return str(value)


def _require_groups(f: h5py.File, parts: list[str]) -> h5py.Group:
    """The parent group of the artefact, creating missing ones; new groups list their members in creation order."""
    group: h5py.Group = f
    for part in [L.ANALYSIS, *parts[:-1]]:
        item = group.get(part)
        if item is None:
            item = group.create_group(part, track_order=True)
        elif not isinstance(item, h5py.Group):
            raise ValueError(f"{item.name} is a dataset, not a group")
        group = item
    return group


def write_artefact(f: h5py.File, artefact: Artefact) -> h5py.Group:
    """Write one artefact into an open run file (RunWriter's flush, or store_artefact after the run)."""
    parts = L.artefact_parts(artefact.name)
    parent = _require_groups(f, parts)
    leaf = parts[-1]
    if artefact.append and leaf in parent:
        group = parent[leaf]
        for key, values in artefact.arrays.items():
            rows = np.asarray(values)
            dataset = group[key]
            n = dataset.shape[0]
            dataset.resize((n + rows.shape[0], *dataset.shape[1:]))
            dataset[n:] = rows
    else:
        if leaf in parent:
            del parent[leaf]  # a recomputed artefact replaces the earlier one
        group = parent.create_group(leaf)
        for key, values in artefact.arrays.items():
            array = np.asarray(values)
            if artefact.append:
                chunks = (ARTEFACT_ROWS_PER_CHUNK,) if array.ndim == 1 else (1, *(max(1, d) for d in array.shape[1:]))
                group.create_dataset(key, data=array, maxshape=(None, *array.shape[1:]), chunks=chunks)
            else:
                group.create_dataset(key, data=array)
    for key, value in artefact.attrs.items():
        group.attrs[str(key)] = _storable(value)
    return group


def store_artefact(path: Path | str, artefact: Artefact) -> None:
    """Add an artefact to a run that has ended (an analysis computed afterwards); nothing else in the file changes.

    A file whose status is "running" is refused with RunFileError, because its writer (the only writer while it
    trains) may open it at any moment.
    """
    path = Path(path)
    L.artefact_parts(artefact.name)
    if not path.is_file():
        raise RunFileError(f"{path} does not exist or is not a file; analyses are stored in an existing run file")
    try:
        f = open_for_append(path)
    except OSError as exc:
        raise RunFileError(f"cannot open {path} to store {artefact.name}: {one_line(exc)}") from None
    try:
        if f.attrs.get(L.ATTR_FORMAT) is None:
            raise RunFileError(f"{path} is not an ensgui run file (no '{L.ATTR_FORMAT}' attribute)")
        status = attr_value(f.attrs.get(L.ATTR_STATUS)) or L.STATUS_RUNNING
        if status == L.STATUS_RUNNING:
            why = ("is still being written by its run" if writer_alive(f.attrs, path)
                   else "says 'running' but its writer has stopped (an incomplete run)")
            raise RunFileError(f"{path} {why}; analyses are stored only in runs that have ended")
        group = write_artefact(f, artefact)
        group.attrs[L.ATTR_ARTEFACT_CREATED] = datetime.now().astimezone().isoformat(timespec="seconds")
        f.flush()
    except (OSError, ValueError, KeyError) as exc:
        raise RunFileError(f"cannot store {artefact.name} in {path}: {one_line(exc)}") from None
    finally:
        f.close()
