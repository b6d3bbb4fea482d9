"""Augmentation applied to whole batches on the training device."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["normalize", "random_crop_flip"]


def random_crop_flip(
    x: Tensor, padding: int, flip: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    """Per-sample random crop with zero padding and random horizontal flip, batched.

    The standard CIFAR augmentation of He et al., "Deep Residual Learning" (CVPR 2016),
    https://arxiv.org/abs/1512.03385, done with one gather instead of per-image PIL
    transforms. Each sample gets its own offset and flip.

    Args:
        x: ``(N, C, H, W)`` images, any dtype.
        padding: Pixels of zero padding on each side (0 skips the crop).
        flip: Whether to flip half of the samples left-right.
        generator: Random source on ``x``'s device, for reproducibility.

    Returns:
        Augmented images, same shape and dtype as ``x``.
    """
    n, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding))
        oy = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device, generator=generator)
        ox = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=x.device, generator=generator)
        rows = (oy + torch.arange(h, device=x.device)[None, :, None]).expand(n, h, w)
        cols = (ox + torch.arange(w, device=x.device)[None, None, :]).expand(n, h, w)
        flat = rows * (w + 2 * padding) + cols
        x = padded.flatten(2).gather(2, flat.flatten(1)[:, None, :].expand(-1, x.shape[1], -1))
        x = x.view(n, -1, h, w)
    if flip:
        mask = torch.rand(n, device=x.device, generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    return x


def normalize(x: Tensor, mean: Tensor, std: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 images to normalised floats: ``(x / 255 - mean) / std`` per channel."""
    return (x.to(dtype) / 255 - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
