"""A run file read once, whole (all but the snapshot weights): what every screen shows of an open run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from ..engine.events import Artefact
from .reader import (MarginsData, RunData, SnapshotInfo, artefacts_in, margins_from, read_run_file, run_data_in,
                     snapshots_in)

FileStamp = tuple[int, int]  # (mtime in ns, size): a file with the same stamp holds the same run


def file_stamp(path: Path) -> FileStamp | None:
    """The stamp of a file as it is now (None when it cannot be read): cheap, one stat call."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


@dataclass
class OpenedRun:
    """Everything of one run file but the weights, read in one open; screens and panels derive from it."""

    path: Path
    stamp: FileStamp | None
    run: RunData
    snapshots: list[SnapshotInfo]  # by member then index
    artefacts: dict[str, Artefact]  # every /analysis artefact by full name
    margins: dict[str, MarginsData] = field(default_factory=dict)  # the margins artefacts, by split

    def kinds(self) -> list[str]:
        """The first parts of the artefact names (margins, boosting, interpolation, width, ...), in stored order."""
        seen: dict[str, None] = {}
        for name in self.artefacts:
            seen.setdefault(name.split("/", 1)[0], None)
        return list(seen)

    def artefacts_of(self, kind: str) -> dict[str, Artefact]:
        """The artefacts whose name is kind or starts with kind/."""
        return {n: a for n, a in self.artefacts.items() if n == kind or n.startswith(kind + "/")}


def open_run_file(path: Path | str, with_probs: bool = True) -> OpenedRun:
    """Read a run file whole; RunFileError with one line when it cannot be read."""
    path = Path(path)
    stamp = file_stamp(path)

    def read(f: h5py.File) -> OpenedRun:
        artefacts = artefacts_in(f)
        return OpenedRun(path, stamp, run_data_in(f, path, with_probs), snapshots_in(f), artefacts,
                         margins_from(artefacts))

    return read_run_file(path, read)


__all__ = ["FileStamp", "OpenedRun", "file_stamp", "open_run_file"]
