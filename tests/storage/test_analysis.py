"""Interpolations stored under /analysis/interpolation: round trip, refusals, and nothing else touched."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from ensgui.engine.data import load_splits
from ensgui.engine.errors import CancelledError, RunFileError
from ensgui.engine.events import Artefact, Progress
from ensgui.engine.interpolation import InterpolationResult, lambda_grid
from ensgui.engine.line_losses import interpolate
from ensgui.engine.task_state import TaskState
from ensgui.storage.analysis import interpolation_meta, read_interpolations, write_interpolation
from ensgui.tasks.interpolation import compute_interpolations
from ensgui.storage.reader import SnapshotInfo, list_snapshots, read_run, read_snapshot, read_summary


def _result(seed: int, points: int = 21) -> InterpolationResult:
    rng = np.random.default_rng(seed)
    return InterpolationResult(np.linspace(0, 1, points), rng.random(points), rng.random(points),
                               rng.random(points), rng.random(points))


def _meta(a: tuple[int, int] = (0, 0), b: tuple[int, int] = (1, 0)) -> dict[str, Any]:
    return interpolation_meta(SnapshotInfo(a[0], a[1], 1, 10, 0.1, 0), SnapshotInfo(b[0], b[1], 1, 10, 0.1, 1),
                              train_objects=1234, batchnorm=False, device="cpu")


def _contents(path: Path, skip: str | None = "analysis") -> dict[str, Any]:
    """Every dataset's values and every attribute of the file, except those under one group."""
    with h5py.File(path, "r", locking=False) as f:
        out: dict[str, Any] = {"/": {k: repr(v) for k, v in f.attrs.items()}}

        def visit(name: str, obj: Any) -> None:
            if skip is not None and (name == skip or name.startswith(skip + "/")):
                return
            data = repr(obj[()].tolist()) if isinstance(obj, h5py.Dataset) else None
            out[name] = ({k: repr(v) for k, v in obj.attrs.items()}, data)

        f.visititems(visit)
    return out


def test_round_trip_keeps_arrays_attrs_and_order(write_run):
    path = write_run()
    first, second = _result(1), _result(2, points=41)
    write_interpolation(path, "m1s0-m0s0", first, _meta((1, 0), (0, 0)))
    write_interpolation(path, "m0s0-m1s0", second, _meta())
    stored = read_interpolations(path)
    assert list(stored) == ["m1s0-m0s0", "m0s0-m1s0"]  # the order they were computed, not alphabetical
    for label, expected in (("m1s0-m0s0", first), ("m0s0-m1s0", second)):
        arrays, attrs = stored[label]
        for name in InterpolationResult.ARRAYS:
            np.testing.assert_array_equal(getattr(arrays, name), getattr(expected, name))
        assert attrs["points"] == len(expected.lambdas)
        assert attrs["train_objects"] == 1234 and attrs["batchnorm"] is False and attrs["device"] == "cpu"
        datetime.fromisoformat(attrs["created"])
    assert stored["m0s0-m1s0"].attrs["a"] == "member 0 snapshot 0"
    assert stored["m0s0-m1s0"].attrs["b"] == "member 1 snapshot 0"
    assert stored["m0s0-m1s0"].attrs["b_member"] == 1
    # Plain h5py sees what docs/hdf5-layout.md describes.
    with h5py.File(path, "r", locking=False) as f:
        group = f["analysis/interpolation/m0s0-m1s0"]
        assert sorted(group) == sorted(InterpolationResult.ARRAYS)
        assert all(group[n].dtype == np.float64 and group[n].shape == (41,) for n in group)


def test_same_label_is_replaced_and_others_are_kept(write_run):
    path = write_run()
    write_interpolation(path, "keep", _result(1), _meta())
    write_interpolation(path, "again", _result(2), _meta())
    write_interpolation(path, "again", _result(3, points=25), _meta())
    stored = read_interpolations(path)
    assert set(stored) == {"keep", "again"}
    np.testing.assert_array_equal(stored["again"].result.test_loss, _result(3, points=25).test_loss)
    np.testing.assert_array_equal(stored["keep"].result.test_loss, _result(1).test_loss)


def test_other_groups_are_untouched(write_run):
    path = write_run()
    before = _contents(path)
    write_interpolation(path, "m0s0-m1s0", _result(1), _meta())
    write_interpolation(path, "m0s0-m1s0", _result(2), _meta())
    assert _contents(path) == before
    run = read_run(path)
    assert run.summary.status == "finished" and run.eval and run.metrics


def test_cancelled_runs_accept_analyses(write_run):
    path = write_run(end="cancelled")
    write_interpolation(path, "x", _result(1), _meta())
    assert list(read_interpolations(path)) == ["x"]


def test_running_file_is_refused_and_left_unchanged(write_run):
    path = write_run(end=None)
    assert read_summary(path).status == "running"
    before = _contents(path, skip=None)
    with pytest.raises(RunFileError, match="still being written"):
        write_interpolation(path, "x", _result(1), _meta())
    assert _contents(path, skip=None) == before
    assert read_interpolations(path) == {}


def test_incomplete_file_is_refused(write_run):
    path = write_run(end=None)
    with h5py.File(path, "a", locking=False) as f:
        f.attrs["pid"] = 2**22 + 12345  # above Linux's pid_max: no such process
    assert read_summary(path).status == "incomplete"
    with pytest.raises(RunFileError, match="incomplete"):
        write_interpolation(path, "x", _result(1), _meta())


def test_files_that_are_not_runs_and_bad_labels(tmp_path, write_run):
    with pytest.raises(RunFileError, match="does not exist"):
        write_interpolation(tmp_path / "missing.h5", "x", _result(1), _meta())
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(3)
    with pytest.raises(RunFileError, match="not an ensgui run file"):
        write_interpolation(foreign, "x", _result(1), _meta())
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(RunFileError):
        write_interpolation(text, "x", _result(1), _meta())
    path = write_run()
    for label in ("", "a/b", ".."):
        with pytest.raises(ValueError):
            write_interpolation(path, label, _result(1), _meta())
    assert read_interpolations(path) == {}


def test_compute_interpolations_stores_what_interpolate_gives(finished_runs, tmp_path):
    path = tmp_path / "de.h5"
    shutil.copy(finished_runs["deep_ensemble"], path)  # the session's file stays as it was
    snaps = {(s.member, s.index): s for s in list_snapshots(path)}
    pairs = [(snaps[(0, 0)], snaps[(1, 0)]), (snaps[(1, 0)], snaps[(2, 0)])]
    events: list = []
    labels = compute_interpolations(path, pairs, 21, TaskState([events.append]), train_objects=300)
    progress = [(e.done, e.total, e.text) for e in events if isinstance(e, Progress)]
    results = [e.name.split("/")[1] for e in events if isinstance(e, Artefact)]
    assert labels == results == ["m0s0-m1s0", "m1s0-m2s0"]
    assert progress[-1][:2] == (42, 42) and "member 1 snapshot 0 → member 2 snapshot 0" in progress[-1][2]
    stored = read_interpolations(path)
    spec = read_run(path, with_probs=False).spec
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    direct = interpolate(spec, read_snapshot(path, 0, 0), read_snapshot(path, 1, 0), lambda_grid(21), data, "cpu",
                         train_objects=300)
    for name in InterpolationResult.ARRAYS:
        np.testing.assert_allclose(getattr(stored["m0s0-m1s0"].result, name), getattr(direct, name), rtol=1e-9)
    attrs = stored["m0s0-m1s0"].attrs
    assert (attrs["a"], attrs["b"], attrs["points"], attrs["train_objects"]) == (
        "member 0 snapshot 0", "member 1 snapshot 0", 21, 300)
    assert attrs["test_objects"] == len(data.test_y) and attrs["batchnorm"] is False


def test_cancel_keeps_the_pairs_already_stored(finished_runs, tmp_path):
    path = tmp_path / "de.h5"
    shutil.copy(finished_runs["deep_ensemble"], path)
    snaps = {(s.member, s.index): s for s in list_snapshots(path)}
    pairs = [(snaps[(0, 0)], snaps[(1, 0)]), (snaps[(0, 0)], snaps[(2, 0)])]
    state = TaskState([lambda e: state.stop.set() if isinstance(e, Artefact) else None])
    with pytest.raises(CancelledError):
        compute_interpolations(path, pairs, 21, state, train_objects=100)
    assert list(read_interpolations(path)) == ["m0s0-m1s0"]
