"""The reliability diagram's legend goes to the corner where it hides the fewest bars."""

from __future__ import annotations

import numpy as np

from ensgui.engine.metrics import reliability
from ensgui.views.calibration_plot import legend_corner


def diagram_of(confidence: float, accuracy: float, n: int = 2000, classes: int = 10):
    """Objects predicted with the given max probability, of which the given fraction is right."""
    rng = np.random.default_rng(0)
    rest = (1.0 - confidence) / (classes - 1)
    probs = np.full((n, classes), rest)
    probs[:, 0] = confidence
    labels = np.where(rng.random(n) < accuracy, 0, 1 + rng.integers(0, classes - 1, n))
    return reliability(probs, labels, 15)


def test_an_overconfident_net_leaves_the_top_left_free():
    assert legend_corner(diagram_of(confidence=0.95, accuracy=0.7)) == "top_left"


def test_an_underconfident_net_at_low_confidence_leaves_the_bottom_right_free():
    assert legend_corner(diagram_of(confidence=0.3, accuracy=0.95)) == "bottom_right"


def test_an_empty_diagram_keeps_the_top_left():
    empty = diagram_of(confidence=0.5, accuracy=0.5, n=0)
    assert legend_corner(empty) == "top_left"


def test_an_underconfident_net_at_high_confidence_leaves_the_top_left_free():
    # Accuracy above confidence, but every bar stands at the right: the bottom right is full.
    assert legend_corner(diagram_of(confidence=0.8, accuracy=0.99)) == "top_left"
