"""Network architectures as torch modules; the model registry (engine.models) names them and holds their schemas."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


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


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


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


def lenet300_100(dropout: float, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    size = int(np.prod(input_shape))
    return nn.Sequential(
        nn.Flatten(),
        _dropout(dropout), nn.Linear(size, 300), nn.ReLU(),
        _dropout(dropout), nn.Linear(300, 100), nn.ReLU(),
        _dropout(dropout), nn.Linear(100, num_classes),
    )


def lenet5_caffe(dropout: float, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    channels, height, width = input_shape

    def after_convs(size: int) -> int:
        return ((size - 4) // 2 - 4) // 2

    flat = 50 * after_convs(height) * after_convs(width)
    return nn.Sequential(
        nn.Conv2d(channels, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        _dropout(dropout), nn.Linear(flat, 500), nn.ReLU(),
        _dropout(dropout), nn.Linear(500, num_classes),
    )
