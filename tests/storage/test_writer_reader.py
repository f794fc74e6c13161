"""Round trips through the run file: every dataset, dtype, shape and attribute, status, refusals and damage."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytest
from storage_events import CURVE_METRICS, MEMBER_METRICS, TEST_N, VAL_N, run_events, small_spec, write_events

import ensgui
from ensgui.engine.errors import RunFileError
from ensgui.engine.events import (EpochEnded, Evaluated, LogLine, MemberData, RunEnded, RunStarted, Scalar,
                                  SnapshotTaken)
from ensgui.engine.methods import plan_for
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.tasks.run import run_to_file
from ensgui.storage import layout as L
from ensgui.storage.reader import list_snapshots, read_run, read_snapshot, read_summary
from ensgui.storage.writer import RunWriter


def expected_scalars(events, member: int, name: str) -> np.ndarray:
    return np.array([[e.step, e.epoch, e.value] for e in events
                     if isinstance(e, Scalar) and e.member == member and e.name == name], dtype=np.float64)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------- layout, through plain h5py


def test_layout_through_plain_h5py(tmp_path):
    spec = small_spec()
    events = run_events(spec)
    path = tmp_path / "run.h5"
    write_events(path, events)
    plan = plan_for(spec)
    started = next(e for e in events if isinstance(e, RunStarted))

    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["format"] == 1 and L.FORMAT == 1
        assert a["ensgui_version"] == ensgui.__version__
        assert a["torch_version"] not in ("", "unknown")
        created = datetime.fromisoformat(a["created"])
        assert created.utcoffset() is not None
        assert abs((datetime.now().astimezone() - created).total_seconds()) < 120
        assert a["status"] == "finished"
        assert a["device"] == "cpu"
        assert a["spec"] == spec.to_toml()
        assert "error" not in a
        assert a["pid"] == os.getpid()
        assert a["hostname"] == socket.gethostname()
        assert a["elapsed"] == pytest.approx(12.5)
        assert a["extra.peak_memory_mb"] == pytest.approx(321.0)
        assert list(a["row_names"]) == ["member 0", "member 1"] == list(started.row_names)

        lr = f["schedule/lr"]
        assert lr.dtype == np.float64 and lr.shape == (plan.total_iters,)
        np.testing.assert_array_equal(lr[()], plan.lr)
        snaps = f["schedule/snapshots"]
        assert snaps.dtype == np.int64
        np.testing.assert_array_equal(snaps[()], plan.snapshots)
        s = f["schedule"].attrs
        assert (s["iters_per_epoch"], s["epochs"], s["members"], s["rows"]) == (
            plan.iters_per_epoch, plan.epochs, plan.members, plan.rows)

        assert sorted(f["metrics"]) == ["0", "1"]
        for m in (0, 1):
            assert sorted(f[f"metrics/{m}"]) == ["lr", "train_acc", "train_loss", "val_acc", "val_loss"]
            for name in f[f"metrics/{m}"]:
                ds = f[f"metrics/{m}/{name}"]
                assert ds.dtype == np.float64 and ds.ndim == 2 and ds.shape[1] == 3
                assert ds.maxshape == (None, 3) and ds.chunks is not None
                np.testing.assert_array_equal(ds[()], expected_scalars(events, m, name))

        for m in (0, 1):
            data = next(e for e in events if isinstance(e, MemberData) and e.member == m)
            for name, values in (("train_indices", data.train_indices), ("oob_indices", data.oob_indices)):
                assert f[f"members/{m}/{name}"].dtype == np.int64
                np.testing.assert_array_equal(f[f"members/{m}/{name}"][()], values)
            snap = next(e for e in events if isinstance(e, SnapshotTaken) and e.member == m)
            group = f[f"members/{m}/snapshots/0"]
            assert dict(group.attrs) == {"epoch": snap.epoch, "step": snap.step, "lr": snap.lr, "row": snap.row}
            assert sorted(group) == sorted(snap.state)  # dotted names kept as they are
            for name, tensor in snap.state.items():
                assert isinstance(group[name], h5py.Dataset)
                assert group[name].dtype == tensor.dtype and group[name].shape == tensor.shape
                np.testing.assert_array_equal(group[name][()], tensor)

        for split, n in (("val", VAL_N), ("test", TEST_N)):
            ev = next(e for e in events if isinstance(e, Evaluated) and e.split == split)
            g = f[f"eval/{split}"]
            assert g["probs"].dtype == np.float32 and g["probs"].shape == (2, n, 10)
            assert g["probs"].compression in ("gzip", "lzf")
            np.testing.assert_array_equal(g["probs"][()], ev.probs)
            assert g["labels"].dtype == np.int64 and g["labels"].shape == (n,)
            np.testing.assert_array_equal(g["labels"][()], ev.labels)
            assert sorted(g["curves"]) == sorted(CURVE_METRICS)
            for metric in CURVE_METRICS:
                assert g[f"curves/{metric}"].dtype == np.float64 and g[f"curves/{metric}"].shape == (2, 2)
                np.testing.assert_array_equal(g[f"curves/{metric}"][()], ev.curves[metric])
            for metric in MEMBER_METRICS:
                assert g[f"members/{metric}"].dtype == np.float64 and g[f"members/{metric}"].shape == (2,)
                np.testing.assert_array_equal(g[f"members/{metric}"][()], ev.member_metrics[metric])
            assert g.attrs["temperature"] == pytest.approx(1.25)

        log = f["log"]
        assert log.ndim == 1 and log.maxshape == (None,) and h5py.check_string_dtype(log.dtype).encoding == "utf-8"
        lines = [line.decode() for line in log[()]]
        assert lines == [e.text for e in events if isinstance(e, LogLine)]


def test_temperature_absent_when_none(tmp_path):
    spec = small_spec()
    rng = np.random.default_rng(1)
    events = [e for e in run_events(spec) if not isinstance(e, (Evaluated, RunEnded))]
    probs = rng.random((2, 5, 3)).astype(np.float32)
    events.append(Evaluated("test", probs, np.zeros(5, dtype=np.int64), {"error": np.zeros((2, 2))},
                            {"error": np.zeros(2)}, None))
    events.append(RunEnded("finished"))
    path = tmp_path / "run.h5"
    write_events(path, events)
    with h5py.File(path, "r") as f:
        assert "temperature" not in f["eval/test"].attrs
    assert read_run(path).eval["test"].temperature is None


# ---------------------------------------------------------------- the same file, through the reader


def test_read_run_round_trip(tmp_path):
    spec = small_spec()
    events = run_events(spec)
    path = tmp_path / "run.h5"
    write_events(path, events)
    plan = plan_for(spec)

    run = read_run(path)
    assert run.path == path
    assert run.spec_toml == spec.to_toml()
    assert run.spec is not None and run.spec.to_toml() == spec.to_toml()
    assert run.error == ""
    np.testing.assert_array_equal(run.lr, plan.lr)
    np.testing.assert_array_equal(run.snapshots, plan.snapshots)
    assert (run.iters_per_epoch, run.epochs, run.members) == (plan.iters_per_epoch, plan.epochs, plan.members)
    assert run.row_names == ["member 0", "member 1"]
    assert sorted(run.metrics) == [0, 1]
    for m in (0, 1):
        for name in ("train_loss", "lr", "train_acc", "val_loss", "val_acc"):
            np.testing.assert_array_equal(run.metrics[m][name], expected_scalars(events, m, name))
    assert sorted(run.eval) == ["test", "val"]
    for split in ("val", "test"):
        ev = next(e for e in events if isinstance(e, Evaluated) and e.split == split)
        data = run.eval[split]
        np.testing.assert_array_equal(data.probs, ev.probs)
        np.testing.assert_array_equal(data.labels, ev.labels)
        assert sorted(data.curves) == sorted(ev.curves)
        for metric in ev.curves:
            np.testing.assert_array_equal(data.curves[metric], ev.curves[metric])
        for metric in ev.member_metrics:
            np.testing.assert_array_equal(data.member_metrics[metric], ev.member_metrics[metric])
        assert data.temperature == pytest.approx(1.25)
    assert run.log == [e.text for e in events if isinstance(e, LogLine)]
    assert run.elapsed == pytest.approx(12.5)
    assert run.extra == {"peak_memory_mb": 321.0}

    s = run.summary
    assert (s.name, s.status, s.method, s.dataset, s.model, s.rows, s.device) == (
        "storage test", "finished", "deep_ensemble", "fashion-mnist", "lenet5_caffe", 2, "cpu")
    test = next(e for e in events if isinstance(e, Evaluated) and e.split == "test")
    assert s.headline == {m: pytest.approx(float(test.curves[m][-1, 0])) for m in ("error", "nll", "cnll", "ece")}
    assert read_summary(path) == s

    assert read_run(path, with_probs=False).eval["test"].probs is None

    snaps = list_snapshots(path)
    taken = [e for e in events if isinstance(e, SnapshotTaken)]
    assert snaps == [(e.member, e.index, e.epoch, e.step, e.lr, e.row, None) for e in taken]
    assert snaps[0].member == 0 and snaps[1].row == 1
    for e in taken:
        weights = read_snapshot(path, e.member, e.index)
        assert sorted(weights) == sorted(e.state)
        for name, tensor in e.state.items():
            assert weights[name].dtype == tensor.dtype
            np.testing.assert_array_equal(weights[name], tensor)
    with pytest.raises(RunFileError, match="no snapshot 3 of member 0"):
        read_snapshot(path, 0, 3)


def test_parameter_names_with_slashes_round_trip(tmp_path):
    spec = small_spec()
    state = {"block/conv.weight": np.ones((2, 2), np.float32), "100%.bias": np.zeros(2, np.float32)}
    events = [e for e in run_events(spec, end=None) if not isinstance(e, SnapshotTaken)]
    events.append(SnapshotTaken(0, 0, 0, 1, 15, 0.1, state))
    path = tmp_path / "run.h5"
    write_events(path, events)
    weights = read_snapshot(path, 0, 0)
    assert sorted(weights) == sorted(state)


def test_stored_spec_that_no_longer_validates_reads_as_none(tmp_path, write_run):
    path = write_run()
    with h5py.File(path, "a") as f:
        f.attrs["spec"] = f.attrs["spec"].replace('name = "deep_ensemble"', 'name = "retired_method"')
    run = read_run(path)
    assert run.spec is None
    assert "retired_method" in run.spec_toml
    assert run.summary.method == "retired_method"


# ---------------------------------------------------------------- status and flushing


def test_status_moves_from_running_to_the_end_status(tmp_path):
    spec = small_spec(epochs=2)
    events = run_events(spec)
    path = tmp_path / "run.h5"
    writer = RunWriter(path)
    first_epoch_end = next(i for i, e in enumerate(events) if isinstance(e, EpochEnded))
    start = next(i for i, e in enumerate(events) if isinstance(e, RunStarted))

    for event in events[:start]:
        writer(event)
    assert not path.exists()
    writer(events[start])
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "running"
        assert f["log"].shape == (1,)  # the line logged before the start is kept
    assert read_summary(path).status == "running"

    for event in events[start + 1:first_epoch_end]:
        writer(event)
    assert read_run(path).metrics == {}  # buffered until the epoch ends
    writer(events[first_epoch_end])
    run = read_run(path)
    assert run.summary.status == "running"
    assert run.metrics[0]["val_acc"].shape == (1, 3)
    assert run.elapsed is None and run.eval == {}

    for event in events[first_epoch_end + 1:]:
        writer(event)
    assert read_summary(path).status == "finished"
    assert read_run(path).metrics[1]["val_acc"].shape == (2, 3)


@pytest.mark.parametrize("status", ["failed", "diverged", "cancelled"])
def test_end_status_and_error(tmp_path, write_run, status):
    error = "" if status == "cancelled" else f"member 1 {status}: the training loss is not finite"
    path = write_run(end=status, error=error, epochs_done=1, spec=small_spec(epochs=3))
    run = read_run(path)
    assert run.summary.status == status
    assert run.error == error
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == status
        assert ("error" in f.attrs) == bool(error)
    if error:
        assert run.log[-1] == f"{status}: {error}"
    assert run.metrics[0]["val_acc"].shape == (1, 3)


def test_events_after_the_end_are_ignored(tmp_path, write_run):
    path = write_run()
    before = path.stat().st_mtime_ns
    writer = RunWriter(path)
    writer(RunEnded("failed", "late"))  # never started: must not touch the file
    assert path.stat().st_mtime_ns == before


def test_run_ended_without_start_creates_nothing(tmp_path):
    path = tmp_path / "never.h5"
    writer = RunWriter(path)
    writer(LogLine("loading"))
    writer(Scalar(0, "lr", 0, 0.1, 0.1))
    writer(EpochEnded(1))
    writer(RunEnded("failed", "Fashion-MNIST not found"))
    assert not path.exists()


def test_existing_path_is_refused_and_left_alone(tmp_path, write_run):
    path = write_run()
    content = path.read_bytes()
    spec = small_spec()
    started = next(e for e in run_events(spec) if isinstance(e, RunStarted))
    writer = RunWriter(path)
    with pytest.raises(RunFileError, match="already exists"):
        writer(started)
    writer(RunEnded("failed", "refused"))
    assert path.read_bytes() == content

    other = tmp_path / "notes.h5"
    other.write_text("not a run")
    with pytest.raises(RunFileError, match="never overwritten"):
        RunWriter(other)(started)
    assert other.read_text() == "not a run"


def test_runner_reports_the_refusal_as_a_failed_run(tmp_path):
    path = tmp_path / "taken.h5"
    path.write_bytes(b"keep me")
    spec = Spec.from_dict({"name": "tiny", "device": "cpu",
                           "data": {"name": "fashion-mnist", "train_size": 200, "val_size": 0},
                           "model": {"name": "lenet300_100"}, "method": {"name": "single"},
                           "optimizer": {"name": "sgd"}, "schedule": {"name": "base"}, "budget": {"epochs": 1}})
    result = run_to_file(spec, path, TaskState(), threads=1)
    assert result.status == "failed"
    assert "already exists" in result.error and str(path) in result.error
    assert path.read_bytes() == b"keep me"


def test_unwritable_location_fails_once_with_a_clear_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    started = next(e for e in run_events(small_spec()) if isinstance(e, RunStarted))
    writer = RunWriter(blocker / "run.h5")
    with pytest.raises(RunFileError, match="cannot create run file"):
        writer(started)
    writer(RunEnded("failed", "could not store"))  # must not raise a second time


# ---------------------------------------------------------------- damaged and foreign files


def assert_one_line_error(path: Path, reader, match: str) -> None:
    with pytest.raises(RunFileError, match=match) as info:
        reader(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message


@pytest.mark.parametrize("reader", [read_summary, read_run, list_snapshots])
def test_truncated_file_gives_one_line(tmp_path, write_run, reader):
    path = write_run()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert_one_line_error(path, reader, "not a readable ensgui run file|damaged")


def test_truncated_snapshot_read_gives_one_line(tmp_path, write_run):
    path = write_run()
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    assert_one_line_error(path, lambda p: read_snapshot(p, 0, 0), "not a readable ensgui run file|damaged")


def test_not_hdf5_missing_and_foreign_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("hello\nworld\n")
    assert_one_line_error(text, read_summary, "not a readable ensgui run file")
    assert_one_line_error(tmp_path / "missing.h5", read_run, "does not exist")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    assert_one_line_error(foreign, read_run, "not an ensgui run file")
    newer = tmp_path / "newer.h5"
    with h5py.File(newer, "w") as f:
        f.attrs["format"] = 99
    assert_one_line_error(newer, read_summary, "format 99")


# ---------------------------------------------------------------- a writer that died


def test_running_file_of_a_dead_process_reads_as_incomplete(tmp_path, write_run):
    path = write_run(spec=small_spec(epochs=3), end=None, epochs_done=2)
    assert read_summary(path).status == "running"  # this test process is its writer
    with h5py.File(path, "a") as f:
        f.attrs["pid"] = dead_pid()
    run = read_run(path)
    assert run.summary.status == "incomplete"
    assert read_summary(path).status == "incomplete"
    for m in (0, 1):
        assert run.metrics[m]["val_acc"].shape == (2, 3)
        np.testing.assert_array_equal(run.metrics[m]["val_acc"][:, 1], [1.0, 2.0])
    assert run.elapsed is None


def test_reused_pid_reads_as_incomplete(tmp_path, write_run):
    path = write_run(end=None)
    with h5py.File(path, "a") as f:
        if "process_start" not in f.attrs:
            pytest.skip("no /proc: process start times are not recorded here")
        f.attrs["process_start"] = int(f.attrs["process_start"]) - 1
    assert read_summary(path).status == "incomplete"


def test_writer_on_another_host_is_judged_by_the_file_age(tmp_path, write_run):
    path = write_run(end=None)
    with h5py.File(path, "a") as f:
        f.attrs["hostname"] = "some-other-machine.example"
    assert read_summary(path).status == "running"
    old = time.time() - 11 * 60
    os.utime(path, (old, old))
    assert read_summary(path).status == "incomplete"


def test_finished_file_is_never_incomplete(tmp_path, write_run):
    path = write_run()
    with h5py.File(path, "a") as f:
        f.attrs["pid"] = dead_pid()
    assert read_summary(path).status == "finished"


def test_a_flush_waits_out_a_read_only_open_in_the_same_process(tmp_path):
    """The Runs screen reads summaries in the GUI thread while the worker flushes: the flush must wait, not fail."""
    import threading
    import time

    import h5py

    from ensgui.storage.reader import OPEN_OPTIONS
    from ensgui.storage.writer import open_for_append

    path = tmp_path / "run.h5"
    with h5py.File(path, "w") as f:
        f.attrs["x"] = 1
    reader = h5py.File(path, "r", **OPEN_OPTIONS)
    with pytest.raises(OSError, match="already open"):
        h5py.File(path, "a", **OPEN_OPTIONS)  # what HDF5 does without the wait
    threading.Timer(0.3, reader.close).start()
    started = time.monotonic()
    with open_for_append(path) as f:
        f.attrs["x"] = 2
    assert time.monotonic() - started >= 0.25
    with h5py.File(path, "r") as f:
        assert f.attrs["x"] == 2
