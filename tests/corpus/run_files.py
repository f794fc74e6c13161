"""Bad run files and gap-sweep summaries: each a mutation of a good file, with the words its one-line message holds.

tests/e2e/test_bad_run_files.py shows every one with `ensgui show` and opens every run file as the GUI does. A
mutation gets a fresh copy of a good file (a real trained run, or a real sweep summary) and returns the path to
read, which may be something it built beside the copy (a folder, a link, a missing name). Files are named as
their corpus says (x.h5 for run files, x.sweep.h5 for sweeps), whichever good file they are made from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

Mutation = Callable[[Path], Path]
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
PROBS = "eval/test/probs"
LABELS = "eval/test/labels"
CURVES = "eval/test/curves"


@dataclass(frozen=True)
class BadFile:
    """One bad input: how it is made and what its message must say."""

    name: str
    mutate: Mutation
    words: tuple[str, ...]  # each must appear in the message (case-insensitive)
    show: bool = True  # `ensgui show` reads what is spoilt; False: only opening the run (GUI) does
    root_reads_it: bool = False  # root reads it anyway (file permissions), so the case needs another user
    made_from: str = ""  # "run" or "sweep": the good file it is a copy of, when not the corpus' own kind


# ---------------------------------------------------------------- mutations of the bytes


def truncate(size: int) -> Mutation:
    """Keep the first `size` bytes, as a writer killed while creating the file leaves it."""
    def mutate(path: Path) -> Path:
        path.write_bytes(path.read_bytes()[:size])
        return path
    return mutate


def truncate_fraction(fraction: float) -> Mutation:
    def mutate(path: Path) -> Path:
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * fraction)])
        return path
    return mutate


def replace_bytes(content: bytes) -> Mutation:
    def mutate(path: Path) -> Path:
        path.write_bytes(content)
        return path
    return mutate


def overwrite(offset: int, content: bytes) -> Mutation:
    """Overwrite bytes in place (a disk that returns garbage)."""
    def mutate(path: Path) -> Path:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(content)
        return path
    return mutate


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def flip_in_first_chunk(where: str, checksum: bool = True) -> Mutation:
    """Store a dataset again chunked (with HDF5's fletcher32 checksum unless told otherwise), then flip a byte in
    its first chunk on disk: what a failing disk or a careless edit does to stored weights or probabilities."""
    def mutate(path: Path) -> Path:
        with h5py.File(path, "a") as f:
            data = f[where][()]
            del f[where]
            chunks = (1,) + data.shape[1:] if data.ndim > 1 else data.shape
            ds = f.create_dataset(where, data=data, chunks=chunks, fletcher32=checksum,
                                  **({} if checksum else {"compression": "gzip"}))
            chunk = ds.id.get_chunk_info(0)
        flip_byte(path, chunk.byte_offset + chunk.size // 2)
        return path
    return mutate


# ---------------------------------------------------------------- mutations through h5py


def edit(change: Callable[[h5py.File], None]) -> Mutation:
    def mutate(path: Path) -> Path:
        with h5py.File(path, "a") as f:
            change(f)
        return path
    return mutate


def set_attr(name: str, value, where: str = "/") -> Mutation:
    def change(f: h5py.File) -> None:
        f[where].attrs[name] = value
    return edit(change)


def delete_attr(name: str, where: str = "/") -> Mutation:
    def change(f: h5py.File) -> None:
        del f[where].attrs[name]
    return edit(change)


def replace(where: str, value: Callable[[np.ndarray], object]) -> Mutation:
    """Store value(old contents) in place of a dataset (a dtype, a shape or values the reader must refuse)."""
    def change(f: h5py.File) -> None:
        old = f[where][()]
        del f[where]
        f[where] = value(old)
    return edit(change)


def set_values(where: str, change_values: Callable[[np.ndarray], None]) -> Mutation:
    """Change some values of a dataset in place, keeping its dtype and shape."""
    def change(f: h5py.File) -> None:
        values = f[where][()]
        change_values(values)
        f[where][...] = values
    return edit(change)


def delete(where: str) -> Mutation:
    def change(f: h5py.File) -> None:
        del f[where]
    return edit(change)


def group_as_dataset(where: str) -> Mutation:
    """A dataset where a group belongs."""
    def change(f: h5py.File) -> None:
        del f[where]
        f[where] = np.arange(3.0)
    return edit(change)


def dataset_as_group(where: str) -> Mutation:
    """A group where a dataset belongs."""
    def change(f: h5py.File) -> None:
        del f[where]
        f.create_group(where)
    return edit(change)


def rename(where: str, to: str) -> Mutation:
    def change(f: h5py.File) -> None:
        f.move(where, to)
    return edit(change)


def first_snapshot(f: h5py.File) -> h5py.Group:
    return f["members/0/snapshots/0"]


def first_weight(path: Path) -> str:
    with h5py.File(path, "r") as f:
        group = first_snapshot(f)
        return group[next(iter(group))].name


def flip_in_first_weight(path: Path) -> Path:
    return flip_in_first_chunk(first_weight(path))(path)


def set_value(index: tuple, value: float) -> Callable[[np.ndarray], None]:
    def change(values: np.ndarray) -> None:
        values[index] = value
    return change


# ---------------------------------------------------------------- mutations of the path


def missing(path: Path) -> Path:
    path.unlink()
    return path


def dangling_link(path: Path) -> Path:
    link = path.with_name(f"link-{path.name}")
    link.symlink_to(path.with_name("gone.h5"))
    return link


def folder(path: Path) -> Path:
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("a folder named like a run file")
    return path


def inside_a_file(path: Path) -> Path:
    """A path that goes through a file as if it were a folder."""
    return path / "run.h5"


def unreadable(path: Path) -> Path:
    path.chmod(0)
    return path


def foreign(path: Path) -> Path:
    """An HDF5 file of another program: no ensgui attributes at all."""
    path.unlink()
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((4, 8, 8), dtype=np.uint8)
        f.attrs["creator"] = "another program"
    return path


def unchanged(path: Path) -> Path:
    """The good file as it is (under the other kind's name)."""
    return path


# ---------------------------------------------------------------- the corpora


def _bad_format() -> list[BadFile]:
    return [
        BadFile("format-newer", set_attr("format", 2), ("format 2", "newer ensgui")),
        BadFile("format-text", set_attr("format", "one"), ("format", "'one'", "not a format number")),
        BadFile("format-fraction", set_attr("format", 1.5), ("format", "1.5")),
        BadFile("format-zero", set_attr("format", 0), ("format", "0")),
        BadFile("format-array", set_attr("format", [1, 1]), ("format",)),
        BadFile("format-missing", delete_attr("format"), ("not an ensgui run file", "'format'")),
        BadFile("foreign-hdf5", foreign, ("not an ensgui run file",)),
        BadFile("spec-missing", delete_attr("spec"), ("damaged", "'spec'")),
        BadFile("spec-not-toml", set_attr("spec", "name = [unclosed\nseed ="), ("damaged", "spec", "TOML")),
        BadFile("spec-a-number", set_attr("spec", 42), ("damaged", "'spec'", "text")),
    ]


def _bad_bytes() -> list[BadFile]:
    return [
        BadFile("empty", replace_bytes(b""), ("empty", "0 bytes")),
        BadFile("text", replace_bytes(b"name = 'a spec, not a run file'\n" * 20), ("not an HDF5 file",)),
        BadFile("random-bytes", replace_bytes(np.random.default_rng(1).bytes(5000)), ("not an HDF5 file",)),
        BadFile("signature-only", replace_bytes(HDF5_SIGNATURE), ("damaged", "HDF5")),
        BadFile("signature-and-zeros", replace_bytes(HDF5_SIGNATURE + bytes(100)), ("damaged", "HDF5")),
        BadFile("killed-at-creation", truncate(96), ("truncated", "96 of")),
        BadFile("truncated-2k", truncate(2048), ("truncated", "2048 of")),
        BadFile("truncated-half", truncate_fraction(0.5), ("truncated",)),
        BadFile("truncated-last-byte", truncate_fraction(0.9999), ("truncated",)),
        BadFile("superblock-garbage", overwrite(8, b"\xff" * 40), ("damaged",)),
    ]


def _bad_paths() -> list[BadFile]:
    return [
        BadFile("missing", missing, ("does not exist",)),
        BadFile("dangling-link", dangling_link, ("link", "does not exist")),
        BadFile("folder", folder, ("a folder",)),
        BadFile("through-a-file", inside_a_file, ("not a folder",)),
        BadFile("no-permission", unreadable, ("permission denied",), root_reads_it=True),
    ]


def _bad_eval() -> list[BadFile]:
    curve = f"{CURVES}/error"
    return [
        BadFile("eval-a-dataset", group_as_dataset("eval"), ("damaged", "/eval", "group")),
        BadFile("eval-test-a-dataset", group_as_dataset("eval/test"), ("damaged", "/eval/test", "group")),
        BadFile("curves-a-dataset", group_as_dataset(CURVES), ("damaged", CURVES, "group")),
        BadFile("curve-scalar", replace(curve, lambda old: 0.5), ("damaged", curve, "shape ()")),
        BadFile("curve-empty", replace(curve, lambda old: np.zeros((0, 2))), ("damaged", curve, "no rows")),
        BadFile("curve-1d", replace(curve, lambda old: old[:, 0]), ("damaged", curve, "shape")),
        BadFile("curve-3-columns", replace(curve, lambda old: np.zeros((len(old), 3))), ("damaged", curve, "shape")),
        BadFile("curve-text", replace(curve, lambda old: np.array([b"a", b"b"])), ("damaged", curve)),
        BadFile("curve-short", replace(curve, lambda old: old[:-1]), ("damaged", curve, "rows")),
        BadFile("curve-a-group", dataset_as_group(curve), ("damaged", curve, "dataset")),
        BadFile("curve-nan", set_values(curve, set_value((0, 0), np.nan)), ("damaged", curve, "NaN")),
        BadFile("curve-inf", set_values(f"{CURVES}/nll", set_value((-1, 0), np.inf)), ("damaged", "nll", "inf")),
        BadFile("curve-std-nan", set_values(f"{CURVES}/ece", set_value((1, 1), np.nan)), ("damaged", "ece", "NaN")),
        BadFile("curve-checksum", flip_in_first_chunk(curve), ("damaged", "checksum mismatch", curve)),
        BadFile("probs-nan", set_values(PROBS, set_value((1, 5, 3), np.nan)), ("damaged", PROBS, "NaN")),
        BadFile("probs-inf", set_values(PROBS, set_value((0, 0, 0), -np.inf)), ("damaged", PROBS, "inf")),
        BadFile("probs-negative", set_values(PROBS, set_value((2, 7, 1), -0.5)), ("damaged", PROBS, "[0, 1]")),
        BadFile("probs-above-one", set_values(PROBS, set_value((0, 3, 4), 7.0)), ("damaged", PROBS, "[0, 1]")),
        BadFile("probs-integers", replace(PROBS, lambda old: (old * 100).astype(np.int64)),
                ("damaged", PROBS, "int64")),
        BadFile("probs-text", replace(PROBS, lambda old: np.array([b"0.1", b"0.9"])), ("damaged", PROBS)),
        BadFile("probs-2d", replace(PROBS, lambda old: old[0]), ("damaged", PROBS, "shape")),
        BadFile("probs-scalar", replace(PROBS, lambda old: 0.5), ("damaged", PROBS, "shape")),
        BadFile("probs-fewer-objects", replace(PROBS, lambda old: old[:, :-1]), ("damaged", "objects", LABELS)),
        BadFile("probs-fewer-rows", replace(PROBS, lambda old: old[:-1]), ("damaged", "rows")),
        BadFile("probs-checksum", flip_in_first_chunk(PROBS), ("damaged", "checksum mismatch", PROBS, "disk")),
        BadFile("probs-deflate-broken", flip_in_first_chunk(PROBS, checksum=False), ("damaged", PROBS)),
        BadFile("labels-too-large", set_values(LABELS, set_value(4, 10)), ("damaged", LABELS, "10", "0..9")),
        BadFile("labels-negative", set_values(LABELS, set_value(0, -1)), ("damaged", LABELS, "-1")),
        BadFile("labels-floats", replace(LABELS, lambda old: old.astype(np.float64)), ("damaged", LABELS, "float64")),
        BadFile("labels-2d", replace(LABELS, lambda old: old.reshape(-1, 1)), ("damaged", LABELS, "shape")),
        BadFile("labels-missing", delete(LABELS), ("damaged", LABELS, "missing")),
        BadFile("member-metric-2d", replace("eval/test/members/error", lambda old: np.stack([old, old], 1)),
                ("damaged", "/eval/test/members/error", "shape")),
        BadFile("temperature-text", set_attr("temperature", "warm", "eval/val"), ("damaged", "temperature", "warm")),
    ]


def _bad_rest() -> list[BadFile]:
    return [
        BadFile("schedule-a-dataset", group_as_dataset("schedule"), ("damaged", "/schedule", "group")),
        BadFile("schedule-lr-missing", delete("schedule/lr"), ("damaged", "/schedule/lr", "missing")),
        BadFile("schedule-epochs-text", set_attr("epochs", "many", "schedule"), ("damaged", "epochs", "many")),
        BadFile("metrics-member-not-a-number", rename("metrics/0", "metrics/first"), ("damaged", "/metrics/first")),
        BadFile("metrics-member-a-dataset", group_as_dataset("metrics/1"), ("damaged", "/metrics/1", "group")),
        BadFile("metric-2-columns", replace("metrics/0/train_loss", lambda old: old[:, :2]),
                ("damaged", "/metrics/0/train_loss", "shape")),
        BadFile("log-a-group", dataset_as_group("log"), ("damaged", "/log", "dataset")),
        BadFile("row-names-a-number", set_attr("row_names", 3), ("damaged", "row_names")),
        BadFile("elapsed-text", set_attr("elapsed", "fast"), ("damaged", "elapsed", "fast")),
        BadFile("extra-text", set_attr("extra.resolved_gap", "wide"), ("damaged", "extra.resolved_gap")),
        BadFile("running-pid-text", edit(_running_with_pid("abc")), ("damaged", "pid", "abc")),
        # Only opening the run (GUI) reads the snapshots and artefacts; `show` prints neither.
        BadFile("snapshots-a-dataset", group_as_dataset("members/0/snapshots"),
                ("damaged", "/members/0/snapshots", "group"), show=False),
        BadFile("snapshot-epoch-text", edit(lambda f: first_snapshot(f).attrs.__setitem__("epoch", "late")),
                ("damaged", "epoch", "late"), show=False),
        BadFile("snapshot-not-a-number", rename("members/0/snapshots/0", "members/0/snapshots/last"),
                ("damaged", "/members/0/snapshots/last"), show=False),
        BadFile("margins-raw-missing", delete("analysis/margins/test/raw"),
                ("damaged", "/analysis/margins/test", "raw"), show=False),
    ]


def _running_with_pid(pid: object) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        f.attrs["status"] = "running"
        f.attrs["pid"] = pid
    return change


def run_file_corpus() -> list[BadFile]:
    """Bad run files (x.h5), each made from a finished deep ensemble of 3 rows with a validation split."""
    return [*_bad_paths(), *_bad_bytes(), *_bad_format(), *_bad_eval(), *_bad_rest(),
            BadFile("sweep-named-as-run", unchanged, ("gap-sweep summary", ".sweep.h5"), made_from="sweep")]


def sweep_file_corpus() -> list[BadFile]:
    """Bad gap-sweep summaries (x.sweep.h5), each made from a good one of two points."""
    return [
        BadFile("sweep-missing", missing, ("does not exist",)),
        BadFile("sweep-folder", folder, ("a folder",)),
        BadFile("sweep-empty", replace_bytes(b""), ("empty",)),
        BadFile("sweep-text", replace_bytes(b"gaps = 0, 1\n" * 30), ("not an HDF5 file",)),
        BadFile("sweep-truncated", truncate(96), ("truncated",)),
        BadFile("sweep-run-file", unchanged, ("not a gap-sweep summary",), made_from="run"),
        BadFile("sweep-foreign", foreign, ("not a gap-sweep summary",)),
        BadFile("sweep-format-newer", set_attr("sweep_format", 2), ("sweep format 2", "newer ensgui")),
        BadFile("sweep-format-text", set_attr("sweep_format", "x"), ("damaged", "sweep_format", "'x'")),
        BadFile("sweep-gaps-missing", delete("gaps"), ("damaged", "/gaps", "missing")),
        BadFile("sweep-gaps-2d", replace("gaps", lambda old: old.reshape(-1, 1)), ("damaged", "/gaps", "shape")),
        BadFile("sweep-gaps-text", replace("gaps", lambda old: old.astype(bytes)), ("damaged", "/gaps")),
        BadFile("sweep-labels-short", replace("labels", lambda old: old[:-1]), ("damaged", "points")),
        BadFile("sweep-hessian-3-columns", replace("hessian", lambda old: np.zeros((len(old), 3))),
                ("damaged", "/hessian", "shape")),
        BadFile("sweep-runs-a-group", dataset_as_group("runs"), ("damaged", "/runs", "dataset")),
        BadFile("sweep-runs-numbers", replace("runs", lambda old: np.arange(len(old))), ("damaged", "/runs", "text")),
        BadFile("sweep-checksum", flip_in_first_chunk("test_acc"), ("damaged", "checksum mismatch", "/test_acc")),
        BadFile("sweep-width-objects-text", set_attr("width_objects", "many"), ("damaged", "width_objects")),
    ]


SUFFIXES = {"run": ".h5", "sweep": ".sweep.h5"}


def names(corpus: Sequence[BadFile]) -> list[str]:
    return [bad.name for bad in corpus]


def age(path: Path, seconds: float = 3600.0) -> None:
    """Date a file back, as a file left by a run killed long ago is: a reader retries a fresh file that looks
    damaged for a moment, since its writer may be at work on it."""
    if os.path.lexists(path) and not path.is_symlink():
        when = os.stat(path).st_mtime - seconds
        os.utime(path, (when, when))


def make(bad: BadFile, goods: dict[str, Path], folder: Path, kind: str, stem: str = "x") -> Path:
    """Build one bad file of a corpus ("run" or "sweep") in folder: a copy of a good file named <stem><suffix>,
    spoilt and dated back."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{stem}{SUFFIXES[kind]}"
    copy.write_bytes(goods[bad.made_from or kind].read_bytes())
    path = bad.mutate(copy)
    age(path)
    return path


def write_good_sweep(path: Path, run: Path) -> Path:
    """A finished gap-sweep summary of two points (both pointing at one good run file), as a sweep writes it."""
    from ensgui.engine.spec import Spec
    from ensgui.engine.width import TraceEstimate, WidthResult
    from ensgui.storage.sweep_store import SCALARS, PointRecord, SummaryFile
    from support import tiny_spec_dict

    trace = TraceEstimate(12.5, 0.5, 20)
    points = [PointRecord(label, gap, run, "finished", values={name: 0.5 for name in SCALARS},
                          width=WidthResult(trace, trace, trace, 100)) for label, gap in (("0", 0.0), ("1", 1.0))]
    SummaryFile(path, Spec.from_dict(tiny_spec_dict()), "0, 1", 100, 20, 0.01, 2, False).write(points, "finished")
    return path


__all__ = ["BadFile", "SUFFIXES", "age", "make", "names", "run_file_corpus", "sweep_file_corpus", "write_good_sweep"]
