"""Choosing the torch device from a user's string."""

from __future__ import annotations

from search.errors import UsageError

__all__ = ["describe_device", "resolve_device"]


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


def describe_device(device: str) -> str:
    """What a run trains on, in words: the GPU's name, or the CPU threads (and, on a CPU,
    why no GPU was used when this torch build could not see one)."""
    import torch

    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    if device == "mps":
        return "mps (Apple GPU)"
    why = ""
    if torch.version.cuda and not torch.cuda.is_available():
        why = f"; no GPU visible to this torch build (CUDA {torch.version.cuda})"
    return f"cpu ({torch.get_num_threads()} threads{why})"
