"""Networks: a small CNN for CPU search, the CIFAR ResNet-32, and any torchvision model."""

from __future__ import annotations

from functools import cache

import torch
from torch import Tensor, nn

from tricks.config import ConfigError, ModelConfig, is_weights_name

__all__ = [
    "ResNet32",
    "SmallCNN",
    "build_model",
    "memory_format_for",
    "model_from_config",
    "model_names",
]


class SmallCNN(nn.Module):
    """Three conv blocks and a linear head; an epoch of Fashion-MNIST-LT takes seconds on a CPU."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(
            block(in_channels, width), block(width, 2 * width), block(2 * width, 4 * width)
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet32(nn.Module):
    """The CIFAR ResNet-32 (3 stages of 5 basic blocks, 16/32/64 channels).

    From He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016),
    https://arxiv.org/abs/1512.03385, as used by the long-tail literature
    (Cui et al. 2019; Cao et al. 2019).
    """

    def __init__(self, in_channels: int, num_classes: int, blocks: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(blocks):
                layers.append(_BasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.layers(self.stem(x)).mean(dim=(2, 3)))


class _GrayToRGB(nn.Module):
    """Lets a three-channel torchvision model take one-channel images."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.expand(-1, 3, -1, -1))


@cache
def model_names() -> tuple[str, ...]:
    """Valid model names: the built-in ones, then every torchvision classification model."""
    from torchvision import models

    return ("small_cnn", "resnet32", *models.list_models(module=models))


def build_model(name: str, in_channels: int, num_classes: int, width: int = 16) -> nn.Module:
    """Build a freshly initialised network by name (no pretrained weights are downloaded).

    ``width`` is the small CNN's first-block channel count; other models ignore it.

    Raises:
        ValueError: Unknown name; the message lists the built-in ones.
    """
    if name == "small_cnn":
        return SmallCNN(in_channels, num_classes, width)
    if name == "resnet32":
        return ResNet32(in_channels, num_classes)
    if name in model_names():
        from torchvision import models

        model = models.get_model(name, weights=None, num_classes=num_classes)
        return _GrayToRGB(model) if in_channels == 1 else model
    raise ValueError(
        f"unknown model {name!r}; valid: small_cnn, resnet32 or a torchvision.models name"
    )


def memory_format_for(model: nn.Module, setting: str = "auto") -> torch.memory_format:
    """The memory format to train and evaluate ``model`` in.

    ``"auto"`` picks channels-last (NHWC) for any model holding a 2-d convolution:
    oneDNN's convolutions on x86 CPUs and cuDNN's tensor-core kernels on NVIDIA
    GPUs run fastest in it (measured 1.5-1.7x per training step for the small CNN
    on two CPU cores; see ``benchmarks/throughput.py``). ``"contiguous"`` keeps
    NCHW, ``"channels_last"`` forces NHWC. Only 4-d inputs are ever reformatted.

    Raises:
        ValueError: An unknown ``setting``.
    """
    if setting == "contiguous":
        return torch.contiguous_format
    if setting == "channels_last":
        return torch.channels_last
    if setting != "auto":
        raise ValueError(
            f"unknown memory format {setting!r}; valid: auto, channels_last, contiguous"
        )
    convolutional = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return torch.channels_last if convolutional else torch.contiguous_format


def model_from_config(cfg: ModelConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The network ``[model]`` describes, with its pretrained weights loaded (on the CPU).

    ``model.factory`` is the user's ``function(num_classes=C, **model.kwargs)``; otherwise a
    built-in or torchvision model by ``model.name``. ``model.weights`` is a state-dict
    file or, for torchvision models, a weights name (:mod:`tricks.pretrained`).

    Raises:
        ConfigError: The factory does not import, raises or returns no ``nn.Module``; the
            weights are missing or do not fit. The message names the key.
    """
    if cfg.factory:
        from tricks.user_code import resolve_callable

        factory = resolve_callable(cfg.factory, "model.factory")
        try:
            model = factory(num_classes=num_classes, **cfg.kwargs)
        except Exception as exc:
            raise ConfigError(
                f"model.factory: {cfg.factory}(num_classes={num_classes}, **model.kwargs) "
                f"raised {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"model.factory: {cfg.factory} returned a {type(model).__name__}, "
                "not a torch.nn.Module"
            )
    elif in_channels < 1:
        raise ConfigError(
            f"model.name: {cfg.name} takes images (C x H x W) and the data's inputs are not; "
            "name your own model with model.factory"
        )
    else:
        model = build_model(cfg.name, in_channels, num_classes, cfg.width)
    if cfg.weights:
        _load_weights(model, cfg)
    return model


def _load_weights(model: nn.Module, cfg: ModelConfig) -> None:
    from tricks.pretrained import (
        load_pretrained,
        read_state_dict,
        report_once,
        torchvision_state_dict,
    )

    target = model.model if isinstance(model, _GrayToRGB) else model
    if is_weights_name(cfg.weights):
        state = torchvision_state_dict(cfg.name, cfg.weights)
        report = load_pretrained(target, state, f"{cfg.name} {cfg.weights}")
    else:
        report = load_pretrained(target, read_state_dict(cfg.weights), cfg.weights)
    report_once(report)
