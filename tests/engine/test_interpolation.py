"""Parameter-space interpolation: endpoints, grid, BatchNorm recomputed at every λ, cancel, default pairs, and the
vmap and sequential engines against the loop before issue 12."""

from __future__ import annotations

from collections import namedtuple
from typing import Any, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ensgui.engine import line_losses as interp
from ensgui.engine.bn_update import update_batchnorm
from ensgui.engine.data import DataSplits, load_splits
from ensgui.engine.errors import CancelledError
from ensgui.engine.interpolation import (InterpolationResult, lambda_grid, objects_note, pair_label,
                                         pairs_against_final, pick_test_objects, snapshot_name)
from ensgui.engine.line_losses import choose_engine, interpolate, mixed_state
from ensgui.engine.nets import build_model, load_state
from ensgui.engine.models import MODELS
from ensgui.engine.registry import Entry
from ensgui.engine.spec import Spec
from support import tiny_spec_dict


def _spec(model: str = "lenet300_100", train_size: int = 600, test_size: int = 500) -> Spec:
    return Spec.from_dict(tiny_spec_dict(model=model, train_size=train_size, test_size=test_size))


def _data(spec: Spec) -> DataSplits:
    return load_splits(spec.data.name, spec.data.params, spec.seed)


def _random_state(spec: Spec, data: DataSplits, seed: int) -> dict[str, np.ndarray]:
    torch.manual_seed(seed)
    model = MODELS.get(spec.model.name).factory(spec.model.params, data.input_shape, data.num_classes)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def _direct(spec: Spec, data: DataSplits, state: Mapping[str, Any], n_train: int) -> tuple[float, ...]:
    """Losses of a state computed the plain way: one forward pass over each whole set."""
    model = load_state(build_model(spec, data.input_shape, data.num_classes), dict(state)).eval()
    out = []
    with torch.no_grad():
        for x, y in ((data.train_x[:n_train], data.train_y[:n_train]), (data.test_x, data.test_y)):
            logits = model(x).double()
            out += [float(F.cross_entropy(logits, y)), float((logits.argmax(-1) != y).double().mean())]
    return tuple(out)


@pytest.fixture(scope="module")
def mlp() -> tuple[Spec, DataSplits, dict, dict]:
    spec = _spec()
    data = _data(spec)
    return spec, data, _random_state(spec, data, 1), _random_state(spec, data, 2)


# ---------------------------------------------------------------- a small net with BatchNorm

class _TinyBN(nn.Module):
    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 6, 5, stride=3)
        self.bn = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6 * 8 * 8, 16)
        self.bn1 = nn.BatchNorm1d(16)
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.conv(x))).flatten(1)
        return self.head(torch.relu(self.bn1(self.fc(h))))


@pytest.fixture
def tiny_bn(monkeypatch) -> str:
    """Registers a net with BatchNorm that runs in milliseconds (ResNet-20 takes seconds per λ on a CPU)."""
    def factory(params, input_shape, classes):
        return _TinyBN(input_shape[0], classes)

    monkeypatch.setitem(MODELS._entries, "tiny_bn", Entry("tiny_bn", factory, (), "tiny BN", ""))
    return "tiny_bn"


def _bn_states(spec: Spec, data: DataSplits) -> tuple[dict, dict]:
    a, b = _random_state(spec, data, 3), _random_state(spec, data, 4)
    # Stored statistics far from the data's: a recomputation cannot land on them by chance.
    for state, mean, count in ((a, 5.0, 7), (b, -5.0, 99)):
        for name in list(state):
            if name.endswith("running_mean"):
                state[name] = np.full_like(state[name], mean)
            elif name.endswith("running_var"):
                state[name] = np.full_like(state[name], 9.0)
            elif name.endswith("num_batches_tracked"):
                state[name] = np.array(count, dtype=np.int64)
    return a, b


# ---------------------------------------------------------------- tests

def test_endpoints_reproduce_the_snapshots_own_losses(mlp):
    spec, data, a, b = mlp
    result = interpolate(spec, a, b, lambda_grid(21), data, "cpu", train_objects=400)
    for i, state in ((0, a), (-1, b)):
        train_loss, train_error, test_loss, test_error = _direct(spec, data, state, 400)
        np.testing.assert_allclose(result.train_loss[i], train_loss, rtol=1e-6)
        np.testing.assert_allclose(result.test_loss[i], test_loss, rtol=1e-6)
        assert result.train_error[i] == pytest.approx(train_error, abs=1 / 400)
        assert result.test_error[i] == pytest.approx(test_error, abs=1 / len(data.test_y))


def test_curve_is_computed_on_a_grid_of_at_least_21_points(mlp):
    spec, data, a, b = mlp
    result = interpolate(spec, a, b, lambda_grid(21), data, "cpu", train_objects=200)
    assert isinstance(result, InterpolationResult)
    np.testing.assert_array_equal(result.lambdas, np.linspace(0.0, 1.0, 21))
    for name in InterpolationResult.ARRAYS:
        values = getattr(result, name)
        assert values.shape == (21,) and values.dtype == np.float64 and np.all(np.isfinite(values))
    assert np.all((result.test_error >= 0) & (result.test_error <= 1))
    # Every point is its own net: the middle of two random nets is not either of them.
    assert result.test_loss[10] != result.test_loss[0] and result.test_loss[10] != result.test_loss[-1]
    with pytest.raises(ValueError, match="at least 21"):
        lambda_grid(20)
    assert len(lambda_grid(41)) == 41


def test_every_point_is_the_mixed_net(mlp):
    spec, data, a, b = mlp
    lambdas = np.array([0.25, 0.5, 1.5])  # extrapolation is allowed too
    result = interpolate(spec, a, b, lambdas, data, "cpu", train_objects=300)
    for i, lam in enumerate(lambdas):
        mixed = {k: (1.0 - lam) * torch.from_numpy(a[k]) + lam * torch.from_numpy(b[k]) for k in a}
        direct = _direct(spec, data, {k: v.numpy() for k, v in mixed.items()}, 300)
        np.testing.assert_allclose([result.train_loss[i], result.test_loss[i]], [direct[0], direct[2]], rtol=1e-6)


def test_train_subset_is_the_first_objects_or_all(mlp):
    spec, data, a, b = mlp
    small = interpolate(spec, a, b, [0.0], data, "cpu", train_objects=50)
    assert small.train_loss[0] == pytest.approx(_direct(spec, data, a, 50)[0], rel=1e-6)
    everything = interpolate(spec, a, b, [0.0], data, "cpu", train_objects=10_000_000)
    assert everything.train_loss[0] == pytest.approx(_direct(spec, data, a, len(data.train_y))[0], rel=1e-6)
    assert interp.train_subset_size(data, 10_000_000) == len(data.train_y) == 600


def test_progress_reports_every_point(mlp):
    spec, data, a, b = mlp
    calls: list[tuple[int, int]] = []
    interpolate(spec, a, b, lambda_grid(21), data, "cpu", progress=lambda d, t: calls.append((d, t)),
                train_objects=100)
    assert calls == [(i, 21) for i in range(22)]


def test_cancel_raises_and_stops_early(mlp):
    spec, data, a, b = mlp
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        calls.append(done)

    with pytest.raises(CancelledError):
        interpolate(spec, a, b, lambda_grid(21), data, "cpu", progress=progress,
                    should_stop=lambda: len(calls) > 3, train_objects=100)
    assert max(calls) == 3  # the fourth point was never finished


def test_state_that_does_not_fit_the_model_is_refused(mlp):
    spec, data, a, b = mlp
    broken = dict(b)
    broken.pop(next(iter(broken)))
    with pytest.raises(ValueError, match="does not fit"):
        interpolate(spec, a, broken, [0.0], data, "cpu")


def test_batchnorm_is_recomputed_at_every_lambda(tiny_bn, monkeypatch):
    spec = _spec(model=tiny_bn, test_size=300)
    data = _data(spec)
    a, b = _bn_states(spec, data)
    seen: list[dict[str, Any]] = []
    real = interp.update_batchnorm

    def recording(model: nn.Module, x: torch.Tensor, batch_size: int) -> bool:
        before = {k: v.clone() for k, v in model.state_dict().items()}
        changed = real(model, x, batch_size)
        after = {k: v.clone() for k, v in model.state_dict().items()}
        seen.append({"before": before, "after": after, "n": len(x), "batch": batch_size})
        return changed

    monkeypatch.setattr(interp, "update_batchnorm", recording)
    n_train = 256
    result = interpolate(spec, a, b, lambda_grid(21), data, "cpu", train_objects=n_train)
    assert len(seen) == 21
    assert all(s["n"] == n_train and s["batch"] == spec.budget["batch_size"] for s in seen)
    # Integer buffers come from a; parameters and float buffers are mixed before the recomputation.
    assert all(int(s["before"]["bn.num_batches_tracked"]) == 7 for s in seen)
    mid = seen[10]
    np.testing.assert_allclose(mid["before"]["bn.running_mean"].numpy(), 0.0, atol=1e-6)  # (5 + -5) / 2
    np.testing.assert_allclose(mid["before"]["conv.weight"].numpy(), 0.5 * a["conv.weight"] + 0.5 * b["conv.weight"],
                               rtol=1e-6, atol=1e-7)
    for name in ("bn.running_mean", "bn.running_var", "bn1.running_mean", "bn1.running_var"):
        values = mid["after"][name].numpy()
        assert not np.allclose(values, a[name]) and not np.allclose(values, b[name])
        assert not np.allclose(values, seen[0]["after"][name].numpy())
        assert not np.allclose(values, seen[-1]["after"][name].numpy())

    # The same statistics as a direct recomputation for the midpoint net.
    direct = build_model(spec, data.input_shape, data.num_classes)
    direct.load_state_dict({k: (0.5 * torch.from_numpy(a[k]) + 0.5 * torch.from_numpy(b[k]))
                            if a[k].dtype.kind == "f" else torch.from_numpy(a[k]) for k in a})
    assert update_batchnorm(direct, data.train_x[:n_train], spec.budget["batch_size"])
    for name, value in direct.state_dict().items():
        np.testing.assert_allclose(mid["after"][name].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    direct.eval()
    with torch.no_grad():
        logits = direct(data.test_x).double()
    assert result.test_loss[10] == pytest.approx(float(F.cross_entropy(logits, data.test_y)), rel=1e-5)
    # λ = 0 uses recomputed statistics too, not the absurd stored ones (mean 5, var 9).
    stored = load_state(build_model(spec, data.input_shape, data.num_classes), a).eval()
    with torch.no_grad():
        stored_loss = float(F.cross_entropy(stored(data.test_x).double(), data.test_y))
    assert result.test_loss[0] != pytest.approx(stored_loss, rel=1e-3)


def test_resnet20_batchnorm_path_on_a_tiny_subset(monkeypatch):
    spec = _spec(model="resnet20", train_size=200, test_size=50)
    data = _data(spec)
    a, b = _random_state(spec, data, 5), _random_state(spec, data, 6)
    calls: list[int] = []
    real = interp.update_batchnorm
    monkeypatch.setattr(interp, "update_batchnorm", lambda m, x, bs: calls.append(len(x)) or real(m, x, bs))
    result = interpolate(spec, a, b, [0.0, 0.5, 1.0], data, "cpu", train_objects=32)
    assert calls == [32, 32, 32]
    assert np.all(np.isfinite(result.test_loss))


def test_no_batchnorm_means_no_recomputation(mlp, monkeypatch):
    spec, data, a, b = mlp
    calls: list[int] = []
    monkeypatch.setattr(interp, "update_batchnorm", lambda *args: calls.append(1) or True)
    interpolate(spec, a, b, [0.0, 1.0], data, "cpu", train_objects=50)
    assert calls == []


Snap = namedtuple("Snap", "member index epoch")


def test_pairs_against_final_pair_each_earlier_snapshot_with_its_members_last():
    snaps = [Snap(1, 2, 9), Snap(0, 1, 10), Snap(0, 0, 5), Snap(0, 2, 15), Snap(1, 0, 3), Snap(1, 1, 6),
             Snap(2, 0, 4)]
    pairs = pairs_against_final(snaps)
    assert [(a.member, a.index, b.member, b.index) for a, b in pairs] == [
        (0, 0, 0, 2), (0, 1, 0, 2), (1, 0, 1, 2), (1, 1, 1, 2)]
    assert pairs_against_final([Snap(0, 0, 1), Snap(1, 0, 1)]) == []  # one snapshot per member: nothing earlier
    assert pair_label(Snap(0, 1, 0), Snap(0, 3, 0)) == "m0s1-m0s3"
    assert snapshot_name(2, 4) == "member 2 snapshot 4"


# ---------------------------------------------------------------- the engines against the loop before issue 12

def _loop_before_issue_12(spec: Spec, a: Mapping, b: Mapping, lambdas, data: DataSplits,
                          n_train: int) -> InterpolationResult:
    """The reference: one load_state_dict and plain (NCHW) forward passes per λ, at the spec's evaluation batch,
    BatchNorm statistics recomputed by update_batchnorm, over the whole test split."""
    model = build_model(spec, data.input_shape, data.num_classes, trained=True)
    batch = spec.evaluation["batch_size"]
    out = []
    for lam in lambdas:
        model.load_state_dict({k: (1.0 - lam) * torch.from_numpy(a[k]) + lam * torch.from_numpy(b[k])
                               if a[k].dtype.kind == "f" else torch.from_numpy(a[k]) for k in a})
        update_batchnorm(model, data.train_x[:n_train], spec.budget["batch_size"])
        row = []
        for x, y in ((data.train_x[:n_train], data.train_y[:n_train]), (data.test_x, data.test_y)):
            row += interp.evaluate_loss_error(model, x, y, batch, torch.device("cpu"), lambda: False)
        out.append(row)
    values = np.array(out).T
    return InterpolationResult(np.asarray(lambdas, dtype=np.float64), *values)


def _assert_same_curves(new: InterpolationResult, old: InterpolationResult, n_train: int, n_test: int) -> None:
    np.testing.assert_array_equal(new.lambdas, old.lambdas)
    for name in ("train_loss", "test_loss"):
        np.testing.assert_allclose(getattr(new, name), getattr(old, name), rtol=1e-5, err_msg=name)
    # An object whose two largest logits tie to rounding may flip; more than one would be a real difference.
    assert np.max(np.abs(new.train_error - old.train_error)) * n_train <= 1 + 1e-9
    assert np.max(np.abs(new.test_error - old.test_error)) * n_test <= 1 + 1e-9


@pytest.mark.parametrize("engine", ["sequential", "vmap"])
@pytest.mark.parametrize("model", ["lenet300_100", "lenet5_caffe", "tiny_bn"])
def test_engines_give_the_old_loops_numbers(model, engine, request):
    if model == "tiny_bn":
        model = request.getfixturevalue("tiny_bn")
    spec = _spec(model=model, test_size=300)
    data = _data(spec)
    a, b = (_bn_states(spec, data) if model == "tiny_bn" else
            (_random_state(spec, data, 1), _random_state(spec, data, 2)))
    lambdas = lambda_grid(21)
    new = interpolate(spec, a, b, lambdas, data, "cpu", train_objects=200, test_objects=10_000, engine=engine)
    _assert_same_curves(new, _loop_before_issue_12(spec, a, b, lambdas, data, 200), 200, 300)


def test_resnet20_vmap_recomputes_batchnorm_like_the_old_loop():
    spec = _spec(model="resnet20", train_size=200, test_size=40)
    data = _data(spec)
    a, b = _random_state(spec, data, 5), _random_state(spec, data, 6)
    lambdas = [0.0, 0.3, 1.0]
    new = interpolate(spec, a, b, lambdas, data, "cpu", train_objects=100, test_objects=10_000, engine="vmap")
    _assert_same_curves(new, _loop_before_issue_12(spec, a, b, lambdas, data, 100), 100, 40)


def test_vmap_chunks_bounded_by_memory_give_the_same_curve(tiny_bn, monkeypatch):
    spec = _spec(model=tiny_bn, test_size=200)
    data = _data(spec)
    a, b = _bn_states(spec, data)
    whole = interpolate(spec, a, b, lambda_grid(21), data, "cpu", train_objects=150, engine="vmap")
    sizes: list[int] = []
    real = interp.chunk_size
    monkeypatch.setitem(interp.CHUNK_BYTES, "cpu", 1)  # room for no activations at all: one λ per chunk
    monkeypatch.setattr(interp, "chunk_size", lambda *args: sizes.append(real(*args)) or sizes[-1])
    calls: list[tuple[int, int]] = []
    chunked = interpolate(spec, a, b, lambda_grid(21), data, "cpu", train_objects=150, engine="vmap",
                          progress=lambda d, t: calls.append((d, t)))
    assert sizes == [1]
    assert calls == [(i, 21) for i in range(22)]
    for name in InterpolationResult.ARRAYS:
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-6, err_msg=name)


def test_endpoints_are_the_snapshots_weights_bit_for_bit(mlp):
    spec, data, a, b = mlp
    mixed = {k: (torch.from_numpy(a[k]), torch.from_numpy(b[k])) for k in a}
    stacked = interp._StackedLine.stack(mixed, {}, [0.0, 0.5, 1.0])
    for k in a:
        assert torch.equal(mixed_state(mixed, 0.0)[k], mixed[k][0]) and torch.equal(stacked[k][0], mixed[k][0])
        assert torch.equal(mixed_state(mixed, 1.0)[k], mixed[k][1]) and torch.equal(stacked[k][2], mixed[k][1])
        assert torch.equal(stacked[k][1], mixed_state(mixed, 0.5)[k])  # both engines mix the very same weights


def test_vmap_endpoints_reproduce_the_snapshots_own_losses(mlp):
    spec, data, a, b = mlp
    result = interpolate(spec, a, b, [0.0, 1.0], data, "cpu", train_objects=400, engine="vmap")
    for i, state in ((0, a), (1, b)):
        train_loss, _train_error, test_loss, _test_error = _direct(spec, data, state, 400)
        np.testing.assert_allclose([result.train_loss[i], result.test_loss[i]], [train_loss, test_loss], rtol=1e-6)


def test_vmap_cancel_raises_between_batches(mlp):
    spec, data, a, b = mlp
    checks: list[int] = []
    with pytest.raises(CancelledError):
        interpolate(spec, a, b, lambda_grid(21), data, "cpu", engine="vmap", batch_size=50,
                    should_stop=lambda: checks.append(1) or len(checks) > 5)
    assert len(checks) == 6


def test_test_objects_are_a_stratified_sample_or_all(mlp):
    spec, data, a, b = mlp
    index = pick_test_objects(data.test_y.numpy(), 100, spec.seed)
    assert len(index) == 100 and np.all(np.diff(index) > 0)
    np.testing.assert_array_equal(index, pick_test_objects(data.test_y.numpy(), 100, spec.seed))
    counts = np.bincount(data.test_y.numpy()[index], minlength=10)
    shares = np.bincount(data.test_y.numpy(), minlength=10) * 100 / len(data.test_y)
    assert np.all(np.abs(counts - shares) < 1)  # every class keeps its share
    np.testing.assert_array_equal(pick_test_objects(data.test_y.numpy(), 10_000, 0), np.arange(len(data.test_y)))
    result = interpolate(spec, a, b, [0.0], data, "cpu", train_objects=50, test_objects=100)
    model = load_state(build_model(spec, data.input_shape, data.num_classes), a).eval()
    with torch.no_grad():
        logits = model(data.test_x[index]).double()
    assert result.test_loss[0] == pytest.approx(float(F.cross_entropy(logits, data.test_y[index])), rel=1e-6)
    with pytest.raises(ValueError, match="test_objects"):
        interpolate(spec, a, b, [0.0], data, "cpu", test_objects=0)
    assert objects_note(50, 600, 100, 500, 0) == ("the first 50 of 600 training objects (the run's shuffled split); "
                                                  "100 of 500 test objects (class-stratified, seed 0)")


def test_auto_engine_rule():
    assert choose_engine("auto", torch.device("cpu")) == "sequential"
    assert choose_engine("auto", torch.device("cuda")) == "vmap"
    assert choose_engine("vmap", torch.device("cpu")) == "vmap"
    with pytest.raises(ValueError, match="engine"):
        choose_engine("fast", torch.device("cpu"))
