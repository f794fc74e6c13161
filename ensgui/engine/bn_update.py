"""BatchNorm statistics recomputed for fixed weights: one pass over the training data (methods.md section 3)."""

from __future__ import annotations

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers that keep running statistics."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def update_batchnorm(model: nn.Module, x_train: torch.Tensor, batch_size: int) -> bool:
    """Reset every BatchNorm's running statistics and recompute them as a cumulative average over x_train.

    Weights sampled around SWA never met the running statistics stored with a snapshot, so they are
    recomputed (SWAG-code swag/utils.py bn_update). Before each batch of size b the momentum is set to
    b / (n + b), n being the objects seen so far, which makes the running values the size-weighted average
    of the batch statistics. The model ends in eval mode with its original momenta. Returns False, and
    leaves the model untouched, when it has no BatchNorm.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return False
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()  # running_mean 0, running_var 1, num_batches_tracked 0
    model.train()
    seen = 0
    try:
        for start in range(0, len(x_train), batch_size):
            batch = x_train[start:start + batch_size]
            momentum = len(batch) / (seen + len(batch))
            for layer in layers:
                layer.momentum = momentum
            model(batch)
            seen += len(batch)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        model.eval()
    return True
