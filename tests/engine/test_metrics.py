"""Tests of ensgui.engine.metrics against hand-computed values and brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ensgui.engine import metrics as m

# Four objects, three classes; arg-max classes 0, 1, 2, 0 against labels 0, 2, 2, 1.
PROBS = np.array(
    [
        [0.70, 0.20, 0.10],
        [0.10, 0.55, 0.35],
        [0.30, 0.25, 0.45],
        [0.50, 0.45, 0.05],
    ]
)
LABELS = np.array([0, 2, 2, 1])


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _calibrated_logits(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits), so that tau = 1 is the right temperature."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.normal(size=(n, c))
    p = _softmax(logits)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return logits, labels


def test_metric_names() -> None:
    assert m.METRIC_NAMES == ("error", "nll", "cnll", "cnll_val", "brier", "ece", "auroc")


def test_error_by_hand() -> None:
    assert m.error(PROBS, LABELS) == 0.5
    assert m.error(PROBS, np.array([0, 1, 2, 0])) == 0.0


def test_nll_by_hand() -> None:
    expected = -np.mean(np.log(1e-12 + np.array([0.70, 0.35, 0.45, 0.45])))
    assert m.nll(PROBS, LABELS) == pytest.approx(expected, rel=1e-14)
    # A zero probability on the label costs -log(1e-12), not infinity.
    assert m.nll(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-math.log(1e-12))


def test_brier_by_hand() -> None:
    # Rows: 0.09+0.04+0.01, 0.01+0.3025+0.4225, 0.09+0.0625+0.3025, 0.25+0.3025+0.0025.
    assert m.brier(PROBS, LABELS) == pytest.approx((0.14 + 0.735 + 0.455 + 0.555) / 4, rel=1e-12)
    assert m.brier(np.eye(3), np.arange(3)) == pytest.approx(0.0, abs=1e-15)
    assert m.brier(np.eye(3), np.array([1, 2, 0])) == pytest.approx(2.0)


def test_reliability_and_ece_by_hand() -> None:
    # Five bins of width 0.2: confidences 0.55, 0.45, 0.5 fall in (0.4, 0.6] with one of three
    # correct; 0.7 falls in (0.6, 0.8] and is correct.
    diagram = m.reliability(PROBS, LABELS, n_bins=5)
    np.testing.assert_allclose(diagram.edges, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(diagram.count, [0, 0, 3, 1, 0])
    np.testing.assert_allclose(diagram.confidence, [np.nan, np.nan, 0.5, 0.7, np.nan])
    np.testing.assert_allclose(diagram.accuracy, [np.nan, np.nan, 1 / 3, 1.0, np.nan])
    expected = 0.75 * abs(1 / 3 - 0.5) + 0.25 * abs(1.0 - 0.7)
    assert diagram.ece == pytest.approx(expected, rel=1e-12)
    assert m.ece(PROBS, LABELS, n_bins=5) == pytest.approx(0.2, rel=1e-12)


def test_ece_default_bins_by_hand() -> None:
    # 15 bins of width 1/15: 0.45, 0.5, 0.55 and 0.7 land in bins 6, 7, 8 and 10, one object
    # each, so ECE = mean |correct - conf|.
    conf = np.array([0.70, 0.55, 0.45, 0.50])
    correct = np.array([1.0, 0.0, 1.0, 0.0])
    assert m.reliability(PROBS, LABELS).count.sum() == 4
    assert np.count_nonzero(m.reliability(PROBS, LABELS).count) == 4
    assert m.ece(PROBS, LABELS) == pytest.approx(np.mean(np.abs(correct - conf)), rel=1e-12)


def test_ece_zero_when_perfectly_calibrated() -> None:
    rows, labels = [], []
    # Confidence 0.7 with 7 of 10 right, 0.9 with 9 of 10 right, 0.75 with 3 of 4 right.
    for p, n, n_right, right, wrong in [(0.7, 10, 7, 0, 1), (0.9, 10, 9, 0, 1), (0.75, 4, 3, 1, 0)]:
        row = [p, 1 - p] if right == 0 else [1 - p, p]
        rows += [row] * n
        labels += [right] * n_right + [wrong] * (n - n_right)
    assert m.ece(np.array(rows), np.array(labels)) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_one_hot_predictions() -> None:
    probs = np.eye(4)[[0, 1, 2, 3, 0]]
    labels = np.array([0, 1, 2, 0, 1])
    # All confidences are 1 and 3 of 5 are right.
    assert m.ece(probs, labels) == pytest.approx(0.4)


def _brute_force_auroc(score: np.ndarray, positive: np.ndarray) -> float:
    pos, neg = score[positive], score[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (pos.size * neg.size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_matches_pairwise_count(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Rounding creates many tied confidences, which the rank formula must count as one half.
    probs = np.round(rng.dirichlet(np.full(4, 0.7), size=300), 2)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, size=300)
    positive = probs.argmax(axis=1) == labels
    off_top = np.sort(probs, axis=1)[:, :-1].sum(axis=1)  # 1 - p_max, the max-probability score's ranking
    assert m.auroc(probs, labels) == pytest.approx(_brute_force_auroc(-off_top, positive), rel=1e-12)
    neg_entropy = np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1.0)), 0.0), axis=1)
    assert m.auroc(probs, labels, score="entropy") == pytest.approx(
        _brute_force_auroc(neg_entropy, positive), rel=1e-9
    )


def test_auroc_max_probability_still_ranks_where_float32_rounds_it_to_one() -> None:
    # A saturated net: p_max is exactly 1.0 in float32 for all four objects, yet the two wrong ones (labels 1)
    # are the less confident; the mass off the top class still tells them apart.
    logits = np.array([[40.0, 0.0], [38.0, 0.0], [30.0, 0.0], [25.0, 0.0]])
    probs = np.exp(logits - np.logaddexp(logits[:, :1], logits[:, 1:])).astype(np.float32)
    assert np.all(probs.max(axis=1) == 1.0)
    assert m.auroc(probs, np.array([0, 0, 1, 1])) == pytest.approx(1.0)
    assert m.auroc(probs, np.array([1, 1, 0, 0])) == pytest.approx(0.0)


def test_auroc_by_hand_and_edge_cases() -> None:
    # Correct objects have confidences 0.7 and 0.45, wrong ones 0.55 and 0.5: 2 of 4 pairs won.
    assert m.auroc(PROBS, LABELS) == pytest.approx(0.5)
    separable = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
    assert m.auroc(separable, np.array([0, 0, 1])) == pytest.approx(1.0)
    # The only wrong object is the most confident one.
    assert m.auroc(separable, np.array([1, 0, 0])) == pytest.approx(0.0)
    # Equal confidence for the right and the wrong object counts one half.
    assert m.auroc(np.array([[0.6, 0.4], [0.4, 0.6]]), np.array([0, 0])) == pytest.approx(0.5)
    assert math.isnan(m.auroc(separable, np.array([0, 0, 0])))
    assert math.isnan(m.auroc(separable, np.array([1, 1, 1])))
    with pytest.raises(ValueError):
        m.auroc(separable, np.array([0, 0, 1]), score="margin")


def test_ensemble_log_mean_equals_log_of_mean_probs() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(6, 0.5), size=(5, 50))
    probs[0, 0, 0] = 0.0  # an underflowed member probability must not break the average
    with np.errstate(divide="ignore"):
        log_probs = np.log(probs)
    np.testing.assert_allclose(m.ensemble_log_mean(log_probs), np.log(probs.mean(axis=0)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(m.ensemble_log_mean(log_probs[:1]), log_probs[0], rtol=0, atol=1e-15)
    # Very small probabilities in log space, where exp would underflow.
    tiny = np.array([[[-1000.0, 0.0]], [[-1002.0, 0.0]]])
    assert m.ensemble_log_mean(tiny)[0, 0] == pytest.approx(-1000.0 + math.log((1 + math.exp(-2)) / 2))


def test_apply_temperature() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(20, 5)) * 3
    log_p = _log_softmax(logits)
    np.testing.assert_allclose(m.apply_temperature(log_p, 1.0), _softmax(logits), rtol=1e-12)
    # For one model, scaling the log-probabilities equals scaling the logits.
    np.testing.assert_allclose(m.apply_temperature(log_p, 2.5), _softmax(logits / 2.5), rtol=1e-12)
    np.testing.assert_allclose(m.apply_temperature(log_p, 0.3).sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError):
        m.apply_temperature(log_p, 0.0)


def test_temperature_leaves_accuracy_unchanged() -> None:
    rng = np.random.default_rng(5)
    probs = rng.dirichlet(np.full(7, 0.3), size=(4, 500)).mean(axis=0)
    labels = rng.integers(0, 7, size=500)
    log_p = np.log(probs)
    for tau in (0.05, 0.5, 1.0, 2.0, 40.0):
        scaled = m.apply_temperature(log_p, tau)
        np.testing.assert_array_equal(scaled.argmax(axis=1), probs.argmax(axis=1))
        assert m.error(scaled, labels) == m.error(probs, labels)


def test_fit_temperature_recovers_overconfidence() -> None:
    logits, labels = _calibrated_logits(20000, 10, seed=6)
    # Logits three times too large: the fitted temperature should undo the factor.
    assert m.fit_temperature(_log_softmax(3.0 * logits), labels) == pytest.approx(3.0, rel=0.05)
    assert m.fit_temperature(_log_softmax(logits), labels) == pytest.approx(1.0, rel=0.05)
    assert m.fit_temperature(_log_softmax(0.5 * logits), labels) == pytest.approx(0.5, rel=0.05)


def test_cnll_oracle_is_the_minimum_and_never_above_nll() -> None:
    rng = np.random.default_rng(7)
    for seed in range(5):
        logits, labels = _calibrated_logits(400, 5, seed=seed)
        for scale in (0.3, 1.0, 4.0):
            log_p = _log_softmax(scale * logits + rng.normal(size=logits.shape))
            probs = np.exp(log_p)
            oracle = m.cnll_oracle(log_p, labels)
            tau, at_tau = m.fit_temperature_with_nll(log_p, labels)
            assert oracle <= m.nll(probs, labels) + 1e-12
            assert oracle == at_tau
            assert m.temperature_nll(log_p, labels, tau) == pytest.approx(oracle, rel=1e-12)
            assert m.nll(m.apply_temperature(log_p, tau), labels) == pytest.approx(oracle, rel=1e-10)
            # No nearby temperature does better.
            for t in (tau * 0.98, tau * 1.02):
                assert m.temperature_nll(log_p, labels, t) >= oracle - 1e-9
    # Uniform predictions: every tau gives log C, and tau = 1 is kept.
    uniform = np.full((10, 4), math.log(0.25))
    labels = np.arange(10) % 4
    assert m.fit_temperature(uniform, labels) == 1.0
    assert m.cnll_oracle(uniform, labels) == pytest.approx(math.log(4), rel=1e-10)


def test_temperature_nll_at_one_is_nll() -> None:
    rng = np.random.default_rng(8)
    probs = rng.dirichlet(np.full(5, 0.4), size=300)
    labels = rng.integers(0, 5, size=300)
    assert m.temperature_nll(np.log(probs), labels, 1.0) == pytest.approx(m.nll(probs, labels), rel=1e-13)


def test_temperature_handles_zero_probabilities() -> None:
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.9, 0.0, 0.1]])
    labels = np.array([0, 2, 1, 0])
    with np.errstate(divide="ignore"):
        log_p = np.log(probs)
    oracle = m.cnll_oracle(log_p, labels)
    assert np.isfinite(oracle)
    assert oracle <= m.nll(probs, labels) + 1e-12


def _cnll_cv_reference(log_p: np.ndarray, labels: np.ndarray, n_splits: int, n_runs: int, seed: int) -> float:
    """Literal PE metrics_kfold loop, using the same permutations as cnll_cv."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(n_runs):
        folds = np.array_split(rng.permutation(labels.shape[0]), n_splits)
        for i, held_out in enumerate(folds):
            fit_idx = np.concatenate([f for j, f in enumerate(folds) if j != i])
            tau = m.fit_temperature(log_p[fit_idx], labels[fit_idx])
            total += m.nll(m.apply_temperature(log_p[held_out], tau), labels[held_out])
    return total / (n_splits * n_runs)


@pytest.mark.parametrize("n_splits", [2, 3])
def test_cnll_cv_matches_literal_kfold(n_splits: int) -> None:
    logits, labels = _calibrated_logits(301, 6, seed=9)
    log_p = _log_softmax(2.5 * logits)
    got = m.cnll_cv(log_p, labels, n_splits=n_splits, n_runs=3, rng=np.random.default_rng(11))
    # cnll_cv's fits stop at the float32 search's fixed point, fit_temperature's take a float64 step more: tau
    # differs by about 1e-8 (the Brent search both once used was exact to 1e-4 in log tau only).
    assert got == pytest.approx(_cnll_cv_reference(log_p, labels, n_splits, 3, seed=11), rel=1e-7)
    # Same seed, same folds, same value.
    assert m.cnll_cv(log_p, labels, n_splits, 3, rng=11) == got


def test_cnll_cv_on_overconfident_ensemble() -> None:
    rng = np.random.default_rng(10)
    logits, labels = _calibrated_logits(4000, 10, seed=12)
    # Five overconfident members: shared signal plus member noise, then too-large logits.
    members = _softmax(4.0 * (logits[None] + 0.7 * rng.normal(size=(5, *logits.shape))))
    log_pbar = m.ensemble_log_mean(np.log(members))
    ens_nll = m.nll(np.exp(log_pbar), labels)
    cv = m.cnll_cv(log_pbar, labels, rng=0)
    assert cv <= ens_nll + 0.01
    assert cv < ens_nll - 0.1  # clearly lower when overconfident
    assert m.cnll_oracle(log_pbar, labels) <= cv + 0.01

    # Calibrated predictions: CV may exceed the NLL only by fold noise.
    log_p = _log_softmax(logits)
    assert m.cnll_cv(log_p, labels, rng=1) <= m.nll(np.exp(log_p), labels) + 0.01


def test_cnll_cv_rejects_bad_arguments() -> None:
    log_p = np.log(np.full((3, 2), 0.5))
    labels = np.array([0, 1, 0])
    with pytest.raises(ValueError):
        m.cnll_cv(log_p, labels, n_splits=1)
    with pytest.raises(ValueError):
        m.cnll_cv(log_p, labels, n_splits=4)
    with pytest.raises(ValueError):
        m.cnll_cv(log_p, labels, n_runs=0)


def test_shape_checks() -> None:
    with pytest.raises(ValueError):
        m.nll(PROBS[0], LABELS[:1])
    with pytest.raises(ValueError):
        m.error(PROBS, LABELS[:3])
    with pytest.raises(ValueError):
        m.ensemble_log_mean(PROBS)
