"""The run file writer: an event sink that is the only writer of one HDF5 run file."""

from __future__ import annotations

import os
import socket
import time
import tomllib
from collections import defaultdict
from datetime import datetime
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

import ensgui

from ..engine.errors import RunFileError
from ..engine.events import (BoostingRound, Event, EpochEnded, Evaluated, LogLine, MarginsComputed, MemberData,
                             RunEnded, RunStarted, Scalar, SnapshotTaken)
from . import layout as L
from .reader import OPEN_OPTIONS, process_start

STRING = h5py.string_dtype("utf-8")
PROBS_CHUNK_VALUES = 2**18  # about 1 MiB of float32 per chunk: one member's predictions read in a few chunks


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
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.started = False
        self.ended = False
        self._broken = False
        self._log: list[str] = []
        self._scalars: dict[tuple[int, str], list[tuple[float, float, float]]] = defaultdict(list)
        self._member_data: list[MemberData] = []
        self._snapshots: list[SnapshotTaken] = []
        self._evaluations: list[Evaluated] = []
        self._margins: list[MarginsComputed] = []
        self._boosting: list[BoostingRound] = []
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
        elif isinstance(event, BoostingRound):
            self._boosting.append(event)
            self.flush()
        elif isinstance(event, MarginsComputed):
            self._margins.append(event)
            self.flush()
        elif isinstance(event, EpochEnded):
            self.flush()
        elif isinstance(event, RunEnded):
            self._end = event
            if event.error:
                self._log.append(f"{event.status}: {event.error}")
            self.flush()
            self.ended = True

    # ------------------------------------------------------------ writing

    def _start(self, event: RunStarted) -> None:
        if self.started:
            return
        if self.path.exists():
            self._broken = True
            raise RunFileError(f"{self.path} already exists; a run file is never overwritten, "
                               f"choose a new file name")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Mode "w-" fails if the file appeared since the check above: never truncate a run.
            with h5py.File(self.path, "w-", **OPEN_OPTIONS) as f:
                self._write_header(f, event)
                f.flush()
        except (OSError, ValueError) as exc:
            self._broken = True
            raise RunFileError(f"cannot create run file {self.path}: {_one_line(exc)}") from None
        self.started = True
        self.flush()

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
        a[L.ATTR_PID] = os.getpid()
        a[L.ATTR_HOSTNAME] = socket.gethostname()
        start = process_start(os.getpid())
        if start is not None:
            a[L.ATTR_PROCESS_START] = start
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

    def flush(self) -> None:
        """Write everything buffered, then close the file so that it is consistent on disk."""
        if not self.started or self._broken or self.ended:
            return
        try:
            with open_for_append(self.path) as f:
                self._write_pending(f)
                f.flush()
        except (OSError, ValueError, KeyError) as exc:
            # Stop writing: the run fails with this message and later events must not raise again.
            self._broken = True
            raise RunFileError(f"cannot write run file {self.path}: {_one_line(exc)}") from None

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
        for boosting in self._boosting:
            _write_boosting_round(f, boosting)
        self._boosting.clear()
        for margins in self._margins:
            _write_margins(f, margins)
        self._margins.clear()
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
        group.create_dataset(L.encode_name(name), data=np.asarray(tensor))
    group.attrs[L.ATTR_EPOCH] = int(snap.epoch)
    group.attrs[L.ATTR_STEP] = int(snap.step)
    group.attrs[L.ATTR_LR] = float(snap.lr)
    group.attrs[L.ATTR_ROW] = int(snap.row)


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
                             shuffle=True)
    else:
        group.create_dataset(L.PROBS, data=probs)
    group.create_dataset(L.LABELS, data=np.asarray(ev.labels, dtype=np.int64))
    curves = group.create_group(L.CURVES)
    for metric, values in ev.curves.items():
        curves.create_dataset(metric, data=np.asarray(values, dtype=np.float64))
    members = group.create_group(L.MEMBER_METRICS)
    for metric, values in ev.member_metrics.items():
        members.create_dataset(metric, data=np.asarray(values, dtype=np.float64))
    if ev.temperature is not None:
        group.attrs[L.ATTR_TEMPERATURE] = float(ev.temperature)


def _write_boosting_round(f: h5py.File, ev: BoostingRound) -> None:
    """Append one round's gaps and margins as a row of /analysis/boosting; a retrained model replaces its row."""
    group = f.get(L.BOOSTING)
    n = int(np.asarray(ev.gaps).shape[0])
    if group is None:
        group = f.create_group(L.BOOSTING)
        method = _spec_table(f, "method")
        group.attrs[L.ATTR_VARIANT] = str(method.get("variant", ""))
        group.attrs[L.ATTR_MARGINS_OF] = str(method.get("margins_of", ""))
        group.create_dataset(L.BOOSTING_MODELS, shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(64,))
        for name in (L.BOOSTING_GAPS, L.BOOSTING_MARGINS):
            group.create_dataset(name, shape=(0, n), maxshape=(None, n), dtype=np.float32,
                                 chunks=(1, max(1, n)))
    models = group[L.BOOSTING_MODELS]
    stored = list(models[()])
    row = stored.index(ev.model) if ev.model in stored else len(stored)
    if row == len(stored):
        models.resize((row + 1,))
        for name in (L.BOOSTING_GAPS, L.BOOSTING_MARGINS):
            group[name].resize((row + 1, n))
    models[row] = int(ev.model)
    group[L.BOOSTING_GAPS][row] = np.asarray(ev.gaps, dtype=np.float32)
    group[L.BOOSTING_MARGINS][row] = np.asarray(ev.margins, dtype=np.float32)


def _spec_table(f: h5py.File, section: str) -> dict:
    """One section of the stored spec TOML as a dict ({} when it cannot be read)."""
    value = f.attrs.get(L.ATTR_SPEC, "")
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        table = tomllib.loads(text).get(section, {})
    except tomllib.TOMLDecodeError:
        return {}
    return table if isinstance(table, dict) else {}


def _write_margins(f: h5py.File, ev: MarginsComputed) -> None:
    path = L.margins_path(ev.split)
    if path in f:
        del f[path]  # a resumed run recomputes the margins of its rows; the newer ones win
    group = f.create_group(path)
    group.create_dataset(L.MARGINS_RAW, data=np.asarray(ev.raw, dtype=np.float32))
    group.create_dataset(L.MARGINS_NORMALIZED, data=np.asarray(ev.normalized, dtype=np.float32))
    group.create_dataset(L.LABELS, data=np.asarray(ev.labels, dtype=np.int64))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
