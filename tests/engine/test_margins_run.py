"""Margins of real tiny runs: live margins per epoch on fixed subsets, final margins of every row on every split."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from support import final_margins, tiny_spec_dict
from ensgui.engine.data import load_splits
from ensgui.engine.events import Evaluated, MarginsMeasured, SnapshotTaken
from ensgui.engine.margin_tracking import LIVE_TRAIN_STREAM, LIVE_VAL_STREAM, live_subset
from ensgui.engine.margins import margins_of_model
from ensgui.engine.nets import load_state
from ensgui.engine.models import MODELS
from ensgui.engine.runner import run_spec
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.storage.reader import mean_train_margin, read_margins
from ensgui.storage.writer import RunWriter

TRAIN, VAL, TEST = 300, 150, 200


def spec(live: int | None = 100, **kwargs) -> Spec:
    values = tiny_spec_dict(train_size=TRAIN, val_size=VAL, test_size=TEST, **kwargs)
    values["evaluation"]["orders"] = 1
    if live is not None:
        values["evaluation"]["live_margins"] = live
    return Spec.from_dict(values)


def run(s: Spec, sinks=(), stop: threading.Event | None = None) -> tuple[str, list]:
    events: list = []
    result = run_spec(s, TaskState([events.append, *sinks], stop), threads=1)
    return result.status, events


def net(s: Spec, state: dict[str, np.ndarray]) -> torch.nn.Module:
    data = load_splits(s.data.name, s.data.params, s.seed)
    model = MODELS.get(s.model.name).factory(s.model.params, data.input_shape, data.num_classes)
    return load_state(model, state)


@pytest.fixture(scope="module")
def two_epochs() -> tuple[Spec, list]:
    s = spec(members=2, epochs=2)
    status, events = run(s)
    assert status == "finished"
    return s, events


def test_live_margins_every_epoch_member_and_split(two_epochs) -> None:
    _, events = two_epochs
    measured = [e for e in events if isinstance(e, MarginsMeasured)]
    keys = sorted((e.epoch, e.member, e.split) for e in measured)
    assert keys == sorted((epoch, m, split) for epoch in (1, 2) for m in (0, 1) for split in ("train", "val"))
    for e in measured:
        assert e.raw.shape == e.normalized.shape == (100,)
        assert e.raw.dtype == e.normalized.dtype == np.float32
        assert np.all(np.abs(e.normalized) <= np.sqrt(2) + 1e-6)
    # Training moves the margins: the two epochs' histograms of one member differ.
    first = next(e for e in measured if (e.epoch, e.member, e.split) == (1, 0, "train"))
    last = next(e for e in measured if (e.epoch, e.member, e.split) == (2, 0, "train"))
    assert not np.allclose(first.raw, last.raw)


def test_live_margins_are_those_of_the_fixed_subsets(two_epochs) -> None:
    s, events = two_epochs
    data = load_splits(s.data.name, s.data.params, s.seed)
    final = {e.member: e.state for e in events if isinstance(e, SnapshotTaken)}
    train_keep = live_subset(s.seed, TRAIN, 100, LIVE_TRAIN_STREAM)
    val_keep = live_subset(s.seed, VAL, 100, LIVE_VAL_STREAM)
    np.testing.assert_array_equal(train_keep, live_subset(s.seed, TRAIN, 100, LIVE_TRAIN_STREAM))
    assert len(np.unique(train_keep)) == 100 and not np.array_equal(train_keep, np.arange(100))
    for e in (e for e in events if isinstance(e, MarginsMeasured) and e.epoch == 2):
        model = net(s, final[e.member])
        x, y = ((data.train_x[train_keep], data.train_y[train_keep]) if e.split == "train"
                else (data.val_x[val_keep], data.val_y[val_keep]))
        np.testing.assert_allclose(e.raw, margins_of_model(model, x, y, 64), atol=1e-4)
        np.testing.assert_allclose(e.normalized, margins_of_model(model, x, y, 64, normalized=True), atol=1e-5)


def test_live_margins_off_and_default() -> None:
    assert spec(live=None).evaluation["live_margins"] == 1000
    status, events = run(spec(live=0, members=1))
    assert status == "finished"
    assert not any(isinstance(e, MarginsMeasured) for e in events)
    assert final_margins(events)  # the final margins do not depend on it


def test_final_margins_of_every_row_on_every_split(two_epochs, tmp_path: Path) -> None:
    s, events = two_epochs
    data = load_splits(s.data.name, s.data.params, s.seed)
    computed = final_margins(events)
    assert sorted(computed) == ["test", "train", "val"]
    rows = {e.row: e.state for e in events if isinstance(e, SnapshotTaken)}
    splits = {"train": (data.train_x, data.train_y), "val": (data.val_x, data.val_y),
              "test": (data.test_x, data.test_y)}
    for split, (x, y) in splits.items():
        e = computed[split]
        assert e.raw.shape == e.normalized.shape == (2, len(y))
        np.testing.assert_array_equal(e.labels, y.numpy())
        for row, state in rows.items():
            model = net(s, state)
            np.testing.assert_allclose(e.raw[row], margins_of_model(model, x, y, 64), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(e.normalized[row], margins_of_model(model, x, y, 64, normalized=True),
                                       rtol=1e-6, atol=1e-6)
    test_eval = next(e for e in events if isinstance(e, Evaluated) and e.split == "test")
    accuracy = (computed["test"].raw > 0).mean(axis=1)
    np.testing.assert_allclose(accuracy, 1 - test_eval.member_metrics["error"], atol=1.5 / TEST)


def test_final_margins_reach_the_run_file(tmp_path: Path) -> None:
    s = spec(members=2, epochs=1)
    path = tmp_path / "run.h5"
    status, events = run(s, [RunWriter(path)])
    assert status == "finished"
    stored = read_margins(path)
    for e in final_margins(events).values():
        np.testing.assert_array_equal(stored[e.split].raw, e.raw)
        np.testing.assert_array_equal(stored[e.split].normalized, e.normalized)
        np.testing.assert_array_equal(stored[e.split].labels, e.labels)
    assert mean_train_margin(path, row=1) == pytest.approx(float(stored["train"].raw[1].astype(np.float64).mean()))


def test_cancelled_run_keeps_margins_of_finished_rows() -> None:
    stop = threading.Event()

    def stop_after_first_row(event) -> None:
        if isinstance(event, SnapshotTaken):
            stop.set()

    s = Spec.from_dict({**tiny_spec_dict(members=2, train_size=TRAIN, val_size=VAL, test_size=TEST),
                        "method": {"name": "deep_ensemble", "members": 2, "vectorize": False}})
    status, events = run(s, [stop_after_first_row], stop)
    assert status == "cancelled"
    computed = list(final_margins(events).values())
    assert sorted(e.split for e in computed) == ["test", "train", "val"]
    # Member 0 finished; member 1 was stopped before its first step: a random net is no partial row.
    assert all(e.raw.shape[0] == 1 for e in computed)
    assert not [e for e in events if isinstance(e, SnapshotTaken) and e.partial_epoch is not None]


def test_training_margins_on_the_stated_subset(tmp_path: Path) -> None:
    s = Spec.from_dict({**spec(members=1, epochs=1).to_dict(),
                        "evaluation": {**spec().to_dict()["evaluation"], "margin_train_objects": 120}})
    path = tmp_path / "run.h5"
    status, events = run(s, [RunWriter(path)])
    assert status == "finished"
    data = load_splits(s.data.name, s.data.params, s.seed)
    train = final_margins(events)["train"]
    assert train.raw.shape == (1, 120)
    np.testing.assert_array_equal(train.labels, data.train_y[:120].numpy())
    state = next(e.state for e in events if isinstance(e, SnapshotTaken))
    np.testing.assert_allclose(train.raw[0], margins_of_model(net(s, state), data.train_x[:120],
                                                              data.train_y[:120], 64), rtol=1e-6, atol=1e-6)
    # The run file names the objects, as positions in the original training set.
    import h5py

    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["analysis/margins/train/objects"][()], data.train_index[:120])


def test_each_row_is_run_once_per_split_after_training(monkeypatch) -> None:
    """Validation and test margins reuse the prediction's logits: after training, every row sees every
    validation and test object once, and the training objects of its margins once."""
    from ensgui.engine import prediction

    seen: list[int] = []
    real = prediction.predict_logits

    def counting(model, x, batch):
        seen.append(len(x))
        return real(model, x, batch)

    monkeypatch.setattr(prediction, "predict_logits", counting)
    status, _ = run(spec(members=2, epochs=1))
    assert status == "finished"
    assert sorted(seen) == sorted([TEST, VAL, TRAIN] * 2)
