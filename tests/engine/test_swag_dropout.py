"""SWA/SWAG and MC dropout: moments, sampling covariance, BN update, dropout identities and tiny real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from support import tiny_spec_dict
from ensgui.engine.bn_update import update_batchnorm
from ensgui.engine.data import DataSplits
from ensgui.engine.errors import SpecError
from ensgui.engine.events import Evaluated, LogLine, RunStarted, SnapshotTaken
from ensgui.engine.methods.dropout import mc_dropout_probs
from ensgui.engine.methods.swag import (
    VARIANCE_FLOOR,
    collection_iterations,
    running_moments,
    sample_weights,
    swag_learning_rates,
)
from ensgui.engine.methods import plan_for
from ensgui.engine.prediction import predict_probs
from ensgui.engine.runner import run_spec
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState


def swag_dict(model: str = "lenet300_100", epochs: int = 2, **method) -> dict:
    values = tiny_spec_dict(epochs=epochs, model=model, name="tiny-swag")
    values["method"] = {"name": "swag", "samples": 3, "rank": 2, **method}  # tiny budgets collect few vectors
    return values


def dropout_dict(p: float, samples: int = 3) -> dict:
    values = tiny_spec_dict(epochs=1, name="tiny-dropout")
    values["model"] = {"name": "lenet300_100", "dropout": p}
    values["method"] = {"name": "dropout", "samples": samples}
    return values


def run(values: dict) -> tuple[str, list]:
    events: list = []
    result = run_spec(Spec.from_dict(values), TaskState([events.append]), threads=1)
    assert result.status == "finished", result.error
    return result.status, events


def evaluated(events: list, split: str) -> np.ndarray:
    return next(e.probs for e in events if isinstance(e, Evaluated) and e.split == split)


# ---------------------------------------------------------------- SWAG moments and sampling


def test_running_moments_equal_the_numpy_mean_and_variance():
    vectors = np.random.default_rng(0).normal(size=(9, 40)) * np.linspace(0.1, 3.0, 40)
    moments = running_moments(list(vectors), max_rank=4)
    np.testing.assert_allclose(moments.mean, vectors.mean(0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(moments.diag_var, vectors.var(0), rtol=1e-9, atol=1e-14)
    assert moments.count == 9 and moments.rank == 4
    # Column i is theta_i minus the running mean right after adding theta_i; the last K are kept.
    for column, i in enumerate(range(5, 9)):
        np.testing.assert_allclose(moments.deviations[:, column], vectors[i] - vectors[:i + 1].mean(0), atol=1e-12)


def test_constant_weights_give_the_variance_floor():
    moments = running_moments([np.ones(3)] * 4, max_rank=20)
    assert np.all(moments.diag_var == VARIANCE_FLOOR)
    assert moments.rank == 4 and np.all(moments.deviations == 0)


def test_the_low_rank_term_divides_by_the_actual_number_of_columns():
    vectors = np.random.default_rng(1).normal(size=(3, 6))
    moments = running_moments(list(vectors), max_rank=20)  # only 3 collected: K = 3, not 20
    assert moments.deviations.shape == (6, 3)
    drawn = sample_weights(moments, "swag", 1.0, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    z1 = torch.randn(6, generator=g, dtype=torch.float64).numpy()
    z2 = torch.randn(3, generator=g, dtype=torch.float64).numpy()
    expected = moments.mean + np.sqrt(moments.diag_var) * z1 + moments.deviations @ z2 / math.sqrt(3 - 1)
    np.testing.assert_allclose(drawn, expected, rtol=1e-12, atol=1e-14)
    # The FIFO keeps the last K when more were collected.
    assert running_moments(list(np.random.default_rng(2).normal(size=(30, 6))), max_rank=20).rank == 20


def test_sample_covariance_is_half_of_diagonal_plus_low_rank():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(6, 4)) @ rng.normal(size=(4, 4))  # correlated coordinates
    moments = running_moments(list(vectors), max_rank=5)
    k = moments.rank
    target = 0.5 * (np.diag(moments.diag_var) + moments.deviations @ moments.deviations.T / (k - 1))
    g = torch.Generator().manual_seed(11)
    draws = np.stack([sample_weights(moments, "swag", 0.5, g) for _ in range(40000)])
    np.testing.assert_allclose(draws.mean(0), moments.mean, atol=0.03 * np.sqrt(target.diagonal().max()))
    np.testing.assert_allclose(np.cov(draws.T), target, atol=0.03 * np.abs(target).max())
    diag_draws = np.stack([sample_weights(moments, "swag_diag", 0.5, g) for _ in range(20000)])
    np.testing.assert_allclose(np.cov(diag_draws.T), 0.5 * np.diag(moments.diag_var),
                               atol=0.04 * moments.diag_var.max())


def test_swa_variant_and_zero_scale_give_the_mean():
    moments = running_moments(list(np.random.default_rng(4).normal(size=(5, 8))), max_rank=3)
    g = torch.Generator().manual_seed(0)
    np.testing.assert_array_equal(sample_weights(moments, "swa", 0.5, g), moments.mean)
    np.testing.assert_array_equal(sample_weights(moments, "swag", 0.0, g), moments.mean)
    assert not np.allclose(sample_weights(moments, "swag", 0.5, g), moments.mean)


# ---------------------------------------------------------------- SWAG plan


def test_swag_schedule_matches_run_swag_at_whole_epochs_and_collects_after_the_start():
    lr_init, swa_lr, start, per = 0.05, 0.01, 10.0, 7

    def run_swag(epoch: int) -> float:  # run_swag.py schedule(epoch)
        t = epoch / start
        ratio = swa_lr / lr_init
        factor = 1.0 if t <= 0.5 else (1.0 - (1.0 - ratio) * (t - 0.5) / 0.4 if t <= 0.9 else ratio)
        return lr_init * factor

    lr = swag_learning_rates(20 * per, per, start, lr_init, swa_lr)
    for epoch in range(20):
        assert lr[epoch * per] == pytest.approx(run_swag(epoch), rel=1e-12)
    once = collection_iterations(per, 20, start, 1)
    assert list(once) == [e * per - 1 for e in range(11, 21)]
    twice = collection_iterations(per, 20, start, 2)
    assert len(twice) == 20 and list(twice[1::2]) == list(once) and list(twice[::2]) == [
        (e - 1) * per + 3 for e in range(11, 21)]
    assert np.all(lr[twice] == pytest.approx(swa_lr))


def test_swag_plan_has_one_member_and_s_rows():
    spec = Spec.from_dict(swag_dict(epochs=4, samples=7, collect_per_epoch=2))
    plan = plan_for(spec)  # 600 objects, batch 64: 10 iterations per epoch
    assert (plan.members, plan.rows, plan.total_iters) == (1, 7, 40)
    assert list(plan.snapshots) == [24, 29, 34, 39]
    assert plan.lr[0] == 0.05 and plan.lr[-1] == pytest.approx(0.01)
    swa = Spec.from_dict(swag_dict(epochs=4, samples=7, variant="swa"))
    assert plan_for(swa).rows == 1
    from ensgui.engine.methods import method_for

    assert method_for(swa).row_names(plan_for(swa)) == ["SWA"]
    assert method_for(spec).row_names(plan) == [f"sample {i}" for i in range(7)]


def test_swag_refuses_settings_that_cannot_collect_enough():
    with pytest.raises(SpecError, match=r"variant = 'swag' needs at least 2 collected weight vectors"):
        Spec.from_dict(swag_dict(epochs=2, collect_per_epoch=1))
    Spec.from_dict(swag_dict(epochs=2, collect_per_epoch=1, variant="swag_diag"))
    values = swag_dict(epochs=2, collect_per_epoch=2)
    values["budget"]["batch_size"] = 600  # one iteration per epoch cannot hold two collections
    with pytest.raises(SpecError, match=r"collect_per_epoch = 2 needs at least 2 iterations per epoch"):
        Spec.from_dict(values)


def test_swag_refuses_a_rank_above_the_vectors_it_collects():
    # It used to train with K = 4 while the run file said rank 1000.
    with pytest.raises(SpecError, match=r"method.rank = 5 is more than .* collects 4; lower method.rank to at most 4"):
        Spec.from_dict(swag_dict(epochs=4, collect_per_epoch=2, rank=5))
    assert Spec.from_dict(swag_dict(epochs=4, collect_per_epoch=2, rank=4)).method["rank"] == 4
    Spec.from_dict(swag_dict(epochs=4, collect_per_epoch=2, rank=1000, variant="swag_diag"))  # no low-rank part


# ---------------------------------------------------------------- BatchNorm update


def test_bn_update_recomputes_the_full_data_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5, momentum=0.3))
    bn = model[1]
    bn.running_mean.fill_(7.0)
    bn.running_var.fill_(9.0)
    x = torch.randn(100, 3) * 2.0 + 1.0
    with torch.no_grad():
        h = model[0](x)
    # One batch holding all the data: the exact full-data mean and (unbiased) variance.
    assert update_batchnorm(model, x, batch_size=100) is True
    torch.testing.assert_close(bn.running_mean, h.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, h.var(0, unbiased=True), rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.3 and not model.training and not bn.training
    # Unequal batches (32, 32, 32, 4): momentum b/(n+b) makes the size-weighted cumulative average,
    # so the mean is still exactly the full-data mean, and the variance the weighted batch variances.
    bn.running_mean.fill_(7.0)
    assert update_batchnorm(model, x, batch_size=32) is True
    torch.testing.assert_close(bn.running_mean, h.mean(0), rtol=1e-5, atol=1e-6)
    chunks = h.split(32)
    weighted = sum(len(c) * c.var(0, unbiased=True) for c in chunks) / len(h)
    torch.testing.assert_close(bn.running_var, weighted, rtol=1e-5, atol=1e-6)
    assert bn.momentum == 0.3


def test_bn_update_is_a_no_op_without_batchnorm():
    model = nn.Sequential(nn.Linear(3, 2))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert update_batchnorm(model, torch.randn(10, 3), 4) is False
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_swag_predict_recomputes_batchnorm_for_every_sample(monkeypatch):
    """A BatchNorm net (ResNet-20) through Swag.predict with stored snapshots: one BN update per sample."""
    from ensgui.engine import bn_update
    from ensgui.engine.methods import method_for
    from ensgui.engine.progress import ProgressTracker
    from ensgui.engine.training import TrainContext

    spec = Spec.from_dict(swag_dict(model="resnet20", epochs=4, samples=3, collect_per_epoch=1))
    method = method_for(spec)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (40,), generator=gen)
    data = DataSplits(x, y, x[:0], y[:0], x[:8], y[:8], np.arange(40), np.arange(0), tuple("abcdefghij"))
    plan = plan_for(spec)
    logs: list[str] = []
    from ensgui.engine.events import LogLine

    state = TaskState([lambda e: logs.append(e.text) if isinstance(e, LogLine) else None])
    tracker = ProgressTracker(lambda e: None, 1, plan.total_iters)
    ctx = TrainContext(spec, data, torch.device("cpu"), plan, state, tracker)
    base = ctx.build_model(0).state_dict()
    for j in range(3):  # three "collected" weight vectors around the initial net
        ctx.rows[j] = {k: (v + 0.01 * j * torch.randn(v.shape, generator=gen)).numpy()
                       if v.is_floating_point() else v.numpy() for k, v in base.items()}
    calls: list[bool] = []
    real = bn_update.update_batchnorm

    def counting(model, x_train, batch_size):
        calls.append(real(model, x_train, batch_size))
        assert x_train is data.train_x and batch_size == spec.budget["batch_size"]
        return calls[-1]

    monkeypatch.setattr(bn_update, "update_batchnorm", counting)
    (probs,) = method.predict(ctx, [data.test_x]).probs
    assert probs.shape == (3, 8, 10) and calls == [True, True, True]
    assert not np.allclose(probs[0], probs[1])
    assert any("Sigma_diag mean" in line for line in logs)


# ---------------------------------------------------------------- MC dropout


def test_mc_dropout_with_p_zero_equals_the_deterministic_net():
    torch.manual_seed(0)
    x = torch.randn(50, 1, 28, 28)
    from ensgui.engine.models import MODELS

    for model in (MODELS.get("lenet300_100").factory({"dropout": 0.0}, (1, 28, 28), 10),
                  nn.Sequential(nn.Flatten(), nn.Linear(784, 30), nn.Dropout(0.0), nn.ReLU(), nn.Linear(30, 10))):
        deterministic = predict_probs(model, x, 16)
        (rows,) = mc_dropout_probs(model, [x], 4, seed=5, batch=16)
        assert rows.shape == (4, 50, 10)
        for row in rows:
            np.testing.assert_array_equal(row, deterministic)


def test_mc_dropout_masks_differ_per_pass_while_batchnorm_stays_in_eval():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))
    bn, drop = model[1], model[3]
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    stats = (bn.running_mean.clone(), bn.running_var.clone())
    modes: list[tuple[bool, bool]] = []
    model[2].register_forward_hook(lambda *_: modes.append((bn.training, drop.training)))
    x = torch.randn(64, 10)
    rng_before = torch.get_rng_state()
    first = mc_dropout_probs(model, [x, x[:5]], 5, seed=3, batch=20)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's random state is untouched
    assert set(modes) == {(False, True)}
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert not model.training and not drop.training
    rows = first[0]
    assert rows.shape == (5, 64, 3) and first[1].shape == (5, 5, 3)
    assert all(not np.allclose(rows[i], rows[j]) for i in range(5) for j in range(i))
    np.testing.assert_allclose(rows.sum(-1), 1.0, rtol=1e-5)
    again = mc_dropout_probs(model, [x, x[:5]], 5, seed=3, batch=20)
    np.testing.assert_array_equal(again[0], rows)  # the same seed draws the same masks


def test_dropout_needs_a_model_with_a_dropout_parameter(monkeypatch):
    from ensgui.engine.models import MODELS
    from ensgui.engine.registry import Entry

    entry = MODELS.get("lenet300_100")
    monkeypatch.setitem(MODELS._entries, "no_dropout_net", Entry("no_dropout_net", entry.factory, (), "t", "h"))
    values = dropout_dict(0.5)
    values["model"] = {"name": "no_dropout_net"}
    with pytest.raises(SpecError, match=r"method 'dropout' needs a model with a dropout rate.*no_dropout_net"):
        Spec.from_dict(values)
    assert plan_for(Spec.from_dict(dropout_dict(0.0, samples=6))).rows == 6  # p = 0 is allowed


# ---------------------------------------------------------------- tiny real runs


def test_swag_runs_every_variant_and_zero_scale_equals_swa():
    _, swa_events = run(swag_dict(variant="swa", collect_per_epoch=2))
    _, zero_events = run(swag_dict(variant="swag", scale=0.0, collect_per_epoch=2))
    _, diag_events = run(swag_dict(variant="swag_diag", collect_per_epoch=2))
    for events, rows in ((swa_events, 1), (zero_events, 3), (diag_events, 3)):
        started = next(e for e in events if isinstance(e, RunStarted))
        assert started.plan.rows == rows and len(started.row_names) == rows
        assert len([e for e in events if isinstance(e, SnapshotTaken)]) == 2  # epoch 2, twice
        assert evaluated(events, "test").shape == (rows, 1000, 10)
        assert evaluated(events, "val").shape == (rows, 200, 10)
        assert any("SWAG moments of 2 collected" in e.text for e in events if isinstance(e, LogLine))
    swa = evaluated(swa_events, "test")[0]
    for row in evaluated(zero_events, "test"):
        np.testing.assert_allclose(row, swa, rtol=0, atol=1e-6)
    diag = evaluated(diag_events, "test")
    assert not np.allclose(diag[0], diag[1])
    _, full_events = run(swag_dict(variant="swag", collect_per_epoch=2))
    full = evaluated(full_events, "test")
    assert full.shape == (3, 1000, 10) and not np.allclose(full[0], swa)


def test_dropout_runs_give_stochastic_rows_and_p_zero_gives_identical_rows():
    _, events = run(dropout_dict(0.5, samples=3))
    probs = evaluated(events, "test")
    assert probs.shape == (3, 1000, 10) and not np.allclose(probs[0], probs[1])
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.row_names == ("pass 0", "pass 1", "pass 2")
    _, events = run(dropout_dict(0.0, samples=2))
    probs = evaluated(events, "test")
    assert probs.shape == (2, 1000, 10)
    np.testing.assert_array_equal(probs[0], probs[1])
