"""Margins (raw, normalised, of a net, AUROC) and minimum-width traces against closed forms and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from ensgui.engine import metrics
from ensgui.engine.errors import CancelledError
from ensgui.engine.margins import logit_margins, margins_of_model, normalized_logit_margins
from ensgui.engine.metrics import misclassification_auroc_by_margin
from ensgui.engine.traces import fisher_trace, hessian_trace, per_sample_sq_grad_norms

D, C, N = 10, 5, 400


# ---------------------------------------------------------------- margins


def test_margin_positive_exactly_on_correct_objects():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1000, 7, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 7, (1000,), generator=gen)
    m = logit_margins(logits, labels)
    assert torch.equal(m > 0, logits.argmax(1) == labels)
    # Brute force: label logit minus the best other logit.
    for i in range(20):
        others = [logits[i, j] for j in range(7) if j != labels[i]]
        assert m[i].item() == pytest.approx((logits[i, labels[i]] - max(others)).item())


def test_ties_give_zero_margin_and_count_as_not_correct():
    gen = torch.Generator().manual_seed(1)
    # Small integer logits tie often; a tie with the label is neither a win nor a loss.
    logits = torch.randint(0, 3, (2000, 4), generator=gen).double()
    labels = torch.randint(0, 4, (2000,), generator=gen)
    m = logit_margins(logits, labels)
    label_logit = logits.gather(1, labels[:, None])
    strictly_best = ((logits < label_logit).sum(1) == 3)
    tied_best = (logits.max(1).values == label_logit.squeeze(1)) & ~strictly_best
    assert tied_best.any()
    assert torch.equal(m > 0, strictly_best)
    assert torch.all(m[tied_best] == 0)


def test_normalised_margins_are_bounded_by_sqrt2_and_reach_it():
    gen = torch.Generator().manual_seed(2)
    logits = 50.0 * torch.randn(3000, 10, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 10, (3000,), generator=gen)
    m = normalized_logit_margins(logits, labels)
    assert m.abs().max().item() <= math.sqrt(2) + 1e-12
    # The bound is attained with two classes by l = e_y − e_j.
    extreme = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    assert normalized_logit_margins(extreme, torch.tensor([0])).item() == pytest.approx(math.sqrt(2), rel=1e-6)
    # Zero logits do not divide by zero.
    assert normalized_logit_margins(torch.zeros(1, 3), torch.tensor([0])).item() == 0.0


def test_logitnorm_scaling_keeps_argmax_and_margin_sign():
    gen = torch.Generator().manual_seed(3)
    logits = 5.0 * torch.randn(500, 6, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 6, (500,), generator=gen)
    raw = logit_margins(logits, labels)
    for tau in (1.0, 0.1, 0.04, 0.01):
        scaled = logits / (tau * (logits.norm(dim=1, keepdim=True) + 1e-7))
        assert torch.equal(scaled.argmax(1), logits.argmax(1))
        assert torch.equal(logit_margins(scaled, labels) > 0, raw > 0)
    # Normalised margins do not see the radius: a positive rescale leaves them unchanged.
    assert torch.allclose(normalized_logit_margins(7.0 * logits, labels), normalized_logit_margins(logits, labels))


def test_margins_of_model_uses_eval_mode_and_restores_it():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(D, C), nn.Dropout(0.5)).double()
    x = torch.randn(70, D, dtype=torch.float64)
    y = torch.randint(0, C, (70,))
    net.train()
    expected = logit_margins(net[0](x), y).detach().numpy()
    got = margins_of_model(net, x, y, batch=16, normalized=False)
    assert got.dtype == np.float64 and got.shape == (70,)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    got_norm = margins_of_model(net, x, y, batch=16, normalized=True)
    np.testing.assert_allclose(got_norm, normalized_logit_margins(net[0](x), y).detach().numpy(), rtol=1e-12)
    assert net.training


def test_auroc_by_margin_matches_pairwise_count_and_metrics_auroc():
    rng = np.random.default_rng(5)
    margins = np.round(rng.normal(size=300), 1)  # rounded to create ties
    correct = margins + rng.normal(size=300) > 0
    pos, neg = margins[correct], margins[~correct]
    brute = (np.sum(pos[:, None] > neg[None, :]) + 0.5 * np.sum(pos[:, None] == neg[None, :])) / (len(pos) * len(neg))
    assert misclassification_auroc_by_margin(margins, correct) == pytest.approx(brute)
    assert misclassification_auroc_by_margin(np.array([1.0, 2.0, -1.0]), np.array([True, True, False])) == 1.0
    assert math.isnan(misclassification_auroc_by_margin(np.array([1.0, 2.0]), np.array([True, True])))
    # With max-probability as the score the twin reproduces metrics.auroc.
    probs = rng.dirichlet(np.ones(4), size=200)
    labels = rng.integers(0, 4, size=200)
    twin = misclassification_auroc_by_margin(probs.max(1), probs.argmax(1) == labels)
    assert twin == pytest.approx(metrics.auroc(probs, labels))


# ---------------------------------------------------------------- width


@pytest.fixture(scope="module")
def softmax_regression():
    """nn.Linear(d, C) with unsaturated probabilities, random x, uniform labels, and its closed-form trace."""
    torch.manual_seed(6)
    model = nn.Linear(D, C).double()
    x = torch.randn(N, D, dtype=torch.float64)
    y = torch.randint(0, C, (N,))
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1)
    assert p.max(1).values.mean() < 0.6  # far from saturation, so the trace is not tiny
    closed = ((1 - (p ** 2).sum(1)) * ((x ** 2).sum(1) + 1)).mean().item()
    return model, x, y, p, closed


def test_hutchinson_hessian_trace_matches_closed_form(softmax_regression):
    model, x, y, _, closed = softmax_regression
    est = hessian_trace(model, x, y, batch_size=N, generator=torch.Generator().manual_seed(0))
    assert 2 <= est.samples <= 100
    assert abs(est.mean - closed) < 3 * est.stderr
    full = hessian_trace(model, x, y, batch_size=N, tol=0.0, generator=torch.Generator().manual_seed(1))
    assert full.samples == 100
    assert abs(full.mean - closed) < 3 * full.stderr
    assert abs(full.mean - closed) < 0.05 * closed


def test_full_data_mode_weights_batches_by_size(softmax_regression):
    model, x, y, _, _ = softmax_regression
    # 400 = 128 + 128 + 128 + 16: unequal batches must give the same HVPs as one batch with the same probes.
    one = hessian_trace(model, x, y, batch_size=N, max_iter=8, tol=0.0, generator=torch.Generator().manual_seed(2))
    many = hessian_trace(model, x, y, batch_size=128, max_iter=8, tol=0.0, generator=torch.Generator().manual_seed(2))
    assert many.samples == one.samples == 8
    assert many.mean == pytest.approx(one.mean, rel=1e-10)
    assert many.stderr == pytest.approx(one.stderr, rel=1e-8)


def test_true_fisher_trace_matches_closed_form(softmax_regression):
    model, x, y, _, closed = softmax_regression
    est = fisher_trace(model, x, y, batch_size=128, kind="true", generator=torch.Generator().manual_seed(3))
    assert est.samples == N
    assert abs(est.mean - closed) < 3 * est.stderr
    assert abs(est.mean - closed) < 0.05 * closed


def test_empirical_fisher_differs_but_equals_brute_force_loop(softmax_regression):
    model, x, y, p, closed = softmax_regression
    est = fisher_trace(model, x, y, batch_size=128, kind="empirical")
    # For softmax regression the per-object gradient is (p − e_y) ⊗ (x, 1).
    onehot = torch.nn.functional.one_hot(y, C).double()
    exact = (((p - onehot) ** 2).sum(1) * ((x ** 2).sum(1) + 1)).mean().item()
    assert est.mean == pytest.approx(exact, rel=1e-10)
    # Uniform labels are not drawn from the model, so the empirical Fisher misses the Hessian trace.
    assert abs(est.mean - closed) > max(3 * est.stderr, 0.1 * closed)
    brute = []
    for i in range(N):
        loss = nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
        brute.append(sum(g.pow(2).sum() for g in torch.autograd.grad(loss, list(model.parameters()))).item())
    assert est.mean == pytest.approx(float(np.mean(brute)), rel=1e-10)
    assert est.stderr == pytest.approx(float(np.std(brute, ddof=1) / math.sqrt(N)), rel=1e-8)


def test_per_sample_grad_norms_equal_autograd_loop():
    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(D, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, C)).double()
    net[-1].weight.requires_grad_(False)  # a frozen last layer stays out of θ
    net.train()
    with torch.no_grad():
        net(torch.randn(64, D, dtype=torch.float64))  # non-trivial BatchNorm running statistics
    x = torch.randn(37, D, dtype=torch.float64)
    y = torch.randint(0, C, (37,))
    got = per_sample_sq_grad_norms(net, x, y, batch_size=10)
    assert net.training
    net.eval()
    trainable = [q for q in net.parameters() if q.requires_grad]
    for i in range(37):
        loss = nn.functional.cross_entropy(net(x[i:i + 1]), y[i:i + 1])
        expected = sum(g.pow(2).sum() for g in torch.autograd.grad(loss, trainable))
        assert got[i].item() == pytest.approx(expected.item(), rel=1e-10)
    # The batch-mean gradient's squared norm is a different (smaller) quantity.
    mean_grad = torch.autograd.grad(nn.functional.cross_entropy(net(x), y), trainable)
    assert sum(g.pow(2).sum() for g in mean_grad).item() < got.mean().item()


def test_traces_stop_when_asked(softmax_regression):
    model, x, y, _, _ = softmax_regression
    with pytest.raises(CancelledError):
        hessian_trace(model, x, y, batch_size=100, should_stop=lambda: True)
    with pytest.raises(CancelledError):
        fisher_trace(model, x, y, batch_size=100, should_stop=lambda: True)
    with pytest.raises(ValueError):
        fisher_trace(model, x, y, batch_size=100, kind="observed")


def test_hessian_trace_min_iter_keeps_sampling_past_an_early_stop():
    """With tol = inf PyHessian's rule stops after the first probe; min_iter holds it until that many probes."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    early = hessian_trace(model, x, y, batch_size=32, tol=float("inf"), generator=torch.Generator().manual_seed(1))
    held = hessian_trace(model, x, y, batch_size=32, tol=float("inf"), generator=torch.Generator().manual_seed(1),
                         min_iter=7)
    assert (early.samples, held.samples) == (1, 7)
    with pytest.raises(ValueError, match="min_iter"):
        hessian_trace(model, x, y, batch_size=32, min_iter=0)
