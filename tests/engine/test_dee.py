"""Tests of ensgui.engine.dee: Deep Ensemble Equivalent on the monotone envelope of the reference."""

from __future__ import annotations

import numpy as np
import pytest

from ensgui.engine.dee import dee, dee_band, dee_from_cnll

# Calibrated log-likelihood of a deep ensemble at sizes 1..4 (higher is better).
REF_LL = np.array([-1.0, -0.8, -0.7, -0.65])


def test_reference_against_itself_is_identity() -> None:
    np.testing.assert_array_equal(dee(REF_LL, REF_LL), [1.0, 2.0, 3.0, 4.0])
    rng = np.random.default_rng(0)
    ll = np.cumsum(rng.uniform(0.001, 0.2, size=100)) - 3.0
    np.testing.assert_array_equal(dee(ll, ll), np.arange(1, 101, dtype=np.float64))
    cnll = -ll
    np.testing.assert_array_equal(dee_from_cnll(cnll, cnll), np.arange(1, 101, dtype=np.float64))
    np.testing.assert_array_equal(dee(cnll, cnll, higher_is_better=False), np.arange(1, 101, dtype=np.float64))


def test_interpolation_by_hand() -> None:
    # -0.75 lies halfway between sizes 2 (-0.8) and 3 (-0.7); -0.68 is 2/5 of the way from 3 to 4.
    np.testing.assert_allclose(dee(REF_LL, [-0.75, -0.68, -0.9]), [2.5, 3.4, 1.5], rtol=1e-12)
    # methods.md form: k + (v - CLL(k)) / (CLL(k) - CLL(k - 1)) with k the first size reaching v.
    v = -0.72
    assert dee(REF_LL, v) == pytest.approx(3 + (v - REF_LL[2]) / (REF_LL[2] - REF_LL[1]), rel=1e-12)


def test_at_least_one_and_capped_at_k() -> None:
    np.testing.assert_array_equal(dee(REF_LL, [-5.0, -1.0, -1.0 - 1e-9]), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(dee(REF_LL, [-0.6, 0.0, 10.0]), [4.0, 4.0, 4.0])
    rng = np.random.default_rng(1)
    values = rng.uniform(-1.5, -0.4, size=1000)
    out = dee(REF_LL, values)
    assert np.all(out >= 1.0) and np.all(out <= 4.0)
    # A better score never needs fewer members.
    order = np.argsort(values)
    assert np.all(np.diff(out[order]) >= 0)


def test_non_monotone_reference_uses_envelope() -> None:
    ref = np.array([-1.0, -0.7, -0.8, -0.6])  # a noisy dip at size 3
    # The envelope is [-1.0, -0.7, -0.7, -0.6].
    np.testing.assert_allclose(
        dee(ref, [-0.75, -0.7, -0.65, -0.8]), [1 + 0.25 / 0.3, 2.0, 3.5, 1 + 0.2 / 0.3], rtol=1e-12
    )
    # Each value is searched on its own, so a non-monotone method curve is fine too.
    values = np.array([-0.65, -0.9, -0.65, -0.75])
    np.testing.assert_allclose(dee(ref, values), [3.5, 1 + 0.1 / 0.3, 3.5, 1 + 0.25 / 0.3], rtol=1e-12)
    # A flat stretch of the envelope gives its first size.
    assert dee(np.array([-1.0, -0.5, -0.5, -0.5]), -0.5) == 2.0


def test_lower_is_better_flips_the_comparison() -> None:
    brier_ref = np.array([0.30, 0.25, 0.22, 0.21])
    values = np.array([0.35, 0.275, 0.215, 0.2])
    np.testing.assert_allclose(dee(brier_ref, values, higher_is_better=False), [1.0, 1.5, 3.5, 4.0], rtol=1e-12)
    np.testing.assert_array_equal(dee(brier_ref, values, higher_is_better=False), dee(-brier_ref, -values))
    np.testing.assert_array_equal(dee_from_cnll(-REF_LL, [0.75, 0.68]), dee(REF_LL, [-0.75, -0.68]))


def test_shapes_nan_and_single_reference() -> None:
    assert dee(REF_LL, -0.75).shape == ()
    assert dee(REF_LL, np.full((2, 3), -0.75)).shape == (2, 3)
    out = dee(REF_LL, [np.nan, -0.75])
    assert np.isnan(out[0]) and out[1] == 2.5
    np.testing.assert_array_equal(dee(np.array([-1.0]), [-2.0, -1.0, 0.0]), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        dee(np.array([-1.0, np.nan]), [-1.0])
    with pytest.raises(ValueError):
        dee(np.zeros((2, 2)), [-1.0])
    with pytest.raises(ValueError):
        dee(np.array([]), [-1.0])


def test_band() -> None:
    std = np.array([0.05, 0.05, 0.05, 0.05])
    values = [-0.76, -0.68]
    low, high = dee_band(REF_LL, std, values)
    # Reference shifted up, [-0.95, -0.75, -0.65, -0.6]: 1 + 0.19 / 0.2 and 2 + 0.07 / 0.1.
    np.testing.assert_allclose(low, [1.95, 2.7], rtol=1e-12)
    # Shifted down, [-1.05, -0.85, -0.75, -0.7]: 2 + 0.09 / 0.1, and -0.68 is beyond K.
    np.testing.assert_allclose(high, [2.9, 4.0], rtol=1e-12)
    mid = dee(REF_LL, values)
    np.testing.assert_allclose(mid, [2.4, 3.4], rtol=1e-12)
    assert np.all(low <= mid) and np.all(mid <= high)
    for a in dee_band(REF_LL, np.zeros(4), values):
        np.testing.assert_array_equal(a, mid)
    # Lower-is-better: the better reference is mean - std.
    low_l, high_l = dee_band(-REF_LL, std, [0.76, 0.68], higher_is_better=False)
    np.testing.assert_allclose(low_l, low, rtol=1e-12)
    np.testing.assert_allclose(high_l, high, rtol=1e-12)
    with pytest.raises(ValueError):
        dee_band(REF_LL, -std, values)
    with pytest.raises(ValueError):
        dee_band(REF_LL, std[:2], values)


def test_dee_limits_mark_values_beyond_the_reference_and_below_one_member() -> None:
    from ensgui.engine.dee import dee_cnll_limits, dee_from_cnll, dee_text

    reference = np.array([0.40, 0.35, 0.33, 0.32])  # CNLL of a deep ensemble of 4, lower is better
    method = np.array([0.45, 0.40, 0.34, 0.31])
    values = dee_from_cnll(reference, method)
    limits = dee_cnll_limits(reference, method)
    assert limits.tolist() == [-1, 0, 0, 1]
    # The value is clamped where it is only a bound; the text says so.
    assert [dee_text(v, int(b), 4) for v, b in zip(values, limits)] == ["< 1", "1.000", "2.500", "≥ 4"]
    # Exactly the whole reference's score is DEE = K, not a bound.
    assert dee_cnll_limits(reference, np.array([0.32, 0.40])).tolist() == [0, 0]
