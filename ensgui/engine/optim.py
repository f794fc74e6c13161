"""Optimisers: element-wise torch optimisers, so one instance can drive a stack of members exactly.

torch is imported when an optimiser is built: validating a spec needs only the schemas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .registry import Registry
from .schema import Param

if TYPE_CHECKING:
    import torch

OptimizerFactory = Callable[[Mapping[str, Any], Iterable["torch.Tensor"]], "torch.optim.Optimizer"]
OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")

_LR = Param("lr", float, 0.05, "initial learning rate (the schedule scales it)", minimum=0.0, maximum=10.0,
            exclusive_minimum=True, label="learning rate", log_scale=True)
_WD = Param("weight_decay", float, 5e-4, "L2 penalty coefficient", minimum=0.0, maximum=1.0, label="weight decay",
            log_scale=True)


@OPTIMIZERS.register(
    "sgd",
    (
        _LR,
        Param("momentum", float, 0.9, "heavy-ball momentum", minimum=0.0, maximum=0.999),
        _WD,
        Param("nesterov", bool, False, "use Nesterov momentum"),
    ),
    title="SGD",
    help="Stochastic gradient descent with momentum and weight decay.",
)
def sgd(params: Mapping[str, Any], tensors: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    return _element_wise("SGD", params, tensors, momentum=params["momentum"],
                         nesterov=params["nesterov"] and params["momentum"] > 0)


@OPTIMIZERS.register(
    "adam",
    (
        Param("lr", float, 1e-3, "initial learning rate (the schedule scales it)", minimum=0.0, maximum=10.0,
              exclusive_minimum=True, label="learning rate", log_scale=True),
        Param("beta1", float, 0.9, "first-moment decay", minimum=0.0, maximum=0.9999),
        Param("beta2", float, 0.999, "second-moment decay", minimum=0.0, maximum=0.99999),
        Param("weight_decay", float, 0.0, "L2 penalty coefficient", minimum=0.0, maximum=1.0, label="weight decay",
              log_scale=True),
    ),
    title="Adam",
    help="Adam with L2 weight decay.",
)
def adam(params: Mapping[str, Any], tensors: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    return _element_wise("Adam", params, tensors, betas=(params["beta1"], params["beta2"]))


def _element_wise(name: str, params: Mapping[str, Any], tensors: Iterable[torch.Tensor],
                  **specific: Any) -> torch.optim.Optimizer:
    """torch.optim.<name> with the spec's rate and weight decay, one tensor at a time."""
    import torch

    # foreach=False: the per-tensor path keeps stacked and single members bit-for-bit comparable.
    return getattr(torch.optim, name)(tensors, lr=params["lr"], weight_decay=params["weight_decay"], foreach=False,
                                      **specific)
