"""Choosing the torch device from a user's string."""

from __future__ import annotations

from search.errors import UsageError

__all__ = ["resolve_device"]


def resolve_device(spec: str) -> str:
    """``auto`` picks CUDA when available; ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are checked.

    Raises:
        UsageError: An unknown device or a GPU that is not there.
    """
    import torch

    spec = spec.strip().lower()
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec == "mps":  # Apple GPUs
        if not torch.backends.mps.is_available():
            raise UsageError("--device mps: no Apple GPU (MPS) available to this torch build")
        return "mps"
    if spec == "cuda" or spec.startswith("cuda:"):
        index = spec.partition(":")[2]
        if index and not index.isdigit():
            raise UsageError(f"--device: bad CUDA index in {spec!r}")
        if not torch.cuda.is_available():
            raise UsageError(f"--device {spec}: CUDA is not available on this machine")
        if index and int(index) >= torch.cuda.device_count():
            raise UsageError(f"--device {spec}: only {torch.cuda.device_count()} GPU(s) visible")
        return spec
    raise UsageError(f"--device: unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
