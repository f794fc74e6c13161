"""How a reader meets a file that is not (yet) a sound run file: it waits out a writer's update, gives up at once
on a file damaged long ago, names a failed checksum, and says what HDF5's refusals mean."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import h5py
import pytest

from corpus.run_files import age, first_weight, flip_in_first_chunk
from ensgui.storage import file_checks
from ensgui.storage.file_checks import QUIET_S, UnreadableFile
from ensgui.storage.reader import list_snapshots, read_run, read_snapshot, read_summary

LOCKED = ("Unable to synchronously open file (unable to lock file, errno = 11, error message = 'Resource "
          "temporarily unavailable')")


def write_slowly(path: Path, data: bytes, pieces: int = 6, pause: float = 0.08) -> threading.Thread:
    """Write data into path piece by piece in a thread, as a writer flushing a large update does."""
    def write() -> None:
        step = len(data) // pieces + 1
        with open(path, "r+b") as f:
            for start in range(0, len(data), step):
                time.sleep(pause)
                f.seek(start)
                f.write(data[start:start + step])
                f.flush()
    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_file_caught_while_it_is_written_is_read_once_whole(tmp_path, write_run, monkeypatch):
    whole = write_run().read_bytes()
    path = tmp_path / "being-written.h5"
    path.write_bytes(whole[:96])  # a header that promises more bytes than are there yet
    opens = FlakyOpen(failures=0)
    monkeypatch.setattr(file_checks.h5py, "File", opens)
    writer = write_slowly(path, whole)
    try:
        summary = read_summary(path)
    finally:
        writer.join()
    assert summary.status == "finished" and opens.calls > 1


def test_a_file_damaged_long_ago_fails_at_once(tmp_path, write_run):
    path = write_run()
    path.write_bytes(path.read_bytes()[:2048])
    age(path)
    started = time.monotonic()
    with pytest.raises(UnreadableFile, match="is damaged: truncated, 2048 of"):
        read_summary(path)
    assert time.monotonic() - started < 0.2


def test_a_fresh_file_that_stops_changing_is_given_up_soon(tmp_path, write_run):
    path = write_run()
    path.write_bytes(path.read_bytes()[:2048])
    started = time.monotonic()
    with pytest.raises(UnreadableFile, match="truncated"):
        read_summary(path)
    assert QUIET_S <= time.monotonic() - started < QUIET_S + 0.5


class FlakyOpen:
    """h5py.File that fails as a locked file does the first `failures` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.real = h5py.File

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError(LOCKED)
        return self.real(*args, **kwargs)


def test_a_file_locked_for_a_moment_is_retried_however_old(tmp_path, write_run, monkeypatch):
    path = write_run()
    age(path)
    flaky = FlakyOpen(failures=3)
    monkeypatch.setattr(file_checks.h5py, "File", flaky)
    assert read_run(path).summary.status == "finished"
    assert flaky.calls == 4


def test_a_file_that_stays_locked_names_the_cause(tmp_path, write_run, monkeypatch):
    path = write_run()
    monkeypatch.setattr(file_checks, "RETRY_S", 0.3)
    monkeypatch.setattr(file_checks.h5py, "File", FlakyOpen(failures=1000))
    started = time.monotonic()
    with pytest.raises(UnreadableFile, match="is held by another program .*unable to lock file.*; try again when"):
        read_summary(path)
    assert 0.3 <= time.monotonic() - started < 1.0


def test_permission_denied_is_named(tmp_path, write_run, monkeypatch):
    path = write_run()

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, f"Unable to synchronously open file (unable to open file: name = '{path}', "
                                  f"errno = 13, error message = 'Permission denied', flags = 0, o_flags = 0)")

    monkeypatch.setattr(file_checks.h5py, "File", refuse)
    with pytest.raises(UnreadableFile, match="cannot be opened: permission denied; ask its owner") as info:
        read_summary(path)
    assert not info.value.may_pass and not info.value.busy


def test_a_flipped_byte_in_checksummed_weights_is_named(tmp_path, write_run):
    path = write_run()
    weight = first_weight(path)
    flip_in_first_chunk(weight)(path)
    assert len(list_snapshots(path)) > 0  # what lists the snapshots reads no weights
    with pytest.raises(UnreadableFile) as info:
        read_snapshot(path, 0, 0)
    assert str(info.value) == (f"{path} is damaged: checksum mismatch in {weight} (the file was altered or the disk "
                               f"is failing); re-run the experiment or restore the file from a backup")


def test_a_good_file_is_read_without_a_retry(tmp_path, write_run, monkeypatch):
    path = write_run()
    counting = FlakyOpen(failures=0)
    monkeypatch.setattr(file_checks.h5py, "File", counting)
    read_run(path)
    assert counting.calls == 1
