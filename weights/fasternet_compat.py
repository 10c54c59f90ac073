"""Unpickling support for the fire/smoke model of `fire-detector==1.0.3` (manifest `fire-smoke-yolov8`).

Its `.pt` is a whole pickled ultralytics model in which three custom layers were defined in the training
script, so the pickle looks them up as `__main__.PartialConv2d`, `__main__.FasterNetBlock` and
`__main__.FasterNetC2f`. Unpickling restores each module's attributes (sub-layers, flags) from the file
without calling `__init__`, so these classes only need to exist under those names and compute the forward
pass from the restored attributes. The computation is the FasterNet one (Chen et al., CVPR 2023, "Run,
Don't Walk"): a partial 3×3 convolution over the first channels, then an inverted 1×1 bottleneck with a
residual connection.
"""

from __future__ import annotations

import sys

import torch
from torch import nn


class PartialConv2d(nn.Module):
    """3×3 conv + BN + ReLU on the first `partial_channels` channels; the others pass through untouched."""

    partial_channels: int
    conv: nn.Conv2d
    bn: nn.BatchNorm2d
    activation: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, tail = x.split([self.partial_channels, x.shape[1] - self.partial_channels], dim=1)
        return torch.cat([self.activation(self.bn(self.conv(head.contiguous()))), tail], dim=1)


class FasterNetBlock(nn.Module):
    """Partial conv, 1×1 expand (BN, ReLU), 1×1 project (BN), plus the input (projected if widths differ)."""

    pconv: PartialConv2d
    pwconv1: nn.Conv2d
    bn1: nn.BatchNorm2d
    act1: nn.Module
    pwconv2: nn.Conv2d
    bn2: nn.BatchNorm2d
    use_shortcut: bool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.pwconv1(self.pconv(x))))
        y = self.bn2(self.pwconv2(y))
        skip = x if self.use_shortcut else self.shortcut_bn(self.shortcut(x))
        return y + skip


class FasterNetC2f(nn.Module):
    """Stand-in for ultralytics' C2f: optional 1×1 width transition, then a stack of FasterNet blocks."""

    transition: nn.Module | None
    blocks: nn.ModuleList

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transition is not None:
            x = self.transition(x)
        for block in self.blocks:
            x = block(x)
        return x


PICKLED_NAMES = {
    "PartialConv2d": PartialConv2d,
    "FasterNetBlock": FasterNetBlock,
    "FasterNetC2f": FasterNetC2f,
}


def register_in_main() -> None:
    """Make the classes findable where the pickle expects them; names `__main__` already defines are kept."""
    main = sys.modules["__main__"]
    for name, cls in PICKLED_NAMES.items():
        if not hasattr(main, name):
            setattr(main, name, cls)
