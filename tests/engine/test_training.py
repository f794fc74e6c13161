"""Training machinery on real Fashion-MNIST subsets: both paths agree, runs repeat, failures become statuses."""

import threading

import numpy as np
import pytest
import torch

from support import tiny_spec_dict
from ensgui.engine.events import MemberData, Progress, RunEnded, Scalar, SnapshotTaken
from ensgui.engine.methods.bagging import bootstrap_multiset
from ensgui.engine.runner import run_spec
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState


def run(values, stop=None):
    events = []
    result = run_spec(Spec.from_dict(values), TaskState([events.append], stop), threads=1)
    return result, events


def snapshots(events):
    return {e.row: e.state for e in events if isinstance(e, SnapshotTaken)}


@pytest.fixture
def float64_training(monkeypatch):
    """Run the engine in float64, where rounding cannot move max-pool ties between the two paths."""
    from ensgui.engine import data, training

    to_tensor, build = data._to_tensor, training.TrainContext.build_model
    monkeypatch.setattr(data, "_to_tensor", lambda *a: to_tensor(*a).double())
    monkeypatch.setattr(training.TrainContext, "build_model", lambda self, *a, **kw: build(self, *a, **kw).double())


def compare_paths(model):
    values = tiny_spec_dict(members=3, train_size=256, val_size=100, model=model, test_size=200)
    values["budget"]["batch_size"] = 32
    values["evaluation"]["orders"] = 1
    vec_result, vec_events = run({**values, "method": {**values["method"], "vectorize": True}})
    seq_result, seq_events = run({**values, "method": {**values["method"], "vectorize": False}})
    assert vec_result.status == seq_result.status == "finished"
    vec_states, seq_states = snapshots(vec_events), snapshots(seq_events)
    assert sorted(vec_states) == sorted(seq_states) == [0, 1, 2]
    first_weight = next(iter(vec_states[0]))
    # Different members really are different nets (own initialisation and data order).
    assert not np.allclose(vec_states[0][first_weight], vec_states[1][first_weight])
    return max(np.linalg.norm(vec_states[r][n] - seq_states[r][n]) / np.linalg.norm(seq_states[r][n])
               for r in vec_states for n in vec_states[r])


def test_vectorised_and_sequential_mlp_members_agree_in_float32():
    assert compare_paths("lenet300_100") < 1e-5


def test_vectorised_and_sequential_conv_members_agree_in_float64(float64_training):
    # In float32 real images' flat backgrounds give exact max-pool ties that the grouped and the plain
    # convolution can round apart, moving a gradient; float64 shows the two paths compute the same thing.
    assert compare_paths("lenet5_caffe") < 1e-9


def test_same_spec_and_seed_give_identical_metrics():
    values = tiny_spec_dict(members=2, train_size=300, val_size=100)
    first = [(e.member, e.name, e.value) for e in run(values)[1] if isinstance(e, Scalar)]
    second = [(e.member, e.name, e.value) for e in run(values)[1] if isinstance(e, Scalar)]
    assert first == second and len(first) > 0
    values["seed"] = 1
    third = [(e.member, e.name, e.value) for e in run(values)[1] if isinstance(e, Scalar)]
    assert third != first


def test_bootstrap_multiset_has_about_63_percent_unique_objects():
    fractions = []
    for seed in range(20):
        drawn, out_of_bag = bootstrap_multiset(5000, seed)
        assert len(drawn) == 5000
        unique = np.unique(drawn)
        assert len(unique) + len(out_of_bag) == 5000
        assert not np.intersect1d(unique, out_of_bag).size
        fractions.append(len(unique) / 5000)
    assert np.mean(fractions) == pytest.approx(1 - np.exp(-1), abs=0.005)


def test_bagging_members_train_on_their_own_multisets():
    result, events = run(tiny_spec_dict(method="bagging", members=3))
    assert result.status == "finished"
    data = [e for e in events if isinstance(e, MemberData)]
    assert [d.member for d in data] == [0, 1, 2]
    for d in data:
        assert len(d.train_indices) == 600
        assert 0.55 < len(np.unique(d.train_indices)) / 600 < 0.72
    assert not np.array_equal(data[0].train_indices, data[1].train_indices)


def test_a_nan_loss_ends_the_run_as_diverged_with_a_fix():
    values = tiny_spec_dict(members=2)
    values["optimizer"]["lr"] = 10.0
    values["schedule"] = {"name": "constant"}
    result, events = run(values)
    assert result.status == "diverged"
    assert "not finite" in result.error and "lower optimizer.lr" in result.error
    assert isinstance(events[-1], RunEnded) and events[-1].status == "diverged"


def test_cancel_stops_within_one_batch_and_keeps_finished_members():
    values = tiny_spec_dict(method="deep_ensemble", members=3, epochs=2, train_size=640)
    values["method"]["vectorize"] = False  # members finish one after another
    stop = threading.Event()
    steps_after_stop = []

    def sink(event):
        if isinstance(event, SnapshotTaken) and event.member == 1:
            stop.set()
        if stop.is_set() and isinstance(event, Scalar) and event.name == "train_loss" and event.member == 2:
            steps_after_stop.append(event.step)

    events = []
    result = run_spec(Spec.from_dict(values), TaskState([sink, events.append], stop), threads=1)
    assert result.status == "cancelled"
    assert result.rows == 2  # members 0 and 1 finished; member 2 never took a step
    assert steps_after_stop == []
    assert isinstance(events[-1], RunEnded)
    evaluated = [e for e in events if type(e).__name__ == "Evaluated" and e.split == "test"]
    assert evaluated and evaluated[0].probs.shape[0] == 2


def test_progress_reaches_the_total():
    result, events = run(tiny_spec_dict(members=2))
    progress = [e for e in events if isinstance(e, Progress) and e.phase == "training"]
    assert progress[-1].done == progress[-1].total == 2 * 10
    assert progress[-1].member_done == (10, 10)


def test_cuda_without_a_gpu_is_a_clear_failure():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    values = tiny_spec_dict()
    values["device"] = "cuda"
    result, _ = run(values)
    assert result.status == "failed"
    assert "no CUDA GPU" in result.error and 'device = "auto"' in result.error
