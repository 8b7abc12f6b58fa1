"""Model definitions: an MLP, a small CNN (2-D or 1-D), and ResNet-18 in its CIFAR form."""

from __future__ import annotations

import math

import torch
from torch import nn


def _scaled(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


class MLP(nn.Module):
    """Flatten, then ``depth`` hidden layers of ``256 * width`` units with ReLU."""

    def __init__(self, input_shape, num_classes: int, *, width: float = 1.0, depth: int = 2):
        super().__init__()
        d = math.prod(input_shape)
        h = _scaled(256, width)
        layers: list[nn.Module] = [nn.Flatten()]
        for _ in range(depth):
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    """Two conv-BN-ReLU-maxpool blocks (16 and 32 channels at width 1) and a 128-unit head.

    Works on images (N, C, H, W) with Conv2d and on sequences (N, C, L) with Conv1d.
    """

    def __init__(self, input_shape, num_classes: int, *, width: float = 1.0):
        super().__init__()
        c_in = input_shape[0]
        spatial = list(input_shape[1:])
        two_d = len(spatial) == 2
        conv, bn, pool = (
            (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if two_d else (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
        )
        c1, c2, h = _scaled(16, width), _scaled(32, width), _scaled(128, width)
        layers: list[nn.Module] = []
        for c_out in (c1, c2):
            layers += [conv(c_in, c_out, 3, padding=1, bias=False), bn(c_out), nn.ReLU()]
            if min(spatial) >= 2:
                layers.append(pool(2))
                spatial = [s // 2 for s in spatial]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(c2 * math.prod(spatial), h), nn.ReLU(), nn.Linear(h, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for small images: 3x3 stem, no max-pool, stages of 64/128/256/512 x width."""

    def __init__(self, input_shape, num_classes: int, *, width: float = 1.0):
        super().__init__()
        c = [_scaled(b, width) for b in (64, 128, 256, 512)]
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], c[0], 3, padding=1, bias=False), nn.BatchNorm2d(c[0]), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        c_in = c[0]
        for i, c_out in enumerate(c):
            for j in range(2):
                blocks.append(BasicBlock(c_in, c_out, 2 if (i > 0 and j == 0) else 1))
                c_in = c_out
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


class _Block1d(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.shortcut = (
            nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet1d(nn.Module):
    """A small 1-D ResNet for sequences (N, C, L) such as MNIST-1D: a 3-tap stem, three stages of one
    basic block each (16, 32, 64 channels at width 1; stride 1, 2, 2), global average pool, linear."""

    def __init__(self, input_shape, num_classes: int, *, width: float = 1.0):
        super().__init__()
        c = [_scaled(b, width) for b in (16, 32, 64)]
        self.stem = nn.Sequential(
            nn.Conv1d(input_shape[0], c[0], 3, padding=1, bias=False), nn.BatchNorm1d(c[0]), nn.ReLU()
        )
        self.layer1 = _Block1d(c[0], c[0], 1)
        self.layer2 = _Block1d(c[0], c[1], 2)
        self.layer3 = _Block1d(c[1], c[2], 2)
        self.fc = nn.Linear(c[2], num_classes)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(out.mean(dim=-1))
