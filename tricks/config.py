"""The trick config: every trick value of one training run, read and written as TOML."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tricks.schedules import SCHEDULE_KINDS
from tricks.weights import WEIGHT_MODES

__all__ = [
    "DATASETS",
    "LOSS_KINDS",
    "ConfigError",
    "TrickConfig",
    "apply_overrides",
    "parse_override",
    "read_toml",
]

DATASETS = ("fashion_mnist", "mnist", "cifar10", "cifar100", "image_folder")
LOSS_KINDS = ("ce", "weighted_ce", "focal", "weighted_focal", "sigmoid_focal", "balanced_softmax")
METRICS = ("balanced_accuracy", "accuracy", "macro_f1")
OPTIMIZERS = ("sgd", "adamw")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or out of range; names the key."""


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def _choice(value: str, key: str, valid: tuple[str, ...]) -> None:
    _require(value in valid, key, f"unknown value {value!r}; valid: {', '.join(valid)}")


@dataclass
class DataConfig:
    """Dataset and its long-tailed profile."""

    dataset: str = "fashion_mnist"
    data_dir: str = ""
    imbalance_ratio: float = 100.0
    max_per_class: int = 0
    val_per_class: int = 500
    test_per_class: int = 0
    image_size: int = 32

    def validate(self) -> None:
        _choice(self.dataset, "data.dataset", DATASETS)
        _require(
            self.imbalance_ratio >= 1,
            "data.imbalance_ratio",
            f"must be >= 1, got {self.imbalance_ratio}",
        )
        _require(self.max_per_class >= 0, "data.max_per_class", "must be >= 0 (0 = all)")
        _require(self.val_per_class >= 1, "data.val_per_class", "must be >= 1")
        _require(self.test_per_class >= 0, "data.test_per_class", "must be >= 0 (0 = all)")
        _require(self.image_size >= 8, "data.image_size", "must be >= 8 (image_folder only)")


@dataclass
class ModelConfig:
    """Network: "small_cnn", "resnet32" or any ``torchvision.models`` name."""

    name: str = "small_cnn"

    def validate(self) -> None:
        if self.name in ("small_cnn", "resnet32"):
            return  # no need to import torchvision's model registry
        from tricks.models import model_names

        _choice(self.name, "model.name", model_names())


@dataclass
class TrainConfig:
    """Main training budget and optimizer."""

    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    crop_padding: int = 2
    flip: bool = True
    seed: int = 0
    metric: str = "balanced_accuracy"
    memory_format: str = "auto"

    def validate(self) -> None:
        _require(self.epochs >= 1, "train.epochs", f"must be >= 1, got {self.epochs}")
        _require(self.batch_size >= 1, "train.batch_size", f"must be >= 1, got {self.batch_size}")
        _choice(self.optimizer, "train.optimizer", OPTIMIZERS)
        _require(self.lr > 0, "train.lr", f"learning rate must be > 0, got {self.lr}")
        _require(
            0 <= self.momentum < 1, "train.momentum", f"must be in [0, 1), got {self.momentum}"
        )
        _require(self.weight_decay >= 0, "train.weight_decay", "must be >= 0")
        _require(self.crop_padding >= 0, "train.crop_padding", "must be >= 0")
        _choice(self.metric, "train.metric", METRICS)
        _choice(self.memory_format, "train.memory_format", MEMORY_FORMATS)


@dataclass
class LossConfig:
    """Loss kind, focal parameters and class weights."""

    kind: str = "ce"
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25
    weight_mode: str = "inverse"
    weight_power: float = 1.0
    weight_beta: float = 0.999
    weights_from_epoch: int = 0

    def validate(self) -> None:
        _choice(self.kind, "loss.kind", LOSS_KINDS)
        _require(self.focal_gamma >= 0, "loss.focal_gamma", f"must be >= 0, got {self.focal_gamma}")
        _require(
            0 <= self.focal_alpha <= 1,
            "loss.focal_alpha",
            f"must be in [0, 1], got {self.focal_alpha}",
        )
        _choice(self.weight_mode, "loss.weight_mode", WEIGHT_MODES)
        _require(self.weight_power >= 0, "loss.weight_power", "must be >= 0")
        _require(
            0 <= self.weight_beta < 1,
            "loss.weight_beta",
            f"must be in [0, 1), got {self.weight_beta}",
        )
        _require(self.weights_from_epoch >= 0, "loss.weights_from_epoch", "must be >= 0")

    @property
    def weighted(self) -> bool:
        return self.kind in ("weighted_ce", "weighted_focal")


@dataclass
class ScheduleConfig:
    """Warmup then decay, in optimizer steps. ``phase_steps = 0`` means the whole training.

    ``min_lr_factor`` floors the decay at that fraction of the peak LR, so epochs after
    ``phase_steps`` still train; 0 lets cosine reach exactly zero.
    """

    kind: str = "cosine"
    warmup_steps: int = 0
    phase_steps: int = 0
    min_lr_factor: float = 0.01

    def validate(self) -> None:
        _choice(self.kind, "schedule.kind", SCHEDULE_KINDS)
        _require(
            self.warmup_steps >= 0,
            "schedule.warmup_steps",
            f"must be >= 0, got {self.warmup_steps}",
        )
        _require(self.phase_steps >= 0, "schedule.phase_steps", "must be >= 0 (0 = all steps)")
        _require(
            self.phase_steps == 0 or self.phase_steps > self.warmup_steps,
            "schedule.phase_steps",
            f"must be > warmup_steps ({self.warmup_steps}), got {self.phase_steps}",
        )
        _require(
            0 <= self.min_lr_factor < 1,
            "schedule.min_lr_factor",
            f"must be in [0, 1), got {self.min_lr_factor}",
        )


@dataclass
class RestartConfig:
    """Random restarts on plateau, divergence or outside request."""

    patience: int = 3
    min_delta: float = 0.0
    lr_factor: float = 0.5
    max_restarts: int = 1
    on_restart: str = "best"
    replay: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        _require(self.patience >= 0, "restart.patience", "must be >= 0 (0 disables plateaus)")
        _require(self.min_delta >= 0, "restart.min_delta", "must be >= 0")
        _require(self.lr_factor > 0, "restart.lr_factor", f"must be > 0, got {self.lr_factor}")
        _require(self.max_restarts >= 0, "restart.max_restarts", "must be >= 0")
        _choice(self.on_restart, "restart.on_restart", ("best", "reinit"))
        for i, item in enumerate(self.replay):
            key = f"restart.replay[{i}]"
            _require(
                isinstance(item, dict) and set(item) >= {"epoch", "reason"},
                key,
                "needs 'epoch' and 'reason'",
            )
            _require(
                isinstance(item["epoch"], int)
                and not isinstance(item["epoch"], bool)
                and item["epoch"] >= 0,
                key,
                "epoch must be an integer >= 0",
            )
            _require(isinstance(item["reason"], str), key, "reason must be a string")


@dataclass
class FinetuneConfig:
    """The closing no-augmentation fine-tune. ``epochs = 0`` turns it off.

    ``augment = true`` keeps augmentation on: not the trick, but its fair control (the
    same extra low-LR epochs), as ``tricksearch ablate`` uses it.
    """

    epochs: int = 4
    lr_factor: float = 0.01
    augment: bool = False

    def validate(self) -> None:
        _require(self.epochs >= 0, "finetune.epochs", "must be >= 0 (0 = off)")
        _require(
            self.lr_factor > 0,
            "finetune.lr_factor",
            f"learning rate factor must be > 0, got {self.lr_factor}",
        )


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "loss": LossConfig,
    "schedule": ScheduleConfig,
    "restart": RestartConfig,
    "finetune": FinetuneConfig,
}


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a field's type; ints are accepted where floats are expected."""
    origin = typing.get_origin(hint)
    if hint is bool:
        _require(isinstance(value, bool), key, f"expected true or false, got {value!r}")
    elif hint is int:
        _require(
            isinstance(value, int) and not isinstance(value, bool),
            key,
            f"expected an integer, got {value!r}",
        )
    elif hint is float:
        _require(
            isinstance(value, int | float) and not isinstance(value, bool),
            key,
            f"expected a number, got {value!r}",
        )
        value = float(value)
        _require(math.isfinite(value), key, f"expected a finite number, got {value!r}")
    elif hint is str:
        _require(isinstance(value, str), key, f"expected a string, got {value!r}")
    elif origin is list:
        _require(isinstance(value, list), key, f"expected a list, got {value!r}")
    return value


def _section(cls: type, raw: Any, name: str) -> Any:
    _require(isinstance(raw, dict), name, f"expected a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(raw) - set(hints))
    _require(
        not unknown,
        f"{name}.{unknown[0]}" if unknown else name,
        f"unknown key; valid keys: {', '.join(hints)}",
    )
    values = {k: _coerce(v, hints[k], f"{name}.{k}") for k, v in raw.items()}
    obj = cls(**values)
    obj.validate()
    return obj


@dataclass
class TrickConfig:
    """Every trick value of one training run; the unit the search exports and ``train`` runs.

    Sections mirror the TOML tables: ``[data]``, ``[model]``, ``[train]``, ``[loss]``,
    ``[schedule]``, ``[restart]``, ``[finetune]``, plus a free-form ``[provenance]``
    table that the trainer ignores (the search writes where a config came from there).
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    restart: RestartConfig = field(default_factory=RestartConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    provenance: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        for name in _SECTIONS:
            getattr(self, name).validate()
        _require(
            self.loss.weights_from_epoch < self.train.epochs or not self.loss.weighted,
            "loss.weights_from_epoch",
            f"must be < train.epochs ({self.train.epochs}), got {self.loss.weights_from_epoch}",
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if not out["provenance"]:
            del out["provenance"]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrickConfig:
        """Build and validate a config from nested tables; missing keys take defaults.

        Raises:
            ConfigError: Unknown section or key, wrong type or out-of-range value.
        """
        unknown = sorted(set(raw) - set(_SECTIONS) - {"provenance"})
        _require(
            not unknown,
            unknown[0] if unknown else "",
            f"unknown section; valid: {', '.join([*_SECTIONS, 'provenance'])}",
        )
        sections = {
            name: _section(cls_, raw.get(name, {}), name) for name, cls_ in _SECTIONS.items()
        }
        provenance = raw.get("provenance", {})
        _require(isinstance(provenance, dict), "provenance", "expected a table")
        config = cls(**sections, provenance=provenance)
        config.validate()
        return config

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str) -> TrickConfig:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}") from None
        return cls.from_dict(raw)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_toml())

    @classmethod
    def load(cls, path: str | Path) -> TrickConfig:
        """Read a config file.

        Raises:
            ConfigError: The file is missing, unreadable or invalid (message names it).
        """
        raw = read_toml(path)
        try:
            return cls.from_dict(raw)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def read_toml(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """Parse a TOML file with the standard library's safe parser.

    Raises:
        ConfigError: Unreadable file or invalid TOML; the message names the file.
    """
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``section.key=value``; the value is read as TOML, else kept as a string.

    Raises:
        ConfigError: No ``=`` or an empty key.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set expects section.key=value, got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of nested tables ``raw`` with ``--set`` overrides applied."""
    import copy

    out = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {part!r} is not a table")
        node[path[-1]] = value
    return out
