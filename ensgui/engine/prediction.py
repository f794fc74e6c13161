"""Forward passes that turn trained nets into logits and class probabilities, and what a method's prediction gives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class Predictions:
    """A method's predictions on each input set: probabilities (rows, N, C) float32 per set, and, when every row
    is one stored net run deterministically, those nets' logits (rows, N, C) float32 per set, so that margins
    reuse them instead of running the nets again. Sampling methods (SWAG, MC dropout) leave row_logits None."""

    probs: list[np.ndarray]
    row_logits: list[np.ndarray] | None = None


@torch.no_grad()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    """Logits of a model in eval mode, float32 (N, C) on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)])


def softmax_probs(logits: torch.Tensor) -> np.ndarray:
    """Softmax over the last axis computed in float64, returned as float32 (the precision the run file stores)."""
    return torch.softmax(logits.double(), -1).float().numpy()


def predict_probs(model: torch.nn.Module, x: torch.Tensor, batch: int) -> np.ndarray:
    """Softmax outputs of a model in eval mode, float32 (N, C)."""
    return softmax_probs(predict_logits(model, x, batch))
