"""SSE, FGE and cSGLD: their schedules against methods.md 1, 2, 11a and 12, and tiny real runs of each."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from support import tiny_spec_dict, train_run_file
from ensgui.engine.cyclic import (
    csgld_samples,
    csgld_stage,
    cyclic_cosine_lr,
    even_cycle_iters,
    fge_snapshots,
    fge_triangular_lr,
    sse_snapshots,
)
from ensgui.engine.errors import SpecError
from ensgui.engine.events import Evaluated, LogLine, Scalar, SnapshotTaken
from ensgui.engine.members import SingleMember, StackedMembers
from ensgui.engine.methods import csgld as csgld_module
from ensgui.engine.methods import method_for
from ensgui.engine.methods.csgld import LangevinNoise, temperature_value
from ensgui.engine.methods import plan_for
from ensgui.engine.planning import build_schedule, default_plan
from ensgui.engine.runner import run_spec
from ensgui.engine.schedules import lr_table
from ensgui.engine.seeding import derive_seed
from ensgui.engine.spec import Spec
from ensgui.engine.task_state import TaskState
from ensgui.storage.reader import StoredRunReader

PER_EPOCH = 10  # tiny_spec_dict: 600 objects in batches of 64


def spec_with(method: dict, epochs: int, model: str = "lenet300_100", optimizer: dict | None = None) -> Spec:
    values = tiny_spec_dict(epochs=epochs, model=model)
    values["method"] = method
    if optimizer is not None:
        values["optimizer"] = optimizer
    return Spec.from_dict(values)


def run(spec: Spec, **kwargs) -> tuple[object, list]:
    events: list = []
    result = run_spec(spec, TaskState([events.append]), threads=1, **kwargs)
    assert result.status == "finished", result.error
    return result, events


def evaluated_rows(events: list) -> set[int]:
    return {e.probs.shape[0] for e in events if isinstance(e, Evaluated)}


# ---------------------------------------------------------------- SSE (methods.md 1, 12.3)


@pytest.mark.parametrize("total, cycles", [(8600, 4), (40, 4), (103, 4), (1000, 7)])
def test_sse_restarts_at_alpha0_and_snapshots_at_the_annealed_end_of_each_of_exactly_m_cycles(total, cycles):
    alpha0 = 0.1
    lr = cyclic_cosine_lr(total, cycles, alpha0)
    length = math.ceil(total / cycles)
    snaps = sse_snapshots(total, cycles)
    assert len(lr) == total and len(snaps) == cycles
    starts = np.arange(0, total, length)
    assert len(starts) == cycles and np.all(lr[starts] == alpha0)
    np.testing.assert_array_equal(snaps, np.minimum(starts + length, total) - 1)
    t = np.arange(1, total + 1)
    np.testing.assert_allclose(lr, alpha0 / 2 * (np.cos(np.pi * ((t - 1) % length) / length) + 1))
    for start, snap in zip(starts, snaps):
        assert lr[snap] == lr[start:snap + 1].min()  # the lowest rate of its cycle
    full = snaps[:-1] if total % cycles else snaps
    assert np.all(lr[full] < alpha0 * (np.pi / length) ** 2)  # ~0: alpha0 (1 - cos(pi/L))/2


def test_sse_plan_for_each_variant():
    epochs = 4
    cyclic = plan_for(spec_with({"name": "snapshot", "cycles": 4, "alpha0": 0.2}, epochs))
    total = epochs * PER_EPOCH
    np.testing.assert_array_equal(cyclic.lr, cyclic_cosine_lr(total, 4, 0.2))
    assert list(cyclic.snapshots) == [9, 19, 29, 39]
    assert (cyclic.members, cyclic.rows, cyclic.epochs) == (1, 4, epochs)

    spec = spec_with({"name": "snapshot", "cycles": 4, "variant": "nocycle"}, epochs)
    nocycle = plan_for(spec)
    np.testing.assert_array_equal(nocycle.lr, default_plan(spec, PER_EPOCH, 1).lr)  # optimizer.lr, schedule
    assert list(nocycle.snapshots) == [9, 19, 29, 39] and nocycle.rows == 4  # every B/M epochs

    single = plan_for(spec_with({"name": "snapshot", "cycles": 2, "variant": "singlecycle"}, epochs))
    assert (single.members, single.rows, single.epochs, single.total_iters) == (2, 2, 2, 20)
    assert single.lr[0] == 0.1 and list(single.snapshots) == [19]


@pytest.mark.parametrize("method, epochs, field", [
    ({"name": "snapshot", "cycles": 5}, 1, "method.cycles"),  # cycles of 2 iterations cannot anneal
    ({"name": "snapshot", "cycles": 30}, 1, "method.cycles"),  # fewer than M cycles fit
    ({"name": "snapshot", "cycles": 3, "variant": "singlecycle"}, 4, "method.cycles"),
    ({"name": "fge", "cycle_epochs": 2.0}, 5, "method.cycle_epochs"),
    ({"name": "fge", "pretrain_fraction": 0.0}, 5, "method.pretrain_fraction"),
    ({"name": "fge", "alpha2": 0.5}, 5, "method.alpha2"),
    ({"name": "csgld", "cycles": 2, "samples_per_cycle": 5}, 2, "method.samples_per_cycle"),
])
def test_impossible_settings_name_the_field(method, epochs, field):
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        spec_with(method, epochs)


def test_csgld_rejects_a_non_sgd_optimiser():
    values = tiny_spec_dict(epochs=4)
    values["method"] = {"name": "csgld", "cycles": 2}
    values["optimizer"] = {"name": "adam"}
    with pytest.raises(SpecError, match=r"optimizer\.name = 'adam'"):
        Spec.from_dict(values)


# ---------------------------------------------------------------- FGE (methods.md 2, 12.3)


def test_fge_triangle_is_alpha1_at_cycle_ends_and_exactly_alpha2_at_every_snapshot():
    a1, a2, c = 0.025, 2.5e-4, 430
    lr = fge_triangular_lr(4 * c, c, a1, a2)
    snaps = fge_snapshots(4 * c, c)
    assert len(snaps) == 4 * c // c
    assert np.all(lr[snaps] == a2) and lr.min() == a2
    np.testing.assert_allclose(lr[np.arange(c - 1, 4 * c, c)], a1)  # t = 1: back at alpha1
    assert lr.max() == pytest.approx(a1)
    i = np.arange(1, 4 * c + 1)
    t = ((i - 1) % c + 1) / c
    expected = np.where(t <= 0.5, (1 - 2 * t) * a1 + 2 * t * a2, (2 - 2 * t) * a2 + (2 * t - 1) * a1)
    np.testing.assert_allclose(lr, expected)
    assert even_cycle_iters(1.0, 469) == 470 and even_cycle_iters(0.1, 10) == 2 and even_cycle_iters(0.4, 10) == 4


def test_fge_plan_pretrains_with_the_spec_schedule_then_cycles_with_one_member_per_cycle():
    spec = spec_with({"name": "fge", "pretrain_fraction": 0.6, "cycle_epochs": 0.4}, 5)  # 3 + 2 epochs
    plan = plan_for(spec)
    pre, fge_iters, c = 3 * PER_EPOCH, 2 * PER_EPOCH, 4
    np.testing.assert_array_equal(plan.lr[:pre], lr_table(build_schedule(spec, pre, PER_EPOCH), pre))
    assert plan.lr[0] == spec.optimizer["lr"]
    assert plan.rows == len(plan.snapshots) == fge_iters // c == 5
    assert np.all(plan.lr[plan.snapshots] == 2.5e-4)
    np.testing.assert_array_equal(plan.snapshots, pre + np.arange(c // 2 - 1, fge_iters, c))
    # From a stored run the whole budget is cycles.
    stored = plan_for(spec_with({"name": "fge", "cycle_epochs": 1.0, "start_from": "/some/run.h5"}, 2))
    assert list(stored.snapshots) == [4, 14] and stored.lr[0] == pytest.approx(0.025 * 0.8 + 2.5e-4 * 0.2)


# ---------------------------------------------------------------- cSGLD (methods.md 11a, 12.3)


def test_csgld_stage_and_samples():
    total, cycles, beta = 8600, 4, 0.8
    length = total // cycles
    stage = csgld_stage(total, cycles, beta)
    np.testing.assert_allclose(stage.r, (np.arange(total) % length) / length)
    np.testing.assert_array_equal(stage.sampling, stage.r >= beta)
    assert stage.sampling.sum() == cycles * 430  # the last epoch of every 5-epoch cycle
    samples = csgld_samples(total, cycles, beta, 3)
    assert len(samples) == 12 and np.all(stage.sampling[samples])
    np.testing.assert_array_equal(samples[2::3], np.arange(1, cycles + 1) * length - 1)  # last at the cycle end
    assert set(np.diff(samples.reshape(cycles, 3), axis=1).ravel()) <= {143, 144}  # evenly spaced


def hook(sampling: list[bool], temperature: float = 1.0, n: int = 1000, seed: int = 7) -> LangevinNoise:
    return LangevinNoise(np.array(sampling), temperature, n, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("stacked", [False, True])
def test_langevin_hook_adds_noise_of_the_right_std_only_in_the_sampling_stage(stacked):
    torch.manual_seed(0)
    models = [nn.Linear(500, 400), nn.Linear(500, 400)] if stacked else [nn.Linear(500, 400)]
    group = StackedMembers(models) if stacked else SingleMember(models[0])
    before = [p.detach().clone() for p in group.parameters()]
    noise = hook([False, True], temperature=0.5, n=1000)
    noise(group, [0], 0, 0.1)  # exploration: r < beta
    for p, q in zip(group.parameters(), before):
        assert torch.equal(p, q)
    noise(group, [0], 1, 0.1)  # sampling: r >= beta
    delta = torch.cat([(p.detach() - q).ravel() for p, q in zip(group.parameters(), before)])
    assert noise.std(0.1) == math.sqrt(2 * 0.1 * 0.5 / 1000)
    assert delta.std().item() == pytest.approx(noise.std(0.1), rel=0.01)
    assert abs(delta.mean().item()) < 0.01 * noise.std(0.1)


def test_langevin_noise_repeats_with_the_seed_and_temperatures_follow_methods_md():
    draws = []
    for seed in (7, 7, 8):
        layer = nn.Linear(3, 2)
        nn.init.zeros_(layer.weight)
        hook([True], seed=seed)(SingleMember(layer), [0], 0, 1.0)
        draws.append(layer.weight.detach().clone())
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])
    # The run's hook draws from its own generator, seeded from the spec seed only.
    spec = spec_with({"name": "csgld", "cycles": 2, "temperature": "B^2/N"}, 4)
    data = SimpleNamespace(train_y=torch.zeros(600))
    ctx = SimpleNamespace(plan=plan_for(spec), data=data, device=torch.device("cpu"))
    noise = method_for(spec).noise(ctx)
    assert noise.generator.initial_seed() == derive_seed(0, 0, csgld_module.LANGEVIN)
    assert noise.temperature == 64**2 / 600 and noise.train_objects == 600
    np.testing.assert_array_equal(noise.sampling, csgld_stage(40, 2, 0.8).sampling)
    assert temperature_value("1/N", 2000, 128) == 1 / 2000
    assert temperature_value("B^2/N", 2000, 128) == 128**2 / 2000
    assert temperature_value("1", 2000, 128) == 1.0


def test_csgld_run_adds_noise_only_when_r_reaches_beta(monkeypatch):
    """A tiny real run with a spy around the hook: the weights move in the hook exactly on sampling steps."""
    calls: list[tuple[int, bool]] = []
    original = LangevinNoise.__call__

    def spy(self, group, ids, step, lr):
        before = [p.detach().clone() for p in group.parameters()]
        original(self, group, ids, step, lr)
        calls.append((step, any(not torch.equal(p, q) for p, q in zip(group.parameters(), before))))

    monkeypatch.setattr(csgld_module.LangevinNoise, "__call__", spy)
    spec = spec_with({"name": "csgld", "cycles": 2, "beta": 0.7, "samples_per_cycle": 2}, 4,
                     optimizer={"name": "sgd", "momentum": 0.0})
    plan = plan_for(spec)
    _, events = run(spec)
    mask = csgld_stage(plan.total_iters, 2, 0.7).sampling
    assert [s for s, _ in calls] == list(range(plan.total_iters))
    assert [moved for _, moved in calls] == list(mask)
    assert 0 < mask.sum() < len(mask)
    taken = sorted(e.step for e in events if isinstance(e, SnapshotTaken))
    assert taken == list(plan.snapshots) == [16, 19, 36, 39] and np.all(mask[taken])
    assert evaluated_rows(events) == {4}
    assert not any("SGHMC" in e.text for e in events if isinstance(e, LogLine))


# ---------------------------------------------------------------- tiny real runs


@pytest.mark.parametrize("method, epochs, rows", [
    ({"name": "snapshot", "cycles": 4}, 4, 4),
    ({"name": "snapshot", "cycles": 2, "variant": "singlecycle"}, 4, 2),
    ({"name": "fge", "pretrain_fraction": 0.5, "cycle_epochs": 0.4}, 2, 3),
])
def test_tiny_runs_finish_with_one_row_per_snapshot(method, epochs, rows):
    spec = spec_with(method, epochs)
    plan = plan_for(spec)
    assert plan.rows == rows
    _, events = run(spec)
    assert evaluated_rows(events) == {rows}
    snaps = [e for e in events if isinstance(e, SnapshotTaken)]
    assert sorted(e.row for e in snaps) == list(range(rows))
    for e in snaps:
        assert e.lr == plan.lr[e.step] and e.step in plan.snapshots
    assert len(method_for(spec).row_names(plan)) == rows


def test_fge_starts_from_the_final_weights_of_a_stored_run(tmp_path):
    source = train_run_file(tmp_path, method="single", epochs=3, name="pretrained")
    method = {"name": "fge", "cycle_epochs": 0.4, "pretrain_fraction": 0.5}

    def first_loss(spec: Spec, **kwargs) -> float:
        _, events = run(spec, **kwargs)
        return next(e.value for e in events if isinstance(e, Scalar) and e.name == "train_loss" and e.step == 0)

    fresh = first_loss(spec_with(method, 2))  # one epoch of pre-training from a random initialisation
    continued = first_loss(spec_with({**method, "start_from": str(source)}, 1), stored_runs=StoredRunReader())
    assert fresh > 2.0  # about log 10 at a random initialisation
    assert continued < 0.5 * fresh

    other = spec_with({**method, "start_from": str(source)}, 1, model="lenet5_caffe")
    result = run_spec(other, TaskState(), threads=1, stored_runs=StoredRunReader())
    assert result.status == "failed" and "method.start_from" in result.error
