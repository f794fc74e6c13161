"""Gap sweeps on disk and the gap taken from a run, checked against the run files they leave behind."""

from __future__ import annotations

import threading
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from ensgui.engine.errors import RunFileError, SpecError
from ensgui.engine.metrics import auroc
from ensgui.engine.runner import run_spec
from ensgui.engine.task_state import TaskState
from ensgui.engine.spec import Spec
from ensgui.engine.sweep import MEAN
from ensgui.engine.traces import measure_width, trained_net
from ensgui.engine.data import load_splits
from ensgui.storage.reader import StoredRunReader, mean_train_margin, read_final_weights, read_margins, read_run
from ensgui.storage.sweep_store import read_sweep, read_width
from ensgui.storage.workspace import Workspace
from ensgui.storage.writer import RunWriter
from ensgui.tasks.sweep import resume_gap_sweep, run_gap_sweep
from support import sweep_state, tiny_spec_dict

PROBES = 5
WIDTH_OBJECTS = 100


def sweep_spec(**kwargs) -> Spec:
    # 300 objects in batches of 16 give a net whose mean training margin is positive after one epoch.
    values = tiny_spec_dict(method="single", train_size=300, epochs=1, name="sweep", **kwargs)
    values["budget"]["batch_size"] = 16
    return Spec.from_dict(values)


def train(spec: Spec, folder: Path, **kwargs) -> tuple[Path, object]:
    path = Workspace(folder).new_run_path(spec.name)
    result = run_spec(spec, TaskState([RunWriter(path)]), threads=1, **kwargs)
    return path, result


# ---------------------------------------------------------------- gap = mean margin of a run


def test_gap_from_run_trains_with_the_mean_training_margin_of_that_run(tmp_path):
    first, result = train(sweep_spec(), tmp_path)
    assert result.status == "finished"
    expected = mean_train_margin(first)
    assert expected > 0
    values = sweep_spec().to_dict()
    values["loss"] = {"name": "gap", "gap_from_run": str(first)}
    given = Spec.from_dict(values)
    second, result = train(given, tmp_path, stored_runs=StoredRunReader())
    assert result.status == "finished", result.error
    run = read_run(second)
    assert run.spec == given  # stored as the user gave it
    assert run.extra["resolved_gap"] == expected
    assert f"gap = {expected:.4g} (mean training margin of member 0 of {first})" in run.log
    # Training used that gap: the same spec with the gap written out gives the same net.
    explicit = given.with_values("loss", gap_from_run="", gap=expected)
    third, result = train(explicit, tmp_path)
    np.testing.assert_array_equal(read_run(third).eval["test"].probs, run.eval["test"].probs)
    assert not np.array_equal(read_run(first).eval["test"].probs, run.eval["test"].probs)


def test_gap_from_a_missing_run_fails_with_one_clear_message(tmp_path):
    values = sweep_spec().to_dict()
    values["loss"] = {"name": "gap", "gap_from_run": str(tmp_path / "gone.h5")}
    spec = Spec.from_dict(values)
    path, result = train(spec, tmp_path / "runs", stored_runs=StoredRunReader())
    assert result.status == "failed"
    assert result.error == (f"loss.gap_from_run = '{tmp_path / 'gone.h5'}': no such run file; pick a finished run "
                            f"(.h5) or leave loss.gap_from_run empty")
    assert not path.exists()
    # A file that is not a run with margins names the reader's reason.
    (tmp_path / "gone.h5").write_bytes(b"not hdf5")
    _, result = train(spec, tmp_path / "runs", stored_runs=StoredRunReader())
    assert result.status == "failed" and "gives no gap" in result.error and "not a readable" in result.error
    _, result = train(spec, tmp_path / "runs")
    assert result.status == "failed" and "from the GUI or with `ensgui run`" in result.error


# ---------------------------------------------------------------- the sweep


def recomputed_values(path: Path) -> dict[str, float]:
    """A point's numbers from its run file, computed here without the sweep's code."""
    margins = read_margins(path)["train"].raw[0].astype(np.float64)
    test = read_run(path).eval["test"]
    probs, labels = test.probs[0].astype(np.float64), test.labels
    correct = probs.argmax(1) == labels
    top2 = np.sort(np.log(np.maximum(probs, 1e-45)), axis=1)[:, -2:]
    score = top2[:, 1] - top2[:, 0]
    pos, neg = score[correct], score[~correct]
    pairwise = (np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])) / (pos.size * neg.size)
    return {"mean_margin": margins.mean(), "train_acc": np.mean(margins > 0), "test_acc": correct.mean(),
            "auroc_prob": auroc(probs, labels), "auroc_margin": pairwise}


def test_a_tiny_sweep_writes_what_its_run_files_hold(tmp_path):
    folder = tmp_path / "ws"
    spec = sweep_spec()
    seen: list[tuple[int, int, str]] = []
    counts: list[int] = []

    def on_point(i: int, n: int, label: str) -> None:
        seen.append((i, n, label))
        # The summary is rewritten after every point: a reader sees the finished points at any time.
        counts.append(len(read_sweep(Workspace(folder).sweeps()[0])))

    path = run_gap_sweep(spec, (0.0, MEAN), folder, sweep_state(on_point=on_point), threads=1,
                         width_objects=WIDTH_OBJECTS, probes=PROBES)
    assert path.name.endswith("-sweep.sweep.h5") and path.parent == folder
    sweep = read_sweep(path)
    assert sweep.status == "finished" and sweep.requested == "0, mean" and sweep.width_objects == WIDTH_OBJECTS
    assert len(sweep) == 2 and counts == [0, 1]
    runs = sweep.run_paths()
    mean = mean_train_margin(runs[0])
    assert mean > 0
    assert seen == [(0, 2, "0"), (1, 2, f"mean = {mean:.3g}")]
    assert sweep.labels == ["0", f"mean = {mean:.3g}"] and sweep.statuses == ["finished", "finished"]
    np.testing.assert_array_equal(sweep.gaps, [0.0, mean])
    assert Spec.from_toml(sweep.spec_toml) == spec
    data = load_splits(spec.data.name, spec.data.params, spec.seed)
    for i, run_path in enumerate(runs):
        run = read_run(run_path)
        assert run.summary.status == "finished"
        assert run.spec.loss.name == "gap" and run.spec.loss["gap"] == sweep.gaps[i]
        for name, value in recomputed_values(run_path).items():
            assert getattr(sweep, name)[i] == pytest.approx(value, rel=1e-12), name
        stored = read_width(run_path)
        assert stored.objects == WIDTH_OBJECTS and stored.hessian.samples <= PROBES
        for name in ("hessian", "fisher_true", "fisher_empirical"):
            estimate = getattr(stored, name)
            np.testing.assert_array_equal(getattr(sweep, name)[i], [estimate.mean, estimate.stderr])
        # The stored width is that of the run's final weights on the first training objects, with the same seed.
        net = trained_net(run.spec, data.input_shape, data.num_classes, read_final_weights(run_path),
                          torch.device("cpu"))
        again = measure_width(net, data.train_x[:WIDTH_OBJECTS], data.train_y[:WIDTH_OBJECTS],
                              spec.evaluation["batch_size"], PROBES, 1e-3, seed=spec.seed)
        assert again == stored
        assert np.isfinite(sweep.hessian[i]).all() and sweep.hessian[i, 0] > 0
    with h5py.File(runs[0], "r") as f:
        assert f["analysis/width"].attrs["probes"] == PROBES
    # The workspace lists the points as runs and the summary as a sweep, never as a broken run.
    workspace = Workspace(folder)
    assert sorted(r.path for r in workspace.runs()) == sorted(runs) and workspace.problems == []
    assert workspace.sweeps() == [path]
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_mean_adds_gap_zero_and_a_stop_ends_the_sweep_after_the_current_point(tmp_path):
    stop = threading.Event()
    lines: list[str] = []

    def on_point(i: int, n: int, label: str) -> None:
        if i == 1:
            stop.set()  # the second point's run starts with the stop set and is cancelled at once

    state = sweep_state(lambda e: lines.append(getattr(e, "text", "")), stop=stop, on_point=on_point)
    path = run_gap_sweep(sweep_spec(), (MEAN,), tmp_path, state, threads=1, width_objects=20, probes=2)
    assert "gap sweep: added gap 0, whose mean training margin is the gap 'mean'" in lines
    sweep = read_sweep(path)
    assert sweep.status == "cancelled" and sweep.labels == ["0"] and sweep.extra["planned"] == 2
    assert bool(sweep.extra["added_zero"])
    statuses = sorted(r.status for r in Workspace(tmp_path).runs())
    assert statuses == ["cancelled", "finished"]


def test_a_cancelled_sweep_resumes_where_it_stopped_and_keeps_its_points(tmp_path):
    stop = threading.Event()
    state = sweep_state(stop=stop, on_point=lambda i, n, label: stop.set() if i == 1 else None)
    path = run_gap_sweep(sweep_spec(), (MEAN, 1.0), tmp_path, state, threads=1, width_objects=20, probes=2)
    cancelled = read_sweep(path)
    assert cancelled.status == "cancelled" and cancelled.labels == ["0"]
    kept = cancelled.run_paths()[0]
    kept_bytes = kept.read_bytes()
    seen: list[tuple[int, int, str]] = []
    lines: list[str] = []

    state = sweep_state(lambda e: lines.append(getattr(e, "text", "")),
                        on_point=lambda i, n, label: seen.append((i, n, label)))
    again = resume_gap_sweep(path, state, threads=1)
    assert again == path  # updated in place, no second summary
    sweep = read_sweep(path)
    mean = mean_train_margin(kept)
    assert sweep.status == "finished" and sweep.created == cancelled.created and "resumed" in sweep.extra
    assert sweep.labels == ["0", f"mean = {mean:.3g}", "1"] and sweep.run_paths()[0] == kept
    assert [i for i, _, _ in seen] == [1, 2]  # only the missing points were trained
    assert kept.read_bytes() == kept_bytes
    assert f"gap sweep resumed: 1 of 3 points kept from {path.name}" in lines
    np.testing.assert_array_equal(sweep.hessian[0], cancelled.hessian[0])
    assert sweep.width_objects == 20 and np.isfinite(sweep.hessian).all()
    # A finished sweep has nothing to resume.
    assert resume_gap_sweep(path, TaskState()) == path and read_sweep(path).labels == sweep.labels


def test_a_point_stopped_while_its_width_was_measured_gets_its_width_on_resume(tmp_path):
    stop = threading.Event()

    def sink(event) -> None:
        if getattr(event, "text", "").startswith("measuring the width"):
            stop.set()

    path = run_gap_sweep(sweep_spec(), (0.0,), tmp_path, TaskState([sink], stop), threads=1, width_objects=20, probes=2)
    cancelled = read_sweep(path)
    assert cancelled.status == "cancelled" and cancelled.labels == ["0"] and np.isnan(cancelled.hessian).all()
    assert read_width(cancelled.run_paths()[0]) is None
    resume_gap_sweep(path, TaskState(), threads=1)
    sweep = read_sweep(path)
    stored = read_width(sweep.run_paths()[0])
    assert sweep.status == "finished" and stored is not None and stored.objects == 20
    np.testing.assert_array_equal(sweep.hessian[0], [stored.hessian.mean, stored.hessian.stderr])


def test_a_sweep_that_lost_a_run_file_is_not_resumed(tmp_path):
    stop = threading.Event()
    state = sweep_state(stop=stop, on_point=lambda i, n, label: stop.set() if i == 1 else None)
    path = run_gap_sweep(sweep_spec(), (0.0, 1.0), tmp_path, state, threads=1, width_objects=20, probes=2)
    read_sweep(path).run_paths()[0].unlink()
    with pytest.raises(RunFileError, match="lost its run file .*put the file back or start a new sweep"):
        resume_gap_sweep(path, TaskState(), threads=1)
    assert read_sweep(path).status == "cancelled"  # the summary is untouched


def test_bad_width_settings_fail_before_anything_is_written(tmp_path):
    with pytest.raises(SpecError, match="width objects = 0 is invalid"):
        run_gap_sweep(sweep_spec(), (0.0,), tmp_path / "ws", TaskState(), width_objects=0)
    assert not (tmp_path / "ws").exists()


def test_read_sweep_refuses_what_is_not_a_sweep(tmp_path, write_run):
    with pytest.raises(RunFileError, match="does not exist"):
        read_sweep(tmp_path / "none.sweep.h5")
    garbage = tmp_path / "garbage.sweep.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(RunFileError, match="is damaged: HDF5 cannot open it"):
        read_sweep(garbage)
    with pytest.raises(RunFileError, match="is not a gap-sweep summary"):
        read_sweep(write_run())
    cut = tmp_path / "cut.sweep.h5"
    with h5py.File(cut, "w") as f:
        f.attrs["kind"] = "gap_sweep"
        f.create_dataset("gaps", data=np.zeros(2))
    with pytest.raises(RunFileError, match="damaged") as caught:
        read_sweep(cut)
    assert "\n" not in str(caught.value)


def test_new_names_keep_runs_and_sweeps_apart(tmp_path):
    workspace = Workspace(tmp_path)
    assert workspace.new_sweep_path("gaps").name.endswith("-gaps.sweep.h5")
    run = workspace.new_run_path("trick.sweep")
    assert run.name.endswith("-trick-sweep.h5")
