"""Why a stored file cannot be read, in one line: the checks before HDF5 opens it, HDF5's errors named, the structure
a reader expects checked as it reads, and a short retry for a file caught while its writer is writing it."""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from ..engine.errors import RunFileError
from ..text import printable

T = TypeVar("T")

# h5py >= 3.5 can switch off HDF5's file locks; without that a reader holding the file open makes
# the writer's next open fail (and the other way round). Both sides use these options.
OPEN_OPTIONS: dict[str, Any] = {"locking": False} if h5py.version.version_tuple >= (3, 5) else {}

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
RERUN = "re-run the experiment or restore the file from a backup"

# A file its writer is writing (a flush, or a file created in place) can look damaged for a moment: without SWMR a
# reader may see half of an update. Such a failure is retried for up to RETRY_S while the file is fresh (changed in
# the last RECENT_S) and still changing (within QUIET_S); a file untouched for longer is damaged for good and fails
# at once, so a folder of old broken files lists as fast as one of good files.
RETRY_S = 1.0
RETRY_PAUSE_S = 0.05
RECENT_S = 3.0
QUIET_S = 0.25

# What h5py raises on a file that is damaged or caught mid-write: OSError from HDF5, KeyError for a half-written
# link, RuntimeError for a broken group index, and the rest from odd dtypes and shapes met while reading.
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError)

FLOAT = "f"
INTEGER = "iu"
TEXT = "text"
_KIND_NAMES = {FLOAT: "floating-point", INTEGER: "integer", TEXT: "text"}


class UnreadableFile(RunFileError):
    """A stored file that cannot be read: the reason (a predicate of the file: "is damaged: ...") and the fix."""

    def __init__(self, path: Path | str, reason: str, fix: str, may_pass: bool = False, busy: bool = False) -> None:
        self.path = Path(path)
        self.reason = printable(reason)
        self.fix = printable(fix)
        self.may_pass = may_pass  # a writer in the middle of an update could cause it: worth a retry while it writes
        self.busy = busy  # another program holds the file: worth a retry however old the file is
        super().__init__(printable(f"{path} {self.reason}; {self.fix}"))

    def listing_line(self) -> str:
        """The line a list of files shows for it: "unreadable: <name> <reason>; <fix>"."""
        return f"unreadable: {self.path.name} {self.reason}; {self.fix}"


class FileDamage(ValueError):
    """What is wrong inside a file, found while reading it; the reader adds which file. A ValueError, so that code
    catching h5py's errors (the writer's) catches it too."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (HDF5's span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def shown(value: Any, limit: int = 40) -> str:
    """A stored value quoted for a message: printable and short (an attribute may hold megabytes)."""
    text = printable(repr(value.item() if isinstance(value, np.generic) else value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- before HDF5 opens the file


def check_regular_file(path: Path) -> os.stat_result:
    """The file's stat, or UnreadableFile for anything but a regular file: HDF5 would block for ever on a named
    pipe, and says little about a folder, a missing file or a dangling link."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnreadableFile(path, f"is a link to {os.readlink(path)}, which does not exist",
                                 "fix or remove the link") from None
        raise UnreadableFile(path, "does not exist", "check the name and the folder") from None
    except NotADirectoryError:
        raise UnreadableFile(path, "does not exist: a part of its path is a file, not a folder",
                             "check the path") from None
    except OSError as exc:
        raise UnreadableFile(path, f"cannot be reached: {exc.strerror or one_line(exc)}",
                             "check the path and its folders' permissions") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile(path, "is a folder, not a file", "give the path of a file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(path, f"is {_special_kind(info.st_mode)}, not a regular file",
                             "only files on disk can be read; give a run file")
    return info


def _special_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


# ---------------------------------------------------------------- HDF5's refusals named

_TRUNCATED = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")
_LOCKED = re.compile(r"\block(ed|ing)?\b|already open", re.IGNORECASE)  # not the "block" of "superblock"


def _open_failure(path: Path, exc: OSError, size: int, noun: str) -> UnreadableFile:
    """Why HDF5 would not open a regular file, in words."""
    text = one_line(exc)
    if getattr(exc, "errno", None) == 13 or "Permission denied" in text:
        return UnreadableFile(path, "cannot be opened: permission denied",
                              "ask its owner for read access, or change its permissions (chmod u+r)")
    if size == 0:
        return UnreadableFile(path, "is empty (0 bytes): the program that created it stopped before writing it",
                              "delete it", may_pass=True)
    truncated = _TRUNCATED.search(text)
    if truncated:
        return UnreadableFile(path, f"is damaged: truncated, {truncated[1]} of {truncated[2]} bytes are there (its "
                                    f"writer was killed while creating it, or a copy was cut short)",
                              "re-run the experiment, or copy the file again", may_pass=True)
    if _LOCKED.search(text):
        return UnreadableFile(path, f"is held by another program ({text})", "try again when its writer has finished",
                              busy=True)
    if "signature not found" in text and not _starts_as_hdf5(path):
        return UnreadableFile(path, f"is not a readable ensgui {noun}: it is not an HDF5 file",
                              f"give a {noun} that ensgui wrote")
    return UnreadableFile(path, f"is damaged: HDF5 cannot open it ({text})", RERUN, may_pass=True)


def _starts_as_hdf5(path: Path) -> bool:
    """Whether the file begins with HDF5's signature, or with nothing yet (a file being created)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(HDF5_SIGNATURE))
    except OSError:
        return False
    return head == HDF5_SIGNATURE or not head.strip(b"\0")


def _read_failure(path: Path, exc: BaseException) -> UnreadableFile:
    """A failure while reading an open file: the file is damaged (or was caught mid-write)."""
    detail = str(exc) if isinstance(exc, FileDamage) else f"HDF5 cannot read it ({one_line(exc)})"
    return UnreadableFile(path, f"is damaged: {detail}", RERUN, may_pass=True)


@contextmanager
def opened(path: Path | str, noun: str) -> Iterator[h5py.File]:
    """A stored file open read-only; every way it is unreadable, at the open or while the body reads it, becomes an
    UnreadableFile. No retry (read_file retries)."""
    path = Path(path)
    size = check_regular_file(path).st_size
    try:
        f = h5py.File(path, "r", **OPEN_OPTIONS)
    except OSError as exc:
        raise _open_failure(path, exc, size, noun) from None
    try:
        yield f
    except UnreadableFile:
        raise
    except READ_ERRORS as exc:
        raise _read_failure(path, exc) from None
    finally:
        f.close()


def read_file(path: Path | str, noun: str, read: Callable[[h5py.File], T]) -> T:
    """read(f) of a stored file open read-only; a failure that a writer in mid-update could cause is retried while
    the writer seems at work, so a reader that meets a flush waits it out instead of calling the file damaged."""
    path = Path(path)
    patience = _Patience(path)
    while True:
        try:
            with opened(path, noun) as f:
                return read(f)
        except UnreadableFile as exc:
            if not patience.again(exc):
                raise
        time.sleep(RETRY_PAUSE_S)


class _Patience:
    """How long a reader waits for a file that failed to read: within RETRY_S, while another program holds it, or
    while it is fresh and still changing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.deadline = time.monotonic() + RETRY_S
        self.stamp: tuple[int, int] | None = None
        self.changed = 0.0

    def again(self, failure: UnreadableFile) -> bool:
        """Whether to try once more (after a short pause)."""
        now = time.monotonic()
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        if (info.st_size, info.st_mtime_ns) != self.stamp:
            self.stamp, self.changed = (info.st_size, info.st_mtime_ns), now
        if now >= self.deadline:
            return False
        if failure.busy:
            return True
        fresh = time.time() - info.st_mtime < RECENT_S
        return failure.may_pass and fresh and now - self.changed < QUIET_S


# ---------------------------------------------------------------- the structure a reader expects


def where(parent: h5py.Group, name: str) -> str:
    """The full in-file path of a (possibly absent) member."""
    return f"{parent.name.rstrip('/')}/{name}"


def _member(parent: h5py.Group, name: str, kind: type, required: bool) -> Any:
    """A member of the kind asked for (h5py.Group or h5py.Dataset), None when absent and not required;
    FileDamage when it is missing though required, or something else stands in its place."""
    item = parent.get(name)
    if item is None:
        if required:
            raise FileDamage(f"{where(parent, name)} is missing")
        return None
    if not isinstance(item, kind):
        raise FileDamage(f"{where(parent, name)} is {_object_name(type(item))} where {_object_name(kind)} belongs")
    return item


def _object_name(kind: type) -> str:
    return {h5py.Group: "a group", h5py.Dataset: "a dataset"}.get(kind, "a named datatype")


def group_at(parent: h5py.Group, name: str, required: bool = False) -> h5py.Group | None:
    """A subgroup (None when absent and not required), checked to be a group."""
    return _member(parent, name, h5py.Group, required)


def dataset_at(parent: h5py.Group, name: str, required: bool = False) -> h5py.Dataset | None:
    """A dataset (None when absent and not required), checked to be a dataset."""
    return _member(parent, name, h5py.Dataset, required)


def subgroups(group: h5py.Group) -> Iterator[tuple[str, h5py.Group]]:
    """Every member of a group that must itself be a group (members, snapshots, splits), by name."""
    for name in group:
        yield name, group_at(group, name, required=True)


def number_name(group: h5py.Group, name: str) -> int:
    """A member named by a decimal number (a member, a snapshot); FileDamage otherwise."""
    if not name.isdigit():
        raise FileDamage(f"{where(group, name)} is not named by a number")
    return int(name)


def check_dataset(ds: h5py.Dataset, kind: str, shape: tuple[int | None, ...]) -> None:
    """FileDamage unless the dataset holds the kind of values (FLOAT, INTEGER, TEXT) in the shape asked for (None:
    any size along that axis)."""
    if not _has_kind(ds.dtype, kind):
        raise FileDamage(f"{ds.name} holds {_dtype_name(ds.dtype)} where {_KIND_NAMES[kind]} values belong")
    if len(ds.shape) != len(shape) or any(want is not None and got != want for got, want in zip(ds.shape, shape)):
        expected = "(" + ", ".join("n" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
        raise FileDamage(f"{ds.name} has shape {ds.shape} where {expected} belongs")


def _has_kind(dtype: np.dtype, kind: str) -> bool:
    if kind == TEXT:
        return h5py.check_string_dtype(dtype) is not None or dtype.kind in "SU"
    return dtype.kind in kind


def _dtype_name(dtype: np.dtype) -> str:
    return "text" if h5py.check_string_dtype(dtype) is not None else str(dtype)


def values(ds: h5py.Dataset, selection: Any = ()) -> np.ndarray:
    """A dataset's values (or a selection of them); a failed read names the dataset and, for a failed filter, says
    whether its checksum or its compression broke."""
    try:
        return ds[selection]
    except OSError as exc:
        if "filter" not in str(exc):
            raise
        if ds.fletcher32:
            raise FileDamage(f"checksum mismatch in {ds.name} (the file was altered or the disk is failing)") from None
        raise FileDamage(f"the compressed data of {ds.name} are corrupt (the file was altered or the disk is "
                         f"failing)") from None


def read_dataset(parent: h5py.Group, name: str, kind: str, shape: tuple[int | None, ...],
                 required: bool = True) -> np.ndarray | None:
    """A dataset's values after checking its kind and shape; None when absent and not required."""
    ds = dataset_at(parent, name, required)
    if ds is None:
        return None
    check_dataset(ds, kind, shape)
    return values(ds)


def check_finite(name: str, array: np.ndarray) -> None:
    """FileDamage when stored numbers hold NaN or infinity (a reader would show them as numbers)."""
    finite = np.isfinite(array)
    if finite.all():
        return
    nan = int(np.isnan(array).sum())
    bad = "NaN" if nan else "inf"
    raise FileDamage(f"{name} holds {bad} in {int(array.size - finite.sum())} of {array.size} values")


# ---------------------------------------------------------------- attributes


def number_attr(attrs: h5py.AttributeManager, name: str, cast: Callable[[Any], T], default: T) -> T:
    """A numeric attribute as int or float (default when absent); FileDamage for text, arrays or fractions where
    an integer belongs."""
    value = attrs.get(name)
    if value is None:
        return default
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, (bool, np.bool_)):
        raise FileDamage(f"attribute '{name}' = {shown(value)} is not a number")
    if cast is int and float(value) != int(value):
        raise FileDamage(f"attribute '{name}' = {shown(value)} is not a whole number")
    return cast(value)


def text_attr(attrs: h5py.AttributeManager, name: str, required: bool = False) -> str:
    """A text attribute ("" when absent and not required); FileDamage when it holds no text."""
    value = attrs.get(name)
    if value is None:
        if required:
            raise FileDamage(f"the attribute '{name}' is missing")
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise FileDamage(f"attribute '{name}' = {shown(value)} is not text")
    return value


def text_list_attr(attrs: h5py.AttributeManager, name: str) -> list[str]:
    """An attribute holding a list of strings ([] when absent)."""
    value = attrs.get(name)
    if value is None:
        return []
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        raise FileDamage(f"attribute '{name}' = {shown(value)} is not a list of text")
    return [printable(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for v in value]


__all__ = ["FLOAT", "INTEGER", "OPEN_OPTIONS", "RERUN", "TEXT", "FileDamage", "UnreadableFile", "check_dataset",
           "check_finite", "check_regular_file", "dataset_at", "group_at", "number_attr", "number_name", "one_line",
           "opened", "read_dataset", "read_file", "shown", "subgroups", "text_attr", "text_list_attr", "values"]
