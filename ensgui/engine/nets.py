"""The spec's net, built in one place, and what the engine asks of a net: BatchNorm, its last layer, its weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch
from torch import nn

from .errors import SpecError
from .models import MODELS
from .seeding import INIT, derive_seed

if TYPE_CHECKING:
    from .spec import Spec


def build_model(spec: Spec, input_shape: tuple[int, ...], num_classes: int, member: int = 0,
                weights: Mapping[str, np.ndarray] | None = None, trained: bool = False) -> nn.Module:
    """The spec's net for one member, with the spec's last-layer option applied; on the CPU.

    Its initialisation depends only on the spec seed and the member, and never shifts the caller's random
    stream. weights replace that initialisation. A frozen last layer is rescaled to loss.last_layer_norm when
    training starts from these weights; trained = True marks weights that finished training under that
    option, so their rows are kept as they are and only their gradients are switched off.
    """
    factory = MODELS.get(spec.model.name).factory
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(spec.seed, member, INIT))
        model = factory(spec.model.params, input_shape, num_classes)
    if weights is not None:
        load_state(model, weights)
    loss = spec.loss.params
    if loss.get("freeze_last_layer", False):
        freeze_last_layer(model, 0.0 if trained else float(loss.get("last_layer_norm", 0.0)))
    return model


def load_state(model: nn.Module, state: Mapping[str, np.ndarray]) -> nn.Module:
    """Copy a stored member state (numpy arrays by parameter name) into a module."""
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return model


def has_batchnorm(model: nn.Module) -> bool:
    """BatchNorm keeps running statistics that torch.func.vmap cannot update in place."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier: the last nn.Linear in module order."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise SpecError("loss.freeze_last_layer = true needs a model with a linear last layer")
    return linears[-1]


@torch.no_grad()
def freeze_last_layer(model: nn.Module, row_norm: float) -> nn.Linear:
    """Stop training the last linear layer; row_norm > 0 first rescales each weight row to that L2 norm."""
    layer = last_linear(model)
    if row_norm > 0:
        norms = layer.weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
        layer.weight.mul_(row_norm / norms)
    for parameter in layer.parameters():
        parameter.requires_grad_(False)
    return layer
