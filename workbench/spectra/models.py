"""Image classifiers for the spectra studies, behind one registry: ``build_model(name, in_shape, classes, bn)``.

All take ``(N, C, H, W)`` float inputs and return ``(N, classes)`` logits. VGG needs H, W divisible by 32
(CIFAR's 32x32); the MLP, small CNN and WideResNet take any size (adaptive pooling).
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

_VGG = {"vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
        "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]}


def _norm(ch: int, bn: bool) -> nn.Module:
    return nn.BatchNorm2d(ch) if bn else nn.Identity()


@MODELS.register("mlp")
def mlp(in_shape: tuple[int, int, int], classes: int, bn: bool = False, width: int = 32, depth: int = 2) -> nn.Module:
    """``depth`` hidden layers of ``width`` units, tanh (smooth, so the Hessian is well defined everywhere)."""
    c, h, w = in_shape
    layers: list[nn.Module] = [nn.Flatten()]
    d = c * h * w
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.BatchNorm1d(width) if bn else nn.Identity(), nn.Tanh()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, classes))


@MODELS.register("small_cnn")
def small_cnn(in_shape: tuple[int, int, int], classes: int, bn: bool = False, width: int = 8) -> nn.Module:
    """Two 3x3 conv blocks (``width``, ``2*width`` channels), one 2x2 max-pool, global average pool, linear."""
    c = in_shape[0]
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1), _norm(width, bn), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), _norm(2 * width, bn), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))


def _vgg(cfg: list, in_shape: tuple[int, int, int], classes: int, bn: bool, width: int = 64) -> nn.Module:
    if in_shape[1] % 32 or in_shape[2] % 32:
        raise ValueError(f"VGG needs inputs whose sides divide by 32 (e.g. CIFAR 32x32), got {in_shape}")
    layers, c = [], in_shape[0]
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            out = v * width // 64
            layers += [nn.Conv2d(c, out, 3, padding=1), _norm(out, bn), nn.ReLU(inplace=True)]
            c = out
    return _init(nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)))


def _init(model: nn.Module) -> nn.Module:
    """torchvision's VGG/ResNet initialisation: without it a VGG without BN barely trains from PyTorch defaults."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    return model


@MODELS.register("vgg11")
def vgg11(in_shape, classes, bn=False, width=64):
    """VGG-11 for 32x32 (CIFAR variant: one linear classifier); ``width`` scales the channels (64 = standard)."""
    return _vgg(_VGG["vgg11"], in_shape, classes, bn, width)


@MODELS.register("vgg16")
def vgg16(in_shape, classes, bn=False, width=64):
    """VGG-16 for 32x32 (CIFAR variant)."""
    return _vgg(_VGG["vgg16"], in_shape, classes, bn, width)


class _WideBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, bn: bool):
        super().__init__()
        self.bn1, self.conv1 = _norm(cin, bn), nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn)
        self.bn2, self.conv2 = _norm(cout, bn), nn.Conv2d(cout, cout, 3, 1, 1, bias=not bn)
        self.short = None if cin == cout and stride == 1 else nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.act = nn.ReLU()

    def forward(self, x):
        o = self.act(self.bn1(x))
        y = self.conv2(self.act(self.bn2(self.conv1(o))))
        return y + (x if self.short is None else self.short(o))


@MODELS.register("wrn")
def wide_resnet(in_shape, classes, bn=True, depth: int = 16, widen: int = 4) -> nn.Module:
    """WideResNet-``depth``-``widen`` (pre-activation; WRN-16-4 by default, 2.7M parameters)."""
    if (depth - 4) % 6:
        raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
    n, widths = (depth - 4) // 6, [16, 16 * widen, 32 * widen, 64 * widen]
    layers: list[nn.Module] = [nn.Conv2d(in_shape[0], widths[0], 3, 1, 1, bias=not bn)]
    for stage in range(3):
        for i in range(n):
            cin = widths[stage] if i == 0 else widths[stage + 1]
            layers.append(_WideBlock(cin, widths[stage + 1], (1 if stage == 0 else 2) if i == 0 else 1, bn))
    layers += [_norm(widths[3], bn), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(widths[3], classes)]
    return _init(nn.Sequential(*layers))


def build_model(name: str, in_shape: tuple[int, int, int], classes: int, bn: bool = False, **kw) -> nn.Module:
    """The registered model ``name`` (one of ``MODELS.names()``)."""
    return MODELS.get(name)(tuple(in_shape), classes, bn=bn, **kw)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
