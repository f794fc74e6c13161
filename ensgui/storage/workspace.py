"""The workspace: a folder of run files (and gap-sweep summaries), listed newest first, with unique new names."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..engine.errors import RunFileError
from .file_checks import UnreadableFile
from .reader import RunSummary, read_summary

WORKSPACE_ENV = "ENSGUI_WORKSPACE"
SUFFIX = ".h5"
SWEEP_SUFFIX = ".sweep.h5"  # a gap sweep's summary (storage.sweep_store), not a run file
MAX_NAME = 60


def default_workspace() -> Path:
    """$ENSGUI_WORKSPACE, else ~/ensgui-runs."""
    value = os.environ.get(WORKSPACE_ENV)
    return Path(value).expanduser() if value else Path.home() / "ensgui-runs"


def creating_path(path: Path) -> Path:
    """The hidden name under which a new file is written before it takes its own name (and which reserves it)."""
    return path.with_name(f".{path.name}.creating")


def safe_name(name: str) -> str:
    """A spec name reduced to characters that are safe in file names on every platform."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned[:MAX_NAME].rstrip("-.") or "run"


def _created_key(summary: RunSummary) -> float:
    # Sort on the instant, not the text: "created" carries the writer's UTC offset.
    try:
        return datetime.fromisoformat(summary.created).timestamp()
    except ValueError:
        try:
            return summary.path.stat().st_mtime
        except OSError:
            return 0.0


@dataclass(frozen=True)
class UnreadableRun:
    """A file of the workspace that looks like a run file but cannot be read, and why."""

    path: Path
    reason: str  # a predicate of the file: "is damaged: ...", "is a named pipe (FIFO), not a regular file"
    line: str  # "unreadable: <name> <reason>; <fix>", what a list of runs shows


class Workspace:
    """A folder of run files; runs() lists the readable ones and keeps the unreadable ones apart, each with why."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder).expanduser()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFileError(f"cannot create the workspace folder {self.folder}: {exc.strerror or exc}") from None
        self.unreadable: list[UnreadableRun] = []

    @property
    def problems(self) -> list[str]:
        """One line per unreadable file of the last listing."""
        return [u.line for u in self.unreadable]

    def runs(self) -> list[RunSummary]:
        """Summaries of every *.h5 in the folder, newest first; the files that cannot be read (damaged, truncated,
        a named pipe, ...) are kept in self.unreadable, so that one bad file never hides the others."""
        summaries: list[RunSummary] = []
        unreadable: list[UnreadableRun] = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            if path.is_dir() or is_sweep_path(path):
                continue
            try:
                summaries.append(read_summary(path))
            except UnreadableFile as exc:
                unreadable.append(UnreadableRun(path, exc.reason, exc.listing_line()))
        self.unreadable = unreadable
        summaries.sort(key=lambda s: (_created_key(s), s.path.name), reverse=True)
        return summaries

    def sweeps(self) -> list[Path]:
        """Every gap-sweep summary (*.sweep.h5) in the folder, newest first (by the time stamp in the name)."""
        paths = [p for p in self.folder.glob(f"*{SWEEP_SUFFIX}") if p.is_file()]
        return sorted(paths, key=lambda p: p.name, reverse=True)

    def new_run_path(self, spec_name: str) -> Path:
        """<folder>/<YYYYmmdd-HHMMSS>-<safe name>.h5, with -2, -3, ... added if that file exists."""
        name = safe_name(spec_name)
        if name.endswith(SWEEP_SUFFIX[:-len(SUFFIX)]):
            name = name[:-len(".sweep")] + "-sweep"  # a run file must not look like a sweep summary
        return self._unique(name, SUFFIX)

    def new_sweep_path(self, spec_name: str) -> Path:
        """<folder>/<YYYYmmdd-HHMMSS>-<safe name>.sweep.h5, with -2, -3, ... added if that file exists."""
        return self._unique(safe_name(spec_name), SWEEP_SUFFIX)

    def _unique(self, name: str, suffix: str) -> Path:
        """A free name, reserved by creating its hidden temporary file exclusively: two runs started in the same
        second, by two processes even, get two names (the writer then writes under the reservation)."""
        stem = f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
        self.folder.mkdir(parents=True, exist_ok=True)
        n = 1
        while True:
            path = self.folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
            n += 1
            if path.exists():
                continue
            try:
                with open(creating_path(path), "x"):
                    pass
            except FileExistsError:
                continue
            if path.exists():  # created by a writer that reserved nothing, after the check above
                creating_path(path).unlink(missing_ok=True)
                continue
            return path


Signature = tuple[int, tuple[tuple[str, int, int], ...]]


def folder_signature(folder: Path) -> Signature | None:
    """The folder's mtime and every .h5 file's name, size and mtime: unchanged means nothing to reread."""
    try:
        entries = []
        with os.scandir(folder) as it:
            for entry in it:
                if entry.name.endswith(SUFFIX) and entry.is_file():
                    st = entry.stat()
                    entries.append((entry.name, st.st_size, st.st_mtime_ns))
        return folder.stat().st_mtime_ns, tuple(sorted(entries))
    except OSError:
        return None


def same_file(a: Path | str, b: Path | str) -> bool:
    """Whether two paths name the same file (resolving links and relative parts where the disk allows)."""
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return Path(a) == Path(b)


def is_sweep_path(path: Path | str) -> bool:
    """Whether a file name is that of a gap-sweep summary rather than a run file."""
    return Path(path).name.endswith(SWEEP_SUFFIX)
