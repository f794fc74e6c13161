"""Minimum width: Hutchinson Hessian trace (PyHessian rule) and true/empirical Fisher traces of cross-entropy."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from .errors import CancelledError, SpecError
from .nets import build_model
from .seeding import derive_seed
from .width import DEFAULT_MAX_ITER, DEFAULT_TOL, MIN_PROBES, TraceEstimate, WidthResult

if TYPE_CHECKING:
    from .spec import Spec

StopCheck = Callable[[], bool]

# PyHessian adds this to the previous mean so that a zero trace does not divide by zero.
REL_EPS = 1e-6
# Per-sample gradients hold batch x parameters values at once; this caps them at 128 MiB of float32.
PER_SAMPLE_VALUES = 2**25

FISHER_KINDS = ("true", "empirical")


def _estimate(samples: np.ndarray) -> TraceEstimate:
    k = samples.shape[0]
    stderr = float(samples.std(ddof=1) / math.sqrt(k)) if k >= 2 else float("nan")
    return TraceEstimate(mean=float(samples.mean()) if k else float("nan"), stderr=stderr, samples=k)


def _check_inputs(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(y) == 0 or len(x) != len(y):
        raise ValueError(f"x and y must hold the same non-zero number of objects, got {len(x)} and {len(y)}")


def _trainable(model: nn.Module) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the net has no trainable parameters")
    return params


def hessian_trace(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                  max_iter: int = DEFAULT_MAX_ITER, tol: float = DEFAULT_TOL,
                  generator: torch.Generator | None = None,
                  should_stop: StopCheck | None = None, min_iter: int = 1) -> TraceEstimate:
    """Hutchinson estimate of tr ∇²_θ mean CE over (x, y), trainable parameters only, net in eval mode.

    Every probe v is Rademacher over all trainable parameters; Hv comes from double back-propagation of the
    batch-mean CE, and batch HVPs are averaged weighted by batch size (PyHessian full-data mode). Sampling
    stops after max_iter probes or once |mean_k − mean_{k−1}| / (|mean_{k−1}| + 1e-6) < tol, tested from
    probe min_iter on (1 = PyHessian). generator (CPU) drives the probes; should_stop is checked between
    batches and raises CancelledError.
    """
    _check_inputs(x, y, batch_size)
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if min_iter < 1:
        raise ValueError(f"min_iter must be >= 1, got {min_iter}")
    stop = should_stop or (lambda: False)
    was_training = model.training
    model.eval()
    params = _trainable(model)
    device = params[0].device
    n = len(y)
    starts = list(range(0, n, batch_size))
    single = len(starts) == 1
    cached: list[torch.Tensor] | None = None
    samples: list[float] = []
    try:
        if single:
            # One batch: the gradient graph is the same for every probe, so build it once (PyHessian does too).
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            cached = list(torch.autograd.grad(loss, params, create_graph=True))
        previous = 0.0
        for _ in range(max_iter):
            # Drawn on the CPU so that one seeded generator gives the same probes on any device.
            v = [(torch.randint(0, 2, p.shape, generator=generator) * 2 - 1).to(device=device, dtype=p.dtype)
                 for p in params]
            if cached is not None:
                hv = torch.autograd.grad(cached, params, grad_outputs=v, retain_graph=True)
                total = [h.detach() for h in hv]
            else:
                total = [torch.zeros_like(p) for p in params]
                for start in starts:
                    if stop():
                        raise CancelledError("Hessian trace cancelled by the user")
                    xb = x[start:start + batch_size].to(device)
                    yb = y[start:start + batch_size].to(device)
                    loss = F.cross_entropy(model(xb), yb)
                    g = torch.autograd.grad(loss, params, create_graph=True)
                    hv = torch.autograd.grad(g, params, grad_outputs=v)
                    for acc, h in zip(total, hv):
                        acc.add_(h.detach(), alpha=len(yb) / n)
            if stop():
                raise CancelledError("Hessian trace cancelled by the user")
            samples.append(float(sum((h * vi).sum() for h, vi in zip(total, v))))
            mean = float(np.mean(samples))
            if len(samples) >= min_iter and abs(mean - previous) / (abs(previous) + REL_EPS) < tol:
                break
            previous = mean
    finally:
        model.train(was_training)
    return _estimate(np.asarray(samples, dtype=np.float64))


def per_sample_sq_grad_norms(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, batch_size: int,
                             should_stop: StopCheck | None = None) -> torch.Tensor:
    """‖∇_θ CE(f(x_i), t_i)‖² over trainable parameters for every object (N,), net in eval mode.

    Per-sample gradients come from torch.func vmap(grad); the norm of a batch-mean gradient is not this.
    """
    _check_inputs(x, targets, batch_size)
    stop = should_stop or (lambda: False)
    was_training = model.training
    model.eval()
    _trainable(model)
    device = next(model.parameters()).device
    # Frozen parameters are left out of the dict so functional_call takes them from the module as constants.
    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    buffers = {k: b.detach() for k, b in model.named_buffers()}

    def loss_one(p: dict[str, torch.Tensor], xi: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(out, ti.unsqueeze(0))

    per_sample = vmap(grad(loss_one), in_dims=(None, 0, 0))
    parts: list[torch.Tensor] = []
    try:
        for start in range(0, len(targets), batch_size):
            if stop():
                raise CancelledError("Fisher trace cancelled by the user")
            xb = x[start:start + batch_size].to(device)
            tb = targets[start:start + batch_size].to(device=device, dtype=torch.long)
            grads = per_sample(params, xb, tb)
            parts.append(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()).detach())
    finally:
        model.train(was_training)
    return torch.cat(parts)


@torch.no_grad()
def _sample_labels(model: nn.Module, x: torch.Tensor, batch_size: int,
                   generator: torch.Generator | None) -> torch.Tensor:
    """One label per object drawn from the net's softmax (eval mode), on the CPU for a reproducible generator."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts: list[torch.Tensor] = []
    try:
        for start in range(0, len(x), batch_size):
            probs = torch.softmax(model(x[start:start + batch_size].to(device)).double(), dim=1).cpu()
            parts.append(torch.multinomial(probs, 1, generator=generator).squeeze(1))
    finally:
        model.train(was_training)
    return torch.cat(parts)


def fisher_trace(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, kind: str = "true",
                 generator: torch.Generator | None = None,
                 should_stop: StopCheck | None = None) -> TraceEstimate:
    """tr F = (1/n) Σ_i ‖∇_θ log p_θ(ŷ_i|x_i)‖², net in eval mode; stderr is over objects.

    kind "true" draws one ŷ_i per object from the net's softmax (generator, CPU); "empirical" uses ŷ_i = y_i.
    """
    if kind not in FISHER_KINDS:
        raise ValueError(f"kind must be one of {FISHER_KINDS}, got {kind!r}")
    _check_inputs(x, y, batch_size)
    targets = _sample_labels(model, x, batch_size, generator) if kind == "true" else y
    norms = per_sample_sq_grad_norms(model, x, targets, batch_size, should_stop)
    return _estimate(norms.double().cpu().numpy())


def trained_net(spec: Spec, input_shape: tuple[int, ...], num_classes: int, state: Mapping[str, np.ndarray],
                device: torch.device) -> nn.Module:
    """The spec's net with stored weights; a frozen last layer stays out of the traces' parameters, as in training."""
    return build_model(spec, input_shape, num_classes, weights=state, trained=True).to(device)


def width_subset(x: torch.Tensor, y: torch.Tensor, objects: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed width subset: the first `objects` training objects (the training split is already shuffled)."""
    if objects < 1:
        raise SpecError(f"width objects = {objects} is invalid: must be an integer >= 1 (2000 is the usual choice)")
    n = min(int(objects), len(y))
    return x[:n], y[:n]


def measure_width(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                  probes: int = DEFAULT_MAX_ITER, tol: float = DEFAULT_TOL, seed: int = 0,
                  should_stop: StopCheck | None = None) -> WidthResult:
    """Hutchinson Hessian trace (MIN_PROBES to `probes` probes, PyHessian's stopping rule with `tol`), true Fisher trace
    (one sampled label per object) and empirical Fisher trace of mean CE over (x, y); seed drives the probes and
    the sampled labels. Raises CancelledError when should_stop turns true."""
    hessian = hessian_trace(model, x, y, batch_size, max_iter=probes, tol=tol,
                            generator=torch.Generator().manual_seed(derive_seed(seed, 0)), should_stop=should_stop,
                            min_iter=min(MIN_PROBES, probes))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    fisher_batch = max(1, min(batch_size, PER_SAMPLE_VALUES // max(trainable, 1)))
    true = fisher_trace(model, x, y, fisher_batch, kind="true",
                        generator=torch.Generator().manual_seed(derive_seed(seed, 1)), should_stop=should_stop)
    empirical = fisher_trace(model, x, y, fisher_batch, kind="empirical", should_stop=should_stop)
    return WidthResult(hessian, true, empirical, int(len(y)))
