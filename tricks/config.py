"""The trick config: every trick value of one training run, read and written as TOML.

Each section is a :class:`~tricks.schema.Section`: a field's type, range, choices and
help are declared once, here; a :class:`~tricks.schema.Search` mark makes it searchable
(its ``[space]`` key, scale and widest range). ``tricksearch`` derives validation, error
messages, the search space and the docs' reference tables from these declarations.
"""

from __future__ import annotations

import copy
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from typing_extensions import TypedDict

from tricks.schedules import ScheduleKind
from tricks.schema import Search, Section, describe
from tricks.weights import WeightMode

__all__ = [
    "DATASETS",
    "LOSS_KINDS",
    "METRICS",
    "ConfigError",
    "DataConfig",
    "FinetuneConfig",
    "LossConfig",
    "LossKind",
    "Metric",
    "ModelConfig",
    "ReplayEvent",
    "RestartConfig",
    "ScheduleConfig",
    "TrainConfig",
    "TrickConfig",
    "TrickSections",
    "apply_overrides",
    "is_weights_name",
    "parse_override",
    "read_toml",
]

Dataset = Literal["fashion_mnist", "mnist", "cifar10", "cifar100", "image_folder"]
LossKind = Literal[
    "ce", "weighted_ce", "focal", "weighted_focal", "sigmoid_focal", "balanced_softmax"
]
Metric = Literal["balanced_accuracy", "accuracy", "macro_f1"]
Optimizer = Literal["sgd", "adamw"]
MemoryFormat = Literal["auto", "channels_last", "contiguous"]

DATASETS: tuple[str, ...] = typing.get_args(Dataset)
LOSS_KINDS: tuple[str, ...] = typing.get_args(LossKind)
METRICS: tuple[str, ...] = typing.get_args(Metric)

_WEIGHTED = "a weighted kind (`weighted_ce`, `weighted_focal`)"


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or out of range; names the key."""


def _check_import_path(path: str) -> str:
    """A ``"package.module:attribute"`` path (or empty); its import is checked where it is used."""
    module, sep, attr = path.partition(":")
    if path and (not sep or not module or not attr):
        raise ValueError(f"expected 'package.module:function', got {path!r}")
    return path


class DataConfig(Section):
    """Dataset and its long-tailed profile."""

    dataset: Dataset = Field("fashion_mnist", description="which dataset")
    data_dir: str = Field("", description="folder of the files ('' = the default place)")
    imbalance_ratio: float = Field(100.0, ge=1, description="head / tail class size")
    max_per_class: int = Field(0, ge=0, description="head class size (0 = all)")
    val_per_class: int = Field(500, ge=1, description="validation images per class")
    test_per_class: int = Field(0, ge=0, description="test images per class (0 = all)")
    image_size: int = Field(32, ge=8, description="side of the images (image_folder only)")
    factory: str = Field(
        "", description="your `pkg.module:function(split, augment, **kwargs)` -> Dataset"
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of `data.factory`"
    )
    loader_workers: int = Field(
        -1, ge=-1, description="DataLoader worker processes of streamed data (-1 = auto)"
    )

    @property
    def streamed(self) -> bool:
        """Whether batches come through a ``DataLoader`` (factory data, image folders)."""
        return bool(self.factory) or self.dataset == "image_folder"

    @field_validator("factory")
    @classmethod
    def _factory_path(cls, path: str) -> str:
        return _check_import_path(path)


class ModelConfig(Section):
    """Network: ``small_cnn``, ``resnet32`` or any ``torchvision.models`` name."""

    name: str = Field("small_cnn", description="small_cnn, resnet32 or a torchvision model")
    width: Annotated[int, Search("model_width", "int", 1, 512, when="the model is `small_cnn`")] = (
        Field(16, ge=1, description="small_cnn's first-block channels (doubled each block)")
    )

    factory: str = Field(
        "", description="your `pkg.module:function(num_classes, **kwargs)` -> nn.Module"
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of `model.factory`"
    )
    weights: str = Field(
        "", description="pretrained weights: a state-dict file, or a torchvision weights name"
    )

    @property
    def has_width(self) -> bool:
        """Whether ``width`` applies: only ``small_cnn`` has a width setting."""
        return self.name == "small_cnn" and not self.factory

    @field_validator("factory")
    @classmethod
    def _factory_path(cls, path: str) -> str:
        return _check_import_path(path)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name in ("small_cnn", "resnet32"):
            return name  # no need to import torchvision's model registry
        from tricks.models import model_names

        valid = model_names()
        if name not in valid:
            raise ValueError(f"unknown value {name!r}; valid: {', '.join(valid)}")
        return name


class TrainConfig(Section):
    """Main training budget and optimizer."""

    epochs: int = Field(10, ge=1, description="training epochs (before the fine-tune)")
    batch_size: int = Field(128, ge=1, description="images per step")
    optimizer: Optimizer = Field("sgd", description="SGD with momentum, or AdamW")
    lr: Annotated[float, Search("lr", "log", 1e-6, 10.0, help="peak learning rate, log scale")] = (
        Field(0.05, gt=0, description="peak learning rate")
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: Annotated[float, Search("weight_decay", "log", 1e-6, 1e-1)] = Field(
        5e-4, ge=0, description="L2 weight decay"
    )
    augment: bool = Field(True, description="random crop and flip while training")
    crop_padding: int = Field(2, ge=0, description="pixels of padding for the random crop")
    flip: bool = Field(True, description="random horizontal flip")
    seed: int = Field(0, description="seed of the data split, weights and batches")
    metric: Metric = Field("balanced_accuracy", description="validation metric")
    memory_format: MemoryFormat = Field(
        "auto", description="auto = channels_last for conv nets (1.5x on CPU)"
    )
    eval_batch_size: int = Field(
        0, ge=0, description="evaluation batch (0 = 4096 on a GPU, 128 on a CPU)"
    )
    fit: str = Field(
        "", description="your `pkg.module:fit(config, session)` training loop ('' = built-in)"
    )
    steps_per_epoch: int = Field(
        0, ge=0, description="optimizer steps per epoch of `train.fit`'s loop (0 = the data's)"
    )

    @field_validator("fit")
    @classmethod
    def _fit_path(cls, path: str) -> str:
        return _check_import_path(path)


class LossConfig(Section):
    """Loss kind, focal parameters and class weights."""

    kind: Annotated[LossKind, Search("loss_kind", "choice")] = Field(
        "ce", description="loss function"
    )
    focal_gamma: Annotated[
        float, Search("focal_gamma", "float", 0.0, 10.0, when="a focal kind")
    ] = Field(2.0, ge=0, description="focusing parameter γ (Lin et al. 2017)")
    focal_alpha: Annotated[
        float, Search("focal_alpha", "float", 0.0, 1.0, when="`sigmoid_focal`")
    ] = Field(0.25, ge=0, le=1, description="weight α of positives (sigmoid_focal)")
    weight_mode: Annotated[WeightMode, Search("weight_mode", "choice", when=_WEIGHTED)] = Field(
        "inverse", description="inverse frequency, or effective number (Cui et al. 2019)"
    )
    weight_power: Annotated[
        float, Search("weight_power", "float", 0.0, 2.0, when="`inverse` weights")
    ] = Field(1.0, ge=0, description="exponent of inverse-frequency weights (0.5 = sqrt)")
    weight_beta: Annotated[
        float,
        Search(
            "weight_beta",
            "log1m",
            0.0,
            0.99999,
            when="`effective` weights",
            help="effective-number β, sampled as 1 - β on a log scale (`weight_beta_gap`)",
        ),
    ] = Field(0.999, ge=0, lt=1, description="effective-number β")
    weights_from_epoch: Annotated[
        int,
        Search(
            "deferred_weights",
            "choice",
            when=_WEIGHTED,
            choices=(False, True),
            help="weights only from `defer_at` (default 0.75) of the epochs (DRW, Cao 2019)",
        ),
    ] = Field(0, ge=0, description="first epoch with class weights (deferred re-weighting)")

    @property
    def weighted(self) -> bool:
        return self.kind in ("weighted_ce", "weighted_focal")


class ScheduleConfig(Section):
    """Warmup then decay, in optimizer steps. ``phase_steps = 0`` means the whole training.

    ``min_lr_factor`` floors the decay at that fraction of the peak LR, so epochs after
    ``phase_steps`` still train; 0 lets cosine reach exactly zero.
    """

    kind: Annotated[ScheduleKind, Search("schedule_kind", "choice")] = Field(
        "cosine", description="decay after warmup (Hsueh et al. 2019 for tanh)"
    )
    warmup_steps: Annotated[
        int,
        Search("warmup_fraction", "float", 0.0, 0.5, help="warmup steps / training steps"),
    ] = Field(0, ge=0, description="linear warmup steps")
    phase_steps: Annotated[
        int,
        Search("phase_fraction", "float", 0.05, 1.0, help="decay-end step / training steps"),
    ] = Field(0, ge=0, description="step where the decay ends (0 = all steps)")
    min_lr_factor: float = Field(0.01, ge=0, lt=1, description="LR floor / peak LR")


class ReplayEvent(TypedDict):
    """A restart to replay at ``epoch`` (an exported trial's restarts).

    Other keys of a restart event (``lr_before``, ``value``...) may come along and are kept.
    """

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    epoch: Annotated[int, Field(ge=0)]
    reason: str


class RestartConfig(Section):
    """Random restarts on plateau, divergence or outside request."""

    patience: Annotated[
        int, Search("plateau_patience", "int", 0, 100, when="`max_restarts > 0`")
    ] = Field(3, ge=0, description="epochs without gain before a restart (0 = never)")
    min_delta: float = Field(0.0, ge=0, description="smallest gain that counts")
    lr_factor: Annotated[
        float, Search("restart_lr_factor", "log", 0.01, 10.0, when="`max_restarts > 0`")
    ] = Field(0.5, gt=0, description="peak LR multiplier at a restart")
    max_restarts: Annotated[int, Search("max_restarts", "int", 0, 10)] = Field(
        1, ge=0, description="restarts allowed per run"
    )
    on_restart: Literal["best", "reinit"] = Field(
        "best", description="restore the best weights, or re-initialise"
    )
    replay: list[ReplayEvent] = Field(
        default_factory=list, description="restarts to replay (written by export)"
    )


class FinetuneConfig(Section):
    """The closing no-augmentation fine-tune. ``epochs = 0`` turns it off.

    ``augment = true`` keeps augmentation on: not the trick, but its fair control (the
    same extra low-LR epochs), as ``tricksearch ablate`` uses it.
    """

    epochs: Annotated[int, Search("finetune_epochs", "int", 0, 50)] = Field(
        4, ge=0, description="no-aug fine-tune epochs (0 = off)"
    )
    lr_factor: Annotated[
        float, Search("finetune_lr_factor", "log", 1e-6, 1.0, when="`finetune_epochs > 0`")
    ] = Field(0.01, gt=0, description="fine-tune LR / current peak LR")
    augment: bool = Field(False, description="keep augmentation on (the fair control)")


class TrickSections(Section):
    """The seven trick tables, shared by a trick config and a study file's base config."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    restart: RestartConfig = Field(default_factory=RestartConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)


class TrickConfig(TrickSections):
    """Every trick value of one training run; the unit the search exports and ``train`` runs.

    Sections mirror the TOML tables: ``[data]``, ``[model]``, ``[train]``, ``[loss]``,
    ``[schedule]``, ``[restart]``, ``[finetune]``, plus a free-form ``[provenance]``
    table that the trainer ignores (the search writes where a config came from there).
    Missing keys take their defaults.
    """

    provenance: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> TrickConfig:
        default_width = ModelConfig.model_fields["width"].default
        if self.model.width != default_width and not self.model.has_width:
            which = f"factory {self.model.factory!r}" if self.model.factory else self.model.name
            raise ValueError(f"model.width: applies to small_cnn only, not {which!r}; remove it")
        if self.train.fit and not self.train.steps_per_epoch:
            raise ValueError(
                "train.steps_per_epoch: give your loop's optimizer steps per epoch when "
                "train.fit is set (warmup and decay are counted in steps)"
            )
        named = is_weights_name(self.model.weights)
        if named and (self.model.factory or self.model.name in ("small_cnn", "resnet32")):
            raise ValueError(
                f"model.weights: {self.model.weights!r} names torchvision weights, which only "
                "torchvision models have; give a state-dict file for this model"
            )
        s = self.schedule
        if s.phase_steps and s.phase_steps <= s.warmup_steps:
            raise ValueError(
                f"schedule.phase_steps: must be > warmup_steps ({s.warmup_steps}), "
                f"got {s.phase_steps}"
            )
        if self.loss.weighted and self.loss.weights_from_epoch >= self.train.epochs:
            raise ValueError(
                f"loss.weights_from_epoch: must be < train.epochs ({self.train.epochs}), "
                f"got {self.loss.weights_from_epoch}"
            )
        return self

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrickConfig:
        """Build and validate a config from nested tables; missing keys take defaults.

        Raises:
            ConfigError: Unknown section or key, wrong type or out-of-range value.
        """
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(describe(exc, cls)) from None

    def stretched(self, epochs: int) -> TrickConfig:
        """This config trained for ``epochs`` instead of ``train.epochs``, in proportion.

        Warmup and the decay phase (in optimizer steps) and the first deferred
        re-weighting epoch (Cao et al., NeurIPS 2019) scale with the length, so a config
        found with short search trials keeps its shape when its winner is retrained
        longer. Restarts to replay are dropped: they answered plateaus at the old length
        (plateau restarts still happen as configured). The fine-tune is unchanged.
        ``provenance["stretched_from_epochs"]`` records the old length.

        Raises:
            ConfigError: ``epochs`` below 1.
        """
        if epochs < 1:
            raise ConfigError(f"epochs: must be at least 1, got {epochs}")
        ratio = epochs / self.train.epochs
        out = self.model_copy(deep=True)
        out.provenance["stretched_from_epochs"] = self.train.epochs
        out.train.epochs = epochs
        s = out.schedule
        s.warmup_steps = round(s.warmup_steps * ratio)
        if s.phase_steps:
            s.phase_steps = max(round(s.phase_steps * ratio), s.warmup_steps + 1)
        out.loss.weights_from_epoch = min(round(out.loss.weights_from_epoch * ratio), epochs - 1)
        out.restart.replay = []
        out.check()
        return out

    def check(self) -> None:
        """Validate again after fields were set in code (the search and ablations do).

        Raises:
            ConfigError: As :meth:`from_dict`.
        """
        TrickConfig.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        out = self.model_dump()
        if not out["provenance"]:
            del out["provenance"]
        return out

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

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


def is_weights_name(weights: str) -> bool:
    """Whether ``model.weights`` names torchvision weights (``DEFAULT``, ``IMAGENET1K_V1``)."""
    return bool(weights) and weights.replace("_", "").isalnum() and weights.upper() == weights


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
