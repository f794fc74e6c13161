"""Network architectures: LeNet-300-100, LeNet-5-Caffe and a CIFAR-style ResNet-20."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn

from .registry import Registry
from .schema import Param

ModelFactory = Callable[[Mapping[str, Any], tuple[int, ...], int], nn.Module]
MODELS: Registry[ModelFactory] = Registry("model")

_DROPOUT = Param("dropout", float, 0.0, "dropout rate before each fully connected layer", minimum=0.0, maximum=0.95)


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


def has_batchnorm(model: nn.Module) -> bool:
    """BatchNorm keeps running statistics that torch.func.vmap cannot update in place."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@MODELS.register("lenet300_100", (_DROPOUT,), title="LeNet-300-100 (MLP)", help="784-300-100-10 fully connected net.")
def lenet300_100(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    p = params["dropout"]
    size = 1
    for d in input_shape:
        size *= d
    return nn.Sequential(
        nn.Flatten(),
        _dropout(p), nn.Linear(size, 300), nn.ReLU(),
        _dropout(p), nn.Linear(300, 100), nn.ReLU(),
        _dropout(p), nn.Linear(100, num_classes),
    )


@MODELS.register(
    "lenet5_caffe",
    (_DROPOUT,),
    title="LeNet-5-Caffe (20-50-500)",
    help="conv 20 5x5, pool, conv 50 5x5, pool, fc 500, fc classes (about 431k parameters on 28x28).",
)
def lenet5_caffe(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    channels, height, width = input_shape
    def after_convs(size: int) -> int:
        return ((size - 4) // 2 - 4) // 2

    flat = 50 * after_convs(height) * after_convs(width)
    p = params["dropout"]
    return nn.Sequential(
        nn.Conv2d(channels, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        _dropout(p), nn.Linear(flat, 500), nn.ReLU(),
        _dropout(p), nn.Linear(500, num_classes),
    )


class _BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """He et al.'s CIFAR ResNet with three stages of 3 basic blocks (16, 32, 64 channels)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks: list[nn.Module] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(_BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), _dropout(dropout), nn.Linear(64, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


@MODELS.register("resnet20", (_DROPOUT,), title="ResNet-20 (CIFAR-style)", help="3x3 basic blocks, 16-32-64 channels, BatchNorm.")
def resnet20(params: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return ResNet20(input_shape[0], num_classes, params["dropout"])
