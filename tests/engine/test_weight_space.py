"""Tests of ensgui.engine.weight_space: parameter distances on constructed states and prediction disagreement."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ensgui.engine.weight_space import (disagreement, distances_from_first, flatten_parameters, is_parameter,
                                        pairwise_distances, parameter_names)


def _state(w: list[list[float]], b: list[float], running: float = 0.0, batches: int = 0) -> dict[str, np.ndarray]:
    return {
        "fc.weight": np.asarray(w, dtype=np.float32),
        "fc.bias": np.asarray(b, dtype=np.float32),
        "bn.weight": np.ones(2, dtype=np.float32),
        "bn.bias": np.zeros(2, dtype=np.float32),
        "bn.running_mean": np.full(2, running, dtype=np.float32),
        "bn.running_var": np.full(2, 1.0 + running, dtype=np.float32),
        "bn.num_batches_tracked": np.asarray(batches, dtype=np.int64),
    }


def test_parameters_skip_bn_running_stats_and_integer_buffers() -> None:
    state = _state([[1, 2]], [3])
    assert parameter_names(state) == ["bn.bias", "bn.weight", "fc.bias", "fc.weight"]
    assert not is_parameter("layer.running_mean", np.zeros(2))
    assert not is_parameter("steps", np.zeros(2, dtype=np.int32))
    assert is_parameter("layer.weight", np.zeros(2, dtype=np.float16))
    np.testing.assert_array_equal(flatten_parameters(state), [0, 0, 1, 1, 3, 1, 2])


def test_distances_from_first_by_hand() -> None:
    a = _state([[0, 0]], [0])
    b = _state([[3, 0]], [4], running=100.0, batches=500)  # distance 5; the BN buffers moved a lot
    c = _state([[1, 2]], [2], running=-7.0, batches=9)  # distance sqrt(1 + 4 + 4) = 3
    np.testing.assert_allclose(distances_from_first([a, b, c]), [0.0, 5.0, 3.0], rtol=1e-12)
    # Generators work too: the view streams snapshots from the file.
    np.testing.assert_allclose(distances_from_first(s for s in [a, b, c]), [0.0, 5.0, 3.0], rtol=1e-12)
    assert distances_from_first([]).shape == (0,)


def test_pairwise_distances_by_hand() -> None:
    a, b, c = _state([[0, 0]], [0]), _state([[3, 0]], [4]), _state([[1, 2]], [2])
    d = pairwise_distances([a, b, c])
    # |b - c| = |(2, -2, 2)| = sqrt(12).
    expected = np.array([[0, 5, 3], [5, 0, math.sqrt(12)], [3, math.sqrt(12), 0]])
    np.testing.assert_allclose(d, expected, rtol=1e-12)
    assert np.array_equal(d, d.T)
    np.testing.assert_allclose(d[0], distances_from_first([a, b, c]), rtol=1e-12)


def test_distances_of_different_models_are_refused() -> None:
    a = _state([[0, 0]], [0])
    other = {"fc.weight": np.zeros((1, 3), np.float32), **{k: v for k, v in a.items() if k != "fc.weight"}}
    with pytest.raises(ValueError, match="different models"):
        distances_from_first([a, other])
    with pytest.raises(ValueError, match="no parameter"):
        distances_from_first([a, {"x.weight": np.zeros(1, np.float32)}])


def test_disagreement_by_hand() -> None:
    # Arg-max classes per row: [0, 1, 2, 0], [0, 1, 1, 1], [2, 1, 2, 0].
    labels = np.array([[0, 1, 2, 0], [0, 1, 1, 1], [2, 1, 2, 0]])
    probs = np.full((3, 4, 3), 0.1, dtype=np.float32)
    for k in range(3):
        probs[k, np.arange(4), labels[k]] = 0.8
    expected = np.array([[0, 0.5, 0.25], [0.5, 0, 0.75], [0.25, 0.75, 0]])
    np.testing.assert_array_equal(disagreement(probs), expected)


def test_disagreement_is_symmetric_with_zero_diagonal_and_matches_a_loop() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5), size=(7, 200)).astype(np.float32)
    d = disagreement(probs)
    assert d.shape == (7, 7)
    assert np.array_equal(d, d.T)
    assert np.all(np.diag(d) == 0)
    brute = np.zeros((7, 7))
    for i in range(7):
        for j in range(7):
            brute[i, j] = sum(int(np.argmax(probs[i, n]) != np.argmax(probs[j, n])) for n in range(200)) / 200
    np.testing.assert_array_equal(d, brute)
    assert disagreement(np.zeros((2, 0, 3))).shape == (2, 2)
    with pytest.raises(ValueError, match=r"\(K, N, C\)"):
        disagreement(np.zeros((2, 3)))
