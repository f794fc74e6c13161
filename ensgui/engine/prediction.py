"""Forward passes that turn a trained net into class probabilities."""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def predict_probs(model: torch.nn.Module, x: torch.Tensor, batch: int) -> np.ndarray:
    """Softmax outputs of a model in eval mode, float32 (N, C)."""
    model.eval()
    out = [torch.softmax(model(x[i:i + batch]).double(), -1).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()
