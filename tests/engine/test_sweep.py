"""Gap sweeps in the engine: gap lists, plans, point specs, the gap taken from a run, and the width of a net."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from test_margins_width import C, N, softmax_regression  # noqa: F401 - the closed-form fixture, reused

from ensgui.engine.errors import RunFileError, SpecError
from ensgui.engine.losses import LOSSES, loss_for
from ensgui.engine.models import MODELS
from ensgui.engine.spec import Spec
from ensgui.engine.sweep import MEAN, parse_gap_values, plan_sweep, point_label, point_spec, resolve_gap_from_run
from ensgui.engine.traces import measure_width, trained_net, width_subset
from support import tiny_spec_dict


# ---------------------------------------------------------------- gap lists


def test_parse_gap_values_accepts_numbers_and_mean():
    assert parse_gap_values("0, 0.5, 1, 2, 4, mean") == (0.0, 0.5, 1.0, 2.0, 4.0, MEAN)
    assert parse_gap_values(" 2 1e-1;MEAN ") == (2.0, 0.1, MEAN)
    assert parse_gap_values("-0") == (0.0,)


@pytest.mark.parametrize("text, message", [
    ("", "the gap list is empty"),
    (" , ;", "the gap list is empty"),
    ("0, abc", "gap 'abc' is not a number or the word 'mean'"),
    ("0, -1", "gap -1 is invalid: a gap must be a number >= 0"),
    ("nan", "gap nan is invalid"),
    ("inf", "gap inf is invalid"),
    ("2000", "gap 2000 is invalid: a gap must be a number >= 0 and <= 1000"),
    ("0, 1, 0.0", "gap 0.0 appears twice"),
    ("mean, 1, Mean", "gap Mean appears twice"),
])
def test_parse_gap_values_names_the_bad_entry(text, message):
    with pytest.raises(SpecError, match="^" + message.replace("(", r"\(")) as caught:
        parse_gap_values(text)
    assert "\n" not in str(caught.value)


def test_plan_trains_gap_zero_first_when_mean_is_asked_for():
    assert plan_sweep((1.0, MEAN)).gaps == (0.0, 1.0, MEAN) and plan_sweep((1.0, MEAN)).added_zero
    with_zero = plan_sweep((2.0, MEAN, 0.0, 1.0))
    assert with_zero.gaps == (0.0, 2.0, MEAN, 1.0) and not with_zero.added_zero
    assert plan_sweep((2.0, 0.5)).gaps == (2.0, 0.5)  # without 'mean' the order is the user's
    assert plan_sweep((MEAN,)).gaps == (0.0, MEAN)
    with pytest.raises(SpecError):
        plan_sweep(())


def test_point_labels():
    assert point_label(0.0) == "0" and point_label(0.5) == "0.5" and point_label(4.0, 9.9) == "4"
    assert point_label(MEAN) == "mean" and point_label(MEAN, 2.31417) == "mean = 2.31"


# ---------------------------------------------------------------- point specs


def test_point_spec_sets_the_gap_loss_and_keeps_the_rest():
    values = tiny_spec_dict(method="single", name="sweep")
    values["loss"] = {"name": "logitnorm", "tau": 0.1, "freeze_last_layer": True, "last_layer_norm": 10.0}
    spec = Spec.from_dict(values)
    point = point_spec(spec, 2.5)
    assert point.name == "sweep-gap2.5"
    assert point.loss.name == "gap"
    assert dict(point.loss.params) == {"gap": 2.5, "gap_from_run": "", "freeze_last_layer": True,
                                       "last_layer_norm": 10.0}
    before, after = spec.to_dict(), point.to_dict()
    for key in set(before) - {"name", "loss"}:
        assert after[key] == before[key], key
    assert point_spec(spec, 0.0).name == "sweep-gap0"
    # A spec that took its gap from a run: the sweep's own gap wins.
    values["loss"] = {"name": "gap", "gap_from_run": "elsewhere.h5"}
    assert point_spec(Spec.from_dict(values), 1.0).loss["gap_from_run"] == ""
    with pytest.raises(SpecError, match=r"loss.gap = -0.5 is invalid"):
        point_spec(spec, -0.5)


# ---------------------------------------------------------------- gap = mean margin of a run


def gap_from_run_spec(source: str) -> Spec:
    values = tiny_spec_dict(method="single")
    values["loss"] = {"name": "gap", "gap": 1.0, "gap_from_run": source}
    return Spec.from_dict(values)


def test_resolve_gap_from_run(tmp_path):
    stored = tmp_path / "run.h5"
    stored.write_bytes(b"")
    spec = gap_from_run_spec(str(stored))
    resolved, gap = resolve_gap_from_run(spec, lambda path: 2.314 if path == str(stored) else -1.0)
    assert gap == 2.314
    assert resolved.loss["gap"] == 2.314 and resolved.loss["gap_from_run"] == ""
    assert spec.loss["gap_from_run"] == str(stored) and spec.loss["gap"] == 1.0  # the given spec is untouched
    # Specs without gap_from_run pass unchanged, whatever the callback.
    plain = Spec.from_dict(tiny_spec_dict(method="single"))
    assert resolve_gap_from_run(plain, None) == (plain, None)


def raising(path: str) -> float:
    raise RunFileError(f"{path} has no stored training margins")


@pytest.mark.parametrize("callback, exists, message", [
    (None, True, "needs a caller that can read run files; run the spec from the GUI or with `ensgui run`"),
    (lambda path: 1.0, False, "no such run file"),
    (raising, True, "gives no gap: .* has no stored training margins"),
    (lambda path: -0.3, True, "mean training margin of its member 0 is -0.3, but a gap must be >= 0"),
])
def test_resolve_gap_from_run_errors(tmp_path, callback, exists, message):
    stored = tmp_path / "run.h5"
    if exists:
        stored.write_bytes(b"")
    with pytest.raises(SpecError, match=f"^loss.gap_from_run = '{stored}'.*{message.replace('(', '[(]')}"):
        resolve_gap_from_run(gap_from_run_spec(str(stored)), callback)


def test_an_unresolved_gap_from_run_never_trains_with_the_stale_gap():
    spec = gap_from_run_spec("somewhere.h5")
    with pytest.raises(SpecError, match="must be resolved"):
        loss_for(spec.loss)
    assert any(p.name == "gap_from_run" and p.kind is str for p in LOSSES.get("gap").schema)


# ---------------------------------------------------------------- width


def test_measure_width_matches_the_closed_form(softmax_regression):  # noqa: F811
    model, x, y, p, closed = softmax_regression
    result = measure_width(model, x, y, batch_size=128, probes=100, tol=0.0, seed=3)
    assert result.objects == N
    assert result.hessian.samples == 100
    assert abs(result.hessian.mean - closed) < 3 * result.hessian.stderr
    assert result.fisher_true.samples == N
    assert abs(result.fisher_true.mean - closed) < 3 * result.fisher_true.stderr
    assert abs(result.fisher_true.mean - closed) < 0.05 * closed
    onehot = torch.nn.functional.one_hot(y, C).double()
    exact_empirical = (((p - onehot) ** 2).sum(1) * ((x ** 2).sum(1) + 1)).mean().item()
    assert result.fisher_empirical.mean == pytest.approx(exact_empirical, rel=1e-10)
    # One seed gives the same probes and sampled labels; the stopping rule ends early with its default tol.
    again = measure_width(model, x, y, batch_size=128, probes=100, tol=0.0, seed=3)
    assert again == result
    assert measure_width(model, x, y, batch_size=128, seed=3).hessian.samples < 100


def test_trained_net_loads_the_weights_and_keeps_a_frozen_last_layer_out_of_the_traces():
    values = tiny_spec_dict(method="single")
    values["loss"] = {"name": "gap", "gap": 1.0, "freeze_last_layer": True, "last_layer_norm": 10.0}
    spec = Spec.from_dict(values)
    torch.manual_seed(0)
    reference = MODELS.get("lenet300_100").factory(spec.model.params, (1, 28, 28), 10)
    state = {k: v.detach().numpy().copy() for k, v in reference.state_dict().items()}
    net = trained_net(spec, (1, 28, 28), 10, state, torch.device("cpu"))
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, torch.from_numpy(state[name])), name  # no rescaling to norm 10
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert not any(q.requires_grad for q in linears[-1].parameters())
    assert all(q.requires_grad for m in linears[:-1] for q in m.parameters())


def test_width_subset_is_the_first_objects():
    x, y = torch.arange(50).float()[:, None], torch.arange(50)
    sx, sy = width_subset(x, y, 20)
    assert torch.equal(sy, torch.arange(20)) and torch.equal(sx[:, 0], torch.arange(20).float())
    assert len(width_subset(x, y, 2000)[1]) == 50
    with pytest.raises(SpecError, match="width objects = 0 is invalid"):
        width_subset(x, y, 0)
