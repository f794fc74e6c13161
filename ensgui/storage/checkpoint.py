"""Checkpoints: a run's latest resumable training state, in one HDF5 file beside the run file.

`RUN.h5` keeps its checkpoint in `RUN.h5.ckpt`. It is written under a temporary name and renamed over the old
one, so a process killed at any moment leaves either the previous checkpoint or the new one, never half of
one, and disk use stays at one checkpoint. With the training state it records a *mark* of the run file: every
object it held and the length of every growing dataset at that moment. A resume rolls the run file back to the
mark, which removes what a killed run wrote after its last checkpoint (curves of the epoch in flight) and what a
stopped run wrote after it (the evaluation of its partial rows): the resumed run then writes them again exactly
as a run that never stopped would. Only the log keeps its later lines: it tells the story of the stop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np

from ..engine.errors import RunFileError
from ..engine.events import TrainingState
from . import layout as L
from .reader import (OPEN_OPTIONS, SnapshotInfo, _status, attr_text, one_line, open_run, read_snapshot,
                     snapshots_in)

SUFFIX = ".ckpt"
FORMAT = 1
KIND = "ensgui checkpoint"
STRING = h5py.string_dtype("utf-8")
RESUMABLE = ("cancelled", "failed", L.STATUS_INCOMPLETE)


def checkpoint_path(run_path: Path | str) -> Path:
    run_path = Path(run_path)
    return run_path.with_name(run_path.name + SUFFIX)


def _temporary_path(run_path: Path) -> Path:
    # Hidden, and not *.h5: a checkpoint being written is never listed as a run.
    return run_path.with_name(f".{run_path.name}{SUFFIX}.tmp")


@dataclass(frozen=True)
class FileMark:
    """What a run file held when a checkpoint was taken."""

    objects: frozenset[str]  # every group and dataset path
    lengths: dict[str, int] = field(default_factory=dict)  # datasets that grow (log, curves) -> rows then
    attrs: frozenset[str] = frozenset()  # the root attributes


@dataclass(frozen=True)
class StoredCheckpoint:
    state: TrainingState
    mark: FileMark
    created: str


# ---------------------------------------------------------------- the mark


def mark_of(f: h5py.File) -> FileMark:
    objects: set[str] = set()
    lengths: dict[str, int] = {}

    def visit(name: str, item: h5py.HLObject) -> None:
        objects.add(name)
        if isinstance(item, h5py.Dataset) and item.maxshape and item.maxshape[0] is None:
            lengths[name] = int(item.shape[0])

    f.visititems(visit)
    return FileMark(frozenset(objects), lengths, frozenset(f.attrs))


def roll_back(f: h5py.File, mark: FileMark) -> None:
    """Remove what the run file gained after the mark; growing datasets lose their later rows, but for the log,
    which keeps the story of the stop (and its partial evaluation) before the resumed run's lines."""
    later: list[str] = []
    f.visit(lambda name: later.append(name) if name not in mark.objects else None)
    # Outermost first: deleting a group removes what it holds, so its children are skipped after it.
    removed: list[str] = []
    for name in sorted(later, key=lambda n: n.count("/")):
        if any(name.startswith(parent + "/") for parent in removed):
            continue
        del f[name]
        removed.append(name)
    for name, length in mark.lengths.items():
        if name == L.LOG:
            continue
        dataset = f[name]
        if dataset.shape[0] > length:
            dataset.resize((length, *dataset.shape[1:]))
    for key in list(f.attrs):
        if key not in mark.attrs:
            del f.attrs[key]


def rows_at(f: h5py.File, mark: FileMark) -> list[SnapshotInfo]:
    """The snapshots the run file held at the mark: the rows a resumed run starts with."""
    return [s for s in snapshots_in(f) if L.snapshot_path(s.member, s.index) in mark.objects]


# ---------------------------------------------------------------- writing and reading


def write_checkpoint(run_path: Path, state: TrainingState, mark: FileMark) -> None:
    """Replace the run's checkpoint with this one, atomically."""
    run_path = Path(run_path)
    temporary = _temporary_path(run_path)
    try:
        with h5py.File(temporary, "w", **OPEN_OPTIONS) as f:
            _write(f, run_path, state, mark)
        os.replace(temporary, checkpoint_path(run_path))
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise RunFileError(f"cannot write the checkpoint of {run_path.name}: {one_line(exc)}; free disk space "
                           f"and resume the run") from None


def _write(f: h5py.File, run_path: Path, state: TrainingState, mark: FileMark) -> None:
    a = f.attrs
    a["format"] = FORMAT
    a["kind"] = KIND
    a["run"] = run_path.name
    a["created"] = datetime.now().astimezone().isoformat(timespec="seconds")
    a["members"] = np.asarray(state.members, dtype=np.int64)
    a["finished"] = np.asarray(state.finished, dtype=np.int64)
    for key in ("epoch", "batch", "step"):
        a[key] = int(getattr(state, key))
    a["reason"] = state.reason
    a["elapsed"] = float(state.elapsed)
    arrays = f.create_group("arrays")
    for i, (name, value) in enumerate(sorted(state.arrays.items())):
        value = np.asarray(value)
        # Checksummed where HDF5 can (fletcher32 needs chunks, which a scalar has not): a bad disk is named
        # on resume instead of silently corrupting the weights.
        options = {"fletcher32": True, "chunks": True} if value.ndim and value.size else {}
        dataset = arrays.create_dataset(f"a{i}", data=value, **options)
        dataset.attrs["name"] = name
    texts = f.create_group("texts")
    for key, value in state.texts.items():
        texts.attrs[key] = value
    group = f.create_group("mark")
    group.create_dataset("objects", data=np.array(sorted(mark.objects), dtype=object), dtype=STRING)
    group.create_dataset("growing", data=np.array(sorted(mark.lengths), dtype=object), dtype=STRING)
    group.create_dataset("lengths", data=np.array([mark.lengths[k] for k in sorted(mark.lengths)], dtype=np.int64))
    group.create_dataset("attrs", data=np.array(sorted(mark.attrs), dtype=object), dtype=STRING)


def has_checkpoint(run_path: Path | str) -> bool:
    return checkpoint_path(run_path).is_file()


def read_checkpoint(run_path: Path | str) -> StoredCheckpoint:
    """The run's checkpoint; RunFileError with one line when there is none or it cannot be read."""
    path = checkpoint_path(run_path)
    if not path.is_file():
        raise RunFileError(f"{Path(run_path).name} has no checkpoint to resume from (it stopped before its first "
                           f"epoch ended, it finished, or an older ensgui wrote it); start the spec again")
    try:
        with h5py.File(path, "r", **OPEN_OPTIONS) as f:
            if attr_text(f.attrs.get("kind")) != KIND or int(f.attrs.get("format", 0)) > FORMAT:
                raise RunFileError(f"{path.name} is not a checkpoint this ensgui reads")
            return _read(f)
    except RunFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise RunFileError(f"the checkpoint {path.name} is damaged ({one_line(exc)}); the run cannot be resumed, "
                           f"start the spec again") from None


def _read(f: h5py.File) -> StoredCheckpoint:
    a = f.attrs
    arrays = {attr_text(d.attrs["name"]): d[()] for d in f["arrays"].values()}
    texts = {key: attr_text(value) for key, value in f["texts"].attrs.items()}
    state = TrainingState(tuple(int(m) for m in a["members"]), tuple(int(m) for m in a["finished"]),
                          int(a["epoch"]), int(a["batch"]), int(a["step"]), attr_text(a["reason"]),
                          float(a["elapsed"]), arrays, texts)
    group = f["mark"]
    names = [attr_text(n) for n in group["growing"][()]]
    mark = FileMark(frozenset(attr_text(n) for n in group["objects"][()]),
                    dict(zip(names, (int(n) for n in group["lengths"][()]))),
                    frozenset(attr_text(n) for n in group["attrs"][()]))
    return StoredCheckpoint(state, mark, attr_text(a.get("created")))


def remove_checkpoint(run_path: Path | str) -> None:
    checkpoint_path(run_path).unlink(missing_ok=True)
    _temporary_path(Path(run_path)).unlink(missing_ok=True)


# ---------------------------------------------------------------- what a resume starts from


@dataclass(frozen=True)
class ResumableRun:
    """A stopped run as a resume needs it: checkpoint, stored spec, thread count and the rows it had then."""

    checkpoint: StoredCheckpoint
    spec_toml: str
    threads: int | None
    rows: dict[int, dict[str, np.ndarray]]


def read_resumable(run_path: Path | str) -> ResumableRun:
    """Everything to resume a run; RunFileError with one line saying why a run cannot be resumed."""
    run_path = Path(run_path)
    with open_run(run_path) as f:
        status = _status(f, run_path)  # as a run list shows it: "incomplete" for a dead writer
        if status == L.STATUS_RUNNING:
            raise RunFileError(f"{run_path.name} is still being written by its run; stop it first")
        if status not in RESUMABLE:
            why = {"finished": "it has finished; there is nothing to resume",
                   "diverged": "it diverged and would diverge again; change the spec and start it anew"}
            raise RunFileError(f"{run_path.name} cannot be resumed: {why.get(status, f'its status is {status}')}")
        spec_toml = attr_text(f.attrs.get(L.ATTR_SPEC))
        threads = f.attrs.get(L.ATTR_THREADS)
    checkpoint = read_checkpoint(run_path)
    with open_run(run_path) as f:
        snapshots = rows_at(f, checkpoint.mark)
    rows = {s.row: read_snapshot(run_path, s.member, s.index) for s in snapshots}
    return ResumableRun(checkpoint, spec_toml, None if threads is None else int(threads), rows)
