"""Logit margins (raw and normalised), margins of a net on a data set, and misclassification AUROC by margin."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# LogitNorm-code adds this to the norm so that an all-zero logit vector does not divide by zero.
NORM_EPS = 1e-7


def logit_margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """m_i = l_{y_i} − max_{j≠y_i} l_j for logits (N, C) and labels (N,); > 0 iff strictly correct."""
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    if logits.shape[1] < 2:
        raise ValueError("margins need at least two classes")
    labels = labels.to(device=logits.device, dtype=torch.long)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    true = logits.gather(1, labels[:, None]).squeeze(1)
    # Masking the label's own entry with -inf leaves the best competitor; a tie with it gives margin 0.
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return true - others.max(dim=1).values


def normalized_logit_margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Margins of l/(‖l‖₂ + 1e-7); bounded by √2 because the logits lie on the unit sphere."""
    norm = logits.norm(p=2, dim=1, keepdim=True) + NORM_EPS
    return logit_margins(logits / norm, labels)


@torch.no_grad()
def margins_of_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int,
                     normalized: bool = False) -> np.ndarray:
    """Margins of every object under the net in eval mode, float64 (N,); the net's mode is restored."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    margin_fn = normalized_logit_margins if normalized else logit_margins
    parts: list[np.ndarray] = []
    try:
        for start in range(0, len(y), batch):
            logits = model(x[start:start + batch].to(device)).double()
            parts.append(margin_fn(logits, y[start:start + batch].to(device)).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)
