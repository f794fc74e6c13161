"""The workspace folder: listing runs newest first, reporting unreadable files, naming new runs."""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import h5py
import pytest
from storage_events import small_spec

from ensgui.engine.errors import RunFileError
from ensgui.storage.workspace import Workspace, default_workspace, safe_name, same_file


def set_created(path: Path, created: str) -> None:
    with h5py.File(path, "a") as f:
        f.attrs["created"] = created


def test_creates_the_folder(tmp_path):
    folder = tmp_path / "a" / "b"
    ws = Workspace(folder)
    assert folder.is_dir() and ws.folder == folder
    assert ws.runs() == [] and ws.problems == []


def test_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RunFileError, match="cannot create the workspace folder"):
        Workspace(blocker / "runs")


def test_runs_newest_first_with_problems_reported(tmp_path, write_run):
    ws = Workspace(tmp_path / "runs")
    old = write_run(ws.folder / "b-old.h5", spec=small_spec(name="old"))
    new = write_run(ws.folder / "a-new.h5", spec=small_spec(name="new"))
    # Same wall-clock instant written with different offsets: the sort must use the instant.
    set_created(old, "2024-05-01T12:00:00+02:00")  # 10:00 UTC
    set_created(new, "2024-05-01T11:30:00+01:00")  # 10:30 UTC
    middle = write_run(ws.folder / "c-middle.h5", spec=small_spec(name="middle"), end=None, epochs_done=0)
    set_created(middle, "2024-05-01T10:15:00+00:00")
    (ws.folder / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 10)
    (ws.folder / "notes.txt").write_text("not a run")
    (ws.folder / "dir.h5").mkdir()

    runs = ws.runs()
    assert [r.name for r in runs] == ["new", "middle", "old"]
    assert [r.status for r in runs] == ["finished", "running", "finished"]
    assert runs[0].headline.keys() == {"error", "nll", "cnll", "ece"}
    assert runs[1].headline == {}
    assert len(ws.problems) == 1
    assert "broken.h5" in ws.problems[0] and "\n" not in ws.problems[0]

    (ws.folder / "broken.h5").unlink()
    ws.runs()
    assert ws.problems == []


class FrozenClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2024, 5, 1, 9, 8, 7)


def test_new_run_path_is_unique_and_safe(tmp_path, monkeypatch):
    monkeypatch.setattr("ensgui.storage.workspace.datetime", FrozenClock)
    ws = Workspace(tmp_path)
    first = ws.new_run_path("my run: lr=0.1/β")
    assert first == tmp_path / "20240501-090807-my-run-lr-0.1.h5"
    assert not first.exists()
    first.write_bytes(b"")
    second = ws.new_run_path("my run: lr=0.1/β")
    assert second.name == "20240501-090807-my-run-lr-0.1-2.h5"
    second.write_bytes(b"")
    assert ws.new_run_path("my run: lr=0.1/β").name == "20240501-090807-my-run-lr-0.1-3.h5"


def test_names_are_reserved_so_two_runs_started_in_one_second_never_share_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr("ensgui.storage.workspace.datetime", FrozenClock)
    ws = Workspace(tmp_path)
    first, second = ws.new_run_path("race"), ws.new_run_path("race")  # nothing written yet by either run
    assert first != second and second.name.endswith("-race-2.h5")
    assert not first.exists() and not second.exists()
    assert ws.runs() == [] and ws.problems == []  # a reservation is hidden and no run


def test_processes_racing_for_one_name_get_one_each(tmp_path, monkeypatch):
    import multiprocessing

    monkeypatch.setattr("ensgui.storage.workspace.datetime", FrozenClock)
    with multiprocessing.get_context("fork").Pool(4) as pool:
        names = pool.map(_reserve, [str(tmp_path)] * 8)
    assert len(set(names)) == 8


def _reserve(folder: str) -> str:
    return Workspace(Path(folder)).new_run_path("race").name


def test_a_full_disk_fails_the_run_with_one_message_and_keeps_what_was_written(tmp_path, monkeypatch):
    import errno

    from ensgui.engine.spec import Spec
    from ensgui.engine.task_state import TaskState
    from ensgui.storage.checkpoint import has_checkpoint, read_checkpoint
    from ensgui.storage.reader import read_run
    from ensgui.storage.writer import RunWriter
    from ensgui.tasks.run import run_to_file
    from support import tiny_spec_dict

    original, flushes = RunWriter._write_pending, []

    def fill_the_disk(self, f):
        flushes.append(1)
        if len(flushes) == 6:  # the third epoch's flush: two epochs and their checkpoints are on disk
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, f)

    monkeypatch.setattr(RunWriter, "_write_pending", fill_the_disk)
    path = tmp_path / "full.h5"
    spec = Spec.from_dict(tiny_spec_dict(members=2, epochs=4, train_size=256, val_size=64, test_size=100))
    result = run_to_file(spec, path, TaskState(), threads=1)
    assert result.status == "failed"
    assert "No space left on device" in result.error and "free disk space" in result.error
    assert "\n" not in result.error
    monkeypatch.setattr(RunWriter, "_write_pending", original)
    run = read_run(path, with_probs=False)  # what was stored before the disk filled up reads as it was
    assert len(run.metrics[0]["val_acc"]) == 2
    assert has_checkpoint(path) and read_checkpoint(path).state.epoch == 2


@pytest.mark.parametrize("name, safe", [("deep ensemble", "deep-ensemble"), ("../../etc/passwd", "etc-passwd"),
                                        ("", "run"), ("???", "run"), ("x" * 100, "x" * 60), ("a.b_c-d", "a.b_c-d")])
def test_safe_name(name, safe):
    assert safe_name(name) == safe


def test_default_workspace(monkeypatch, tmp_path):
    monkeypatch.setenv("ENSGUI_WORKSPACE", str(tmp_path / "ws"))
    assert default_workspace() == tmp_path / "ws"
    monkeypatch.delenv("ENSGUI_WORKSPACE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_workspace() == tmp_path / "ensgui-runs"


def test_same_file_sees_through_links_and_relative_parts(tmp_path):
    run = tmp_path / "a.h5"
    run.write_bytes(b"")
    (tmp_path / "link.h5").symlink_to(run)
    (tmp_path / "b.h5").write_bytes(b"")
    assert same_file(run, tmp_path / "sub" / ".." / "a.h5")
    assert same_file(run, tmp_path / "link.h5")
    assert not same_file(run, tmp_path / "b.h5")


@contextmanager
def no_hang(seconds: int):
    """Fail instead of blocking for ever (opening a named pipe waits for a writer)."""
    def fail(*_):
        raise TimeoutError(f"still blocked after {seconds} s")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_broken_files_are_listed_as_unreadable_beside_the_good_ones(tmp_path, write_run):
    ws = Workspace(tmp_path / "runs")
    good = [write_run(ws.folder / f"good-{i}.h5", spec=small_spec(name=f"good {i}")) for i in range(2)]
    scalar_curve = write_run(ws.folder / "scalar-curve.h5")
    with h5py.File(scalar_curve, "a") as f:
        del f["eval/test/curves/error"]
        f["eval/test/curves/error"] = 0.5  # was an IndexError that failed the whole listing
    (ws.folder / "killed.h5").write_bytes(good[0].read_bytes()[:96])
    os.mkfifo(ws.folder / "pipe.h5")
    (ws.folder / "link.h5").symlink_to(ws.folder / "gone.h5")
    for path in ws.folder.iterdir():
        if path.is_file() and not path.is_symlink():
            old = path.stat().st_mtime - 3600  # left long ago, not being written now
            os.utime(path, (old, old))

    with no_hang(20):
        runs = ws.runs()
    assert sorted(r.path for r in runs) == sorted(good)
    unreadable = {u.path.name: u for u in ws.unreadable}
    assert sorted(unreadable) == ["killed.h5", "link.h5", "pipe.h5", "scalar-curve.h5"]
    assert "/eval/test/curves/error has shape ()" in unreadable["scalar-curve.h5"].reason
    assert "truncated, 96 of" in unreadable["killed.h5"].reason
    assert "named pipe" in unreadable["pipe.h5"].reason
    assert "does not exist" in unreadable["link.h5"].reason
    for line in ws.problems:
        assert line.startswith("unreadable: ") and "\n" not in line
    assert ws.problems[0].startswith(f"unreadable: killed.h5 {unreadable['killed.h5'].reason}; re-run")
