"""Start from pretrained weights: a state-dict file, or torchvision's weights API.

The usual case is fine-tuning a backbone trained on another label set: every tensor
must match the model except the classifier head, whose shape differs when the class
count does (1000 ImageNet classes against the user's C). That head keeps its fresh
initialisation; everything else is loaded (Yosinski et al., "How transferable are
features in deep neural networks?", NeurIPS 2014).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from tricks.config import ConfigError, TrickConfig, is_weights_name

__all__ = [
    "WeightsReport",
    "check_provenance",
    "file_sha256",
    "head_keys",
    "load_pretrained",
    "provenance",
    "read_state_dict",
    "torchvision_state_dict",
]

_KEY = "model.weights"


@dataclass
class WeightsReport:
    """What :func:`load_pretrained` did: tensors loaded and head tensors re-initialised."""

    source: str
    loaded: int
    reinitialised: list[str] = field(default_factory=list)

    def line(self) -> str:
        fresh = ", ".join(self.reinitialised) or "none"
        return f"weights {self.source}: {self.loaded} tensors loaded; re-initialised: {fresh}"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a weights file, as recorded in an exported config's provenance."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A state dict from ``path``: saved whole, or under ``state_dict`` / ``model`` of a checkpoint.

    Read with ``weights_only=True`` onto the CPU; a ``module.`` prefix (DataParallel,
    DDP) is removed.

    Raises:
        ConfigError: Missing file, not a torch file, or no state dict in it.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{_KEY}: no file {p}")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{_KEY}: {p} is not a torch file of tensors: {first}") from None
    if isinstance(raw, dict):
        for key in ("state_dict", "model"):
            if isinstance(raw.get(key), dict):
                raw = raw[key]
                break
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, Tensor) for v in raw.values()):
        raise ConfigError(
            f"{_KEY}: {p} holds no state dict (a dict of tensors, or one under "
            "'state_dict' or 'model')"
        )
    if all(k.startswith("module.") for k in raw):
        raw = {k.removeprefix("module."): v for k, v in raw.items()}
    return raw


def torchvision_state_dict(model_name: str, weights_name: str) -> dict[str, Tensor]:
    """The state dict of torchvision weights ``weights_name`` (``DEFAULT`` or an enum name).

    Downloaded into torch's cache where the network allows, else read from that cache.

    Raises:
        ConfigError: Unknown weights name, or the file is neither cached nor downloadable
            (the message names where torch's cache expects it).
    """
    from torchvision.models import get_model_weights

    enum = get_model_weights(model_name)
    valid = ["DEFAULT", *enum.__members__]
    if weights_name not in valid:
        raise ConfigError(
            f"{_KEY}: unknown weights {weights_name!r} for {model_name}; valid: {', '.join(valid)}"
        )
    weights = enum.DEFAULT if weights_name == "DEFAULT" else enum[weights_name]
    try:
        quiet = io.StringIO()  # torch.hub's "Downloading: ..." line: the error below says more
        with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
            return dict(weights.get_state_dict(progress=False))
    except Exception as exc:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
        raise ConfigError(
            f"{_KEY}: {model_name} {weights_name} is not in torch's cache and the download "
            f"failed ({type(exc).__name__}); put {weights.url} at {cached}"
        ) from None


def head_keys(model: nn.Module) -> set[str]:
    """State-dict keys of the last module that holds parameters: the classifier head."""
    last = None
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            last = name
    if last is None:
        return set()
    prefix = f"{last}." if last else ""
    own = model.state_dict()
    return {k for k in own if k.startswith(prefix) and "." not in k[len(prefix) :]}


def load_pretrained(model: nn.Module, state: dict[str, Any], source: str) -> WeightsReport:
    """Load ``state`` into ``model``; a head whose shape differs keeps its fresh initialisation.

    Raises:
        ConfigError: Keys missing or unexpected, or a tensor outside the head that does
            not fit; the message names the first such key.
    """
    own = model.state_dict()
    missing = sorted(own.keys() - state.keys())
    unexpected = sorted(state.keys() - own.keys())
    if missing or unexpected:
        what = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ConfigError(f"{_KEY}: {source} does not fit the model: {what} keys")
    differ = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    head = head_keys(model)
    for key in differ:
        if key not in head:
            raise ConfigError(
                f"{_KEY}: {source} does not fit the model: {key} is "
                f"{tuple(state[key].shape)} in the file, {tuple(own[key].shape)} in the model"
            )
    model.load_state_dict({k: own[k] if k in differ else state[k] for k in own})
    return WeightsReport(source, len(own) - len(differ), differ)


_REPORTED: set[str] = set()


def report_once(report: WeightsReport) -> None:
    """Print what was loaded once per process (every trial loads the same file)."""
    line = report.line()
    if line not in _REPORTED:
        _REPORTED.add(line)
        print(line, file=sys.stderr, flush=True)


def provenance(config: TrickConfig) -> dict[str, str]:
    """Where a config's user code and weights came from, for an exported config.

    The factory paths, and the SHA-256 of a weights file (which :func:`check_provenance`
    compares before training).
    """
    out = {}
    if config.model.factory:
        out["model_factory"] = config.model.factory
    if config.data.factory:
        out["data_factory"] = config.data.factory
    weights = config.model.weights
    if weights and not is_weights_name(weights) and Path(weights).is_file():
        out["weights_sha256"] = file_sha256(weights)
    return out


def check_provenance(config: TrickConfig) -> None:
    """Refuse to train an exported config whose weights file changed since the export.

    Raises:
        ConfigError: The file is missing, or its SHA-256 differs from the provenance's.
    """
    expected = config.provenance.get("weights_sha256")
    weights = config.model.weights
    if not expected or not weights or is_weights_name(weights):
        return
    if not Path(weights).is_file():
        raise ConfigError(f"{_KEY}: no file {weights}")
    actual = file_sha256(weights)
    if actual != expected:
        raise ConfigError(
            f"{_KEY}: {weights} changed since the config was exported (SHA-256 {actual[:16]}..., "
            f"provenance.weights_sha256 {expected[:16]}...); restore the file, or remove "
            "weights_sha256 from [provenance] to train with the new one"
        )
