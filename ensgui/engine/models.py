"""The model registry: LeNet-300-100, LeNet-5-Caffe and a CIFAR-style ResNet-20, each with its parameter schema.

The factories build their nets from engine.architectures, imported when a net is first built: validating a spec and
drawing the setup forms need no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from .registry import Registry
from .schema import Param

if TYPE_CHECKING:
    from torch import nn

ModelFactory = Callable[[Mapping[str, Any], tuple[int, ...], int], "nn.Module"]
MODELS: Registry[ModelFactory] = Registry("model")

_DROPOUT = Param("dropout", float, 0.0, "dropout rate before each fully connected layer", minimum=0.0, maximum=0.95)
BATCHNORM = "batchnorm"  # trait of models with BatchNorm layers (statistics recomputed, no vmap)


@MODELS.register("lenet300_100", (_DROPOUT,), title="LeNet-300-100 (MLP)", help="784-300-100-10 fully connected net.")
def lenet300_100(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from . import architectures

    return architectures.lenet300_100(params["dropout"], input_shape, num_classes)


@MODELS.register(
    "lenet5_caffe",
    (_DROPOUT,),
    title="LeNet-5-Caffe (20-50-500)",
    help="conv 20 5x5, pool, conv 50 5x5, pool, fc 500, fc classes (about 431k parameters on 28x28).",
)
def lenet5_caffe(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from . import architectures

    return architectures.lenet5_caffe(params["dropout"], input_shape, num_classes)


@MODELS.register("resnet20", (_DROPOUT,), title="ResNet-20 (CIFAR-style)",
                 help="3x3 basic blocks, 16-32-64 channels, BatchNorm.", traits=(BATCHNORM,))
def resnet20(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from . import architectures

    return architectures.ResNet20(input_shape[0], num_classes, params["dropout"])


def has_batchnorm_trait(model_name: str) -> bool:
    """Whether a registered model has BatchNorm, known without building it."""
    return BATCHNORM in MODELS.get(model_name).traits
