"""Losses and errors along the straight line θ(λ) = (1 − λ) θ_a + λ θ_b between two stored weight sets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .bn_update import update_batchnorm
from .data import DataSplits
from .errors import CancelledError
from .interpolation import DEFAULT_TRAIN_OBJECTS, InterpolationResult, Progress, StopCheck, train_subset_size
from .nets import build_model, has_batchnorm

if TYPE_CHECKING:
    from .spec import Spec


def _interpolated_states(model: nn.Module, state_a: Mapping[str, np.ndarray], state_b: Mapping[str, np.ndarray],
                         device: torch.device) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]],
                                                        dict[str, torch.Tensor]]:
    """Split the state into (a, b) tensor pairs to mix and tensors taken from a as they are."""
    expected = set(model.state_dict())
    for name, state in (("a", state_a), ("b", state_b)):
        if set(state) != expected:
            missing = sorted(expected - set(state))[:3]
            extra = sorted(set(state) - expected)[:3]
            raise ValueError(f"state {name} does not fit the spec's model (missing {missing}, unexpected {extra})")
    mixed: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    fixed: dict[str, torch.Tensor] = {}
    for name in model.state_dict():
        a = torch.as_tensor(np.asarray(state_a[name])).to(device)
        b = torch.as_tensor(np.asarray(state_b[name])).to(device)
        if a.shape != b.shape:
            raise ValueError(f"{name} has shape {tuple(a.shape)} in a but {tuple(b.shape)} in b")
        # Counters such as BatchNorm's num_batches_tracked have no meaningful midpoint.
        if a.is_floating_point():
            mixed[name] = (a, b)
        else:
            fixed[name] = a
    return mixed, fixed


@torch.no_grad()
def evaluate_loss_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device,
                        should_stop: StopCheck) -> tuple[float, float]:
    """Mean cross-entropy and error rate of a net in eval mode (summed in float64)."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    wrong = torch.zeros((), dtype=torch.int64, device=device)
    for start in range(0, len(y), batch):
        if should_stop():
            raise CancelledError("interpolation cancelled by the user")
        xb = x[start:start + batch].to(device)
        yb = y[start:start + batch].to(device)
        logits = model(xb).double()
        total += F.cross_entropy(logits, yb, reduction="sum")
        wrong += (logits.argmax(-1) != yb).sum()
    n = max(len(y), 1)
    return float(total) / n, float(wrong) / n


def interpolate(spec: Spec, state_a: Mapping[str, np.ndarray], state_b: Mapping[str, np.ndarray],
                lambdas: Sequence[float] | np.ndarray, data: DataSplits, device: torch.device | str,
                progress: Progress | None = None, should_stop: StopCheck | None = None,
                train_objects: int = DEFAULT_TRAIN_OBJECTS) -> InterpolationResult:
    """Train loss, train error, test loss and test error of θ(λ) = (1 − λ) θ_a + λ θ_b at every λ.

    Floating-point parameters and buffers are mixed; integer buffers are taken from a. When the net has
    BatchNorm, its running statistics are recomputed at every λ (also at 0 and 1, so the curve is one
    consistent family) on the training objects the losses use. Those are the first train_objects of the
    training split, which load_splits already shuffled with the spec seed: a fixed random subset.
    progress(done, total) is called after every point; should_stop is checked between batches and
    raises CancelledError.
    """
    grid = np.asarray(lambdas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("lambdas must be a non-empty 1-D sequence")
    device = torch.device(device)
    stop = should_stop or (lambda: False)
    model = build_model(spec, data.input_shape, data.num_classes, trained=True).to(device)
    mixed, fixed = _interpolated_states(model, state_a, state_b, device)
    batchnorm = has_batchnorm(model)
    n_train = train_subset_size(data, train_objects)
    x_train, y_train = data.train_x[:n_train].to(device), data.train_y[:n_train].to(device)
    x_test, y_test = data.test_x.to(device), data.test_y.to(device)
    eval_batch = int(spec.evaluation["batch_size"])
    bn_batch = int(spec.budget["batch_size"])
    out = np.full((4, grid.size), np.nan)
    total = int(grid.size)
    if progress is not None:
        progress(0, total)
    for i, lam in enumerate(grid.tolist()):
        if stop():
            raise CancelledError("interpolation cancelled by the user")
        # (1 − λ) a + λ b rather than a + λ (b − a): λ = 0 and λ = 1 then give a and b bit for bit.
        state = {name: (1.0 - lam) * a + lam * b for name, (a, b) in mixed.items()}
        state.update(fixed)
        model.load_state_dict(state)
        if batchnorm:
            update_batchnorm(model, x_train, bn_batch)
        out[0, i], out[1, i] = evaluate_loss_error(model, x_train, y_train, eval_batch, device, stop)
        out[2, i], out[3, i] = evaluate_loss_error(model, x_test, y_test, eval_batch, device, stop)
        if progress is not None:
            progress(i + 1, total)
    return InterpolationResult(grid.copy(), out[0], out[1], out[2], out[3])


__all__ = ["evaluate_loss_error", "interpolate"]
