"""Every schedule as a pure function of the iteration, against hand-computed values."""

import numpy as np
import pytest

from ensgui.engine.errors import SpecError
from ensgui.engine.schedules import SCHEDULES, lr_table

PER_EPOCH, EPOCHS = 10, 20
TOTAL = PER_EPOCH * EPOCHS


def make(name, base_lr=0.1, **params):
    entry = SCHEDULES.get(name)
    full = {p.name: params.get(p.name, p.default) for p in entry.schema}
    return entry.factory(full, base_lr, TOTAL, PER_EPOCH)


def test_constant_is_the_base_rate_everywhere():
    assert np.all(lr_table(make("constant"), TOTAL) == 0.1)


def test_step_multiplies_by_gamma_every_step_epochs():
    lr = lr_table(make("step", step_epochs=5, gamma=0.5), TOTAL)
    assert lr[0] == lr[5 * PER_EPOCH - 1] == 0.1
    assert lr[5 * PER_EPOCH] == pytest.approx(0.05)
    assert lr[15 * PER_EPOCH] == pytest.approx(0.1 * 0.5**3)


def test_base_schedule_is_flat_then_linear_then_flat():
    lr = lr_table(make("base", final_factor=0.01), TOTAL)
    u = np.arange(TOTAL) / TOTAL
    assert np.all(lr[u <= 0.5] == pytest.approx(0.1))
    assert np.all(lr[u >= 0.9] == pytest.approx(0.001))
    middle = (u > 0.5) & (u < 0.9)
    expected = 0.1 * (1 - 0.99 * (u[middle] - 0.5) / 0.4)
    np.testing.assert_allclose(lr[middle], expected)
    assert np.all(np.diff(lr) <= 1e-15), "the base schedule never increases"


def test_cosine_anneals_from_base_to_final():
    lr = lr_table(make("cosine", final_factor=0.1), TOTAL)
    assert lr[0] == pytest.approx(0.1)
    assert lr[TOTAL // 2] == pytest.approx(0.1 * 0.1 + 0.09 * 0.5)
    assert lr[-1] == pytest.approx(0.01 + 0.09 * 0.5 * (1 + np.cos(np.pi * (TOTAL - 1) / TOTAL)))
    assert np.all(np.diff(lr) < 0)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedules_are_pure_functions_of_the_iteration(name):
    schedule = make(name)
    iterations = np.arange(TOTAL)
    whole = schedule(iterations)
    one_by_one = np.array([float(schedule(np.array([i]))[0]) for i in iterations])
    shuffled = np.random.default_rng(0).permutation(iterations)
    np.testing.assert_array_equal(whole, one_by_one)
    np.testing.assert_array_equal(schedule(shuffled), whole[shuffled])
    assert np.all(np.isfinite(whole)) and np.all(whole >= 0)


def test_base_schedule_rejects_end_before_start():
    with pytest.raises(SpecError, match="schedule.end"):
        make("base", start=0.8, end=0.5)
