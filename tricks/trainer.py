"""Apply a trick config to a model and a dataset, streaming events to a listener."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from tricks.augment import normalize, random_crop_flip
from tricks.config import TrickConfig
from tricks.data import DataBundle, DataError
from tricks.finetune import FinetuneResult, no_aug_finetune
from tricks.loop import evaluate, train_one_epoch
from tricks.metrics import without_confusion
from tricks.models import build_model, memory_format_for, model_from_config
from tricks.restart import RestartEvent
from tricks.schedules import ScheduleLR, steps_per_epoch
from tricks.session import Session, TrainingStopped, Verdict
from tricks.sources import Data
from tricks.streaming import StreamData, iterate

__all__ = [
    "Checkpoint",
    "EpochEnd",
    "Event",
    "Listener",
    "MainPhase",
    "TrainResult",
    "Trainer",
    "TrainingStopped",
    "amp_dtype_for",
    "train",
]


@dataclass
class EpochEnd:
    """After each epoch: ``phase`` is "train" or "finetune", ``epoch`` is global and 0-based."""

    epoch: int
    phase: str
    train_loss: float
    lr: float
    value: float
    metrics: dict[str, Any]
    seconds: float
    finite: bool = True


Event = EpochEnd | RestartEvent | FinetuneResult
#: Receives every event (progress lines, the dashboard); decisions come from the session.
Listener = Callable[[Event], None]
#: Receives the training state after every main-phase epoch (see ``Trainer.snapshot``).
Checkpoint = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    """What a run produced; ``value`` is the selection metric after the fine-tune."""

    model: nn.Module
    value: float
    pre_finetune_value: float
    metrics: dict[str, Any]
    history: list[EpochEnd] = field(default_factory=list)
    restarts: list[RestartEvent] = field(default_factory=list)
    finetune: FinetuneResult | None = None
    steps_per_epoch: int = 0


class Trainer:
    """Runs the phases of a trick config on one run's data.

    The built-in datasets stay in memory as uint8 tensors on ``device``; streamed data
    (the user's Datasets, image folders; :mod:`tricks.streaming`) comes through
    DataLoaders. uint8 images are augmented (random crop with padding, flip) and
    normalised on the device a whole batch at a time; the user's data arrives as the
    user's transforms made it. 4-d inputs are put in the memory format of
    :func:`tricks.models.memory_format_for` (channels-last for convolutional models
    unless ``train.memory_format = "contiguous"``). On CUDA the training forward pass
    runs under bfloat16 autocast; evaluation always runs in float32, so argmax ties are
    not decided by rounding.
    """

    def __init__(self, config: TrickConfig, data: Data, device: str | torch.device = "cpu") -> None:
        config.check()
        self.config = config
        self.device = torch.device(device)
        self.data: Data = data.to(self.device) if isinstance(data, DataBundle) else data
        self.norm: tuple[Tensor, Tensor] | None = None
        if data.mean is not None and data.std is not None:
            self.norm = (
                torch.tensor(data.mean, device=self.device),
                torch.tensor(data.std, device=self.device),
            )
        self.amp_dtype = amp_dtype_for(self.device)
        self.memory_format = torch.contiguous_format
        if not config.model.factory:  # a built-in model's layout is known before it is built
            with torch.device("meta"):
                self._choose_layout(build_model(config.model.name, 3, data.num_classes))
        self.gen = torch.Generator(self.device).manual_seed(config.train.seed)
        self.loader_gen = torch.Generator().manual_seed(config.train.seed)  # DataLoader order
        self._loaders: dict[tuple[str, bool], Any] = {}
        self.steps_per_epoch = steps_per_epoch(data.n_train, config.train.batch_size)

    def _choose_layout(self, model: nn.Module) -> None:
        self.memory_format = memory_format_for(model, self.config.train.memory_format)

    # -- batches ---------------------------------------------------------------------------
    def _prepare(self, x: Any) -> Any:
        """Normalise uint8 images; put 4-d inputs in the model's memory format."""
        if self.norm is not None:
            x = normalize(x, *self.norm)
        if isinstance(x, Tensor) and x.dim() == 4:
            x = x.contiguous(memory_format=self.memory_format)
        return x

    def batches(self, augment: bool) -> Iterator[tuple[Any, Tensor]]:
        """One shuffled epoch of training batches, ready for the model."""
        if isinstance(self.data, StreamData):
            yield from self._streamed("train", augment, shuffle=True)
            return
        cfg = self.config.train
        x_all, y_all = self.data.x_train, self.data.y_train
        order = torch.randperm(len(y_all), device=self.device, generator=self.gen)
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            x = x_all[idx]
            if augment:
                x = random_crop_flip(x, cfg.crop_padding, cfg.flip, self.gen)
            yield self._prepare(x), y_all[idx]

    def _streamed(
        self, split: str, augment: bool, shuffle: bool, batch_size: int | None = None
    ) -> Iterator[tuple[Any, Tensor]]:
        """Batches of a streamed split through its (cached, persistent) DataLoader."""
        assert isinstance(self.data, StreamData)
        key = (split, augment)
        if key not in self._loaders:
            dataset = self.data.split(split, augment)
            if dataset is None:
                raise DataError(f"the data has no {split!r} split")
            size = batch_size or self.config.train.batch_size
            gen = self.loader_gen if shuffle else None
            self._loaders[key] = self.data.loader(dataset, size, self.device, gen)
        cfg = self.config.train
        for x, y in iterate(self._loaders[key], self.device):
            if augment and self.data.device_augment:
                x = random_crop_flip(x, cfg.crop_padding, cfg.flip, self.gen)
            yield self._prepare(x), y

    def eval_batches(
        self, split: str, batch_size: int | None = None
    ) -> Iterator[tuple[Any, Tensor]]:
        """Batches of ``split`` in order; ``train.eval_batch_size``, by default 4096 on a GPU
        and 128 on a CPU.

        On two CPU cores small batches evaluate fastest (they stay in cache: 0.17-0.23 s
        for 5,000 images at 128 vs 0.43-0.51 s at 1024, small CNN, channels-last); a GPU
        wants large ones, as large as its memory allows for the model (set it lower for
        a torchvision model at 224 px). The test split stays on the CPU until evaluated.
        """
        if batch_size is None:
            batch_size = self.config.train.eval_batch_size or (
                4096 if self.device.type == "cuda" else 128
            )
        if isinstance(self.data, StreamData):
            yield from self._streamed(split, False, shuffle=False, batch_size=batch_size)
            return
        x_all, y_all = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
        for start in range(0, len(y_all), batch_size):
            end = start + batch_size
            x, y = x_all[start:end].to(self.device), y_all[start:end].to(self.device)
            yield self._prepare(x), y

    @property
    def has_test(self) -> bool:
        """Whether the data has a test split (streamed data may not)."""
        return not isinstance(self.data, StreamData) or self.data.test is not None

    def evaluate(self, model: nn.Module, split: str = "val") -> dict[str, Any]:
        """Metrics of ``model`` on ``split``, computed in float32 on every device."""
        return evaluate(model, self.eval_batches(split), self.data.num_classes)

    def build_model(self) -> nn.Module:
        """The config's network (fresh, or from its pretrained weights), on the device."""
        cfg = self.config
        torch.manual_seed(cfg.train.seed)
        model = model_from_config(cfg.model, self.data.in_channels, self.data.num_classes)
        self._choose_layout(model)
        return model.to(self.device).to(memory_format=self.memory_format)

    # -- the run ---------------------------------------------------------------------------
    def fit(
        self,
        listener: Listener | None = None,
        checkpoint: Checkpoint | None = None,
        resume: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> TrainResult:
        """Main training with restarts, then the no-aug fine-tune: the built-in fit function.

        Args:
            listener: Receives every event (see :data:`Listener`).
            checkpoint: Called with :meth:`snapshot`'s state after every training epoch;
                the state shares the live tensors, so write it (``torch.save``) at once.
                Default: the session's :meth:`~tricks.session.Session.checkpoint`.
            resume: A state ``checkpoint`` received: training continues after its epoch
                and, on the CPU, ends exactly as an uninterrupted run would. Default:
                the session's :meth:`~tricks.session.Session.resume`.
            session: Decides each epoch (:mod:`tricks.session`); a plain one by default.

        Raises:
            TrainingStopped: A restart was needed (divergence, a poor trial) but none was left.
        """
        session = session or Session(self.config)
        emit: Listener = listener or (lambda event: None)
        if checkpoint is None:
            checkpoint = session.checkpoint
        if resume is None:
            resume = session.resume()
        model = self.build_model()
        main = self.train_phase(model, emit, session, checkpoint, resume)
        metric = self.config.train.metric
        pre = main.metrics if main.metrics is not None else self.evaluate(model)
        pre_value = float(pre[metric])
        final, ft = pre, None
        if self.config.finetune.epochs > 0:
            ft, last = self.finetune_phase(model, session, pre_value, emit, main.history)
            emit(ft)
            final = last or pre
        session.finish(pre_value, float(final[metric]))
        return TrainResult(
            model,
            float(final[metric]),
            pre_value,
            final,
            main.history,
            session.restarts,
            ft,
            self.steps_per_epoch,
        )

    def train_phase(
        self,
        model: nn.Module,
        emit: Listener,
        session: Session,
        checkpoint: Checkpoint | None = None,
        resume: dict[str, Any] | None = None,
    ) -> MainPhase:
        """``train.epochs`` augmented epochs; the session decides after each one.

        A restart (a plateau, a divergence or a poor trial, while restarts and epochs are
        left) restores the best weights (or the initial ones), takes the session's new
        peak LR and runs the schedule again over the remaining steps.
        """
        cfg = self.config
        init_state = copy.deepcopy(model.state_dict())
        state = MainPhase()
        optimizer = session.optimizer(model)
        scheduler = session.schedule(optimizer, self.steps_per_epoch)
        first = 0
        if resume is not None:
            optimizer, scheduler = self._restore(resume, model, state, session)
            first = resume["epoch"] + 1
        for epoch in range(first, cfg.train.epochs):
            start = time.perf_counter()
            loss_fn = session.loss_fn(self.data.class_counts, epoch, self.device)
            lr = optimizer.param_groups[0]["lr"]
            batches = self.batches(cfg.train.augment)
            loss, finite = train_one_epoch(
                model, batches, loss_fn, optimizer, scheduler, self.amp_dtype
            )
            state.metrics = self.evaluate(model)
            value = float(state.metrics[cfg.train.metric]) if finite else math.nan
            seconds = time.perf_counter() - start
            event = EpochEnd(
                epoch, "train", loss, lr, value, without_confusion(state.metrics), seconds, finite
            )
            state.history.append(event)
            emit(event)
            verdict = session.report(
                epoch, value, loss=loss, diverged=not finite, lr=lr, seconds=seconds
            )
            if finite and session.controller.best_epoch == epoch:
                state.best_state = copy.deepcopy(model.state_dict())
            if verdict.restart:
                emit(session.restarts[-1])
                optimizer, scheduler = self._restart(model, state, session, verdict, init_state)
            if checkpoint is not None:
                checkpoint(self.snapshot(epoch, model, optimizer, scheduler, state, session))
        return state

    def _restart(
        self,
        model: nn.Module,
        state: MainPhase,
        session: Session,
        verdict: Verdict,
        init_state: dict[str, Tensor],
    ) -> tuple[torch.optim.Optimizer, ScheduleLR]:
        """Best (or initial) weights back, the new peak LR, the schedule over what is left."""
        use_best = verdict.restore_best and state.best_state is not None
        model.load_state_dict(state.best_state if use_best and state.best_state else init_state)
        state.metrics = None
        state.schedule_epochs = verdict.epochs_left
        optimizer = session.optimizer(model)
        return optimizer, session.schedule(optimizer, self.steps_per_epoch, verdict.epochs_left)

    def snapshot(
        self,
        epoch: int,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: ScheduleLR,
        state: MainPhase,
        session: Session,
    ) -> dict[str, Any]:
        """Everything needed to continue after ``epoch`` exactly: weights, optimizer, schedule,
        the session (restarts, peak LR), random generators, history. Plain tensors and
        containers, so ``torch.load(..., weights_only=True)`` reads it."""
        return {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
            "schedule_epochs": state.schedule_epochs,
            "session": session.state_dict(),
            "best_state": state.best_state,
            "metrics": state.metrics,
            "history": [dataclasses.asdict(e) for e in state.history],
            "generator": self.gen.get_state(),
            "generator_device": self.gen.device.type,
            "loader_generator": self.loader_gen.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def _restore(
        self, saved: dict[str, Any], model: nn.Module, state: MainPhase, session: Session
    ) -> tuple[torch.optim.Optimizer, ScheduleLR]:
        """Put a :meth:`snapshot` back; returns the optimizer and schedule to continue with."""
        model.load_state_dict(saved["model"])
        session.load_state_dict(saved["session"])
        state.schedule_epochs = saved["schedule_epochs"]
        state.best_state, state.metrics = saved["best_state"], saved["metrics"]
        state.history = [EpochEnd(**e) for e in saved["history"]]
        optimizer = session.optimizer(model)
        scheduler = session.schedule(optimizer, self.steps_per_epoch, state.schedule_epochs)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict({**scheduler.state_dict(), **saved["scheduler"]})
        if saved.get("generator_device", "cpu") == self.gen.device.type:
            self.gen.set_state(saved["generator"])
        # else: checkpointed on another kind of device (a CUDA state does not fit a CPU
        # generator): the batches go on from this run's seed, the training itself resumes
        self.loader_gen.set_state(saved["loader_generator"])
        torch.set_rng_state(saved["torch_rng"])
        return optimizer, scheduler

    def finetune_phase(
        self,
        model: nn.Module,
        session: Session,
        before: float,
        emit: Listener,
        history: list[EpochEnd],
    ) -> tuple[FinetuneResult, dict[str, Any]]:
        """The no-aug fine-tune at the session's fine-tune LR (the current peak LR times
        ``finetune.lr_factor``); each epoch is reported to the session.

        Returns:
            The :class:`FinetuneResult` and the metrics after its last epoch
            (empty if it ran none).
        """
        cfg, lr = self.config, session.finetune_lr()
        loss_fn = session.loss_fn(self.data.class_counts, cfg.train.epochs, self.device)
        optimizer = session.optimizer(model, lr)
        last: dict[str, Any] = {}
        clock = time.perf_counter()

        def measure(m: nn.Module) -> float:
            last.clear()
            last.update(self.evaluate(m))
            return float(last[cfg.train.metric])

        def on_epoch(i: int, loss: float, value: float) -> None:
            nonlocal clock
            now = time.perf_counter()
            finite = math.isfinite(loss)
            event = EpochEnd(
                cfg.train.epochs + i,
                "finetune",
                loss,
                lr,
                value,
                without_confusion(last),
                now - clock,
                finite,
            )
            clock = now
            history.append(event)
            emit(event)
            session.report_finetune(event.epoch, value, loss=loss, seconds=event.seconds)

        result = no_aug_finetune(
            model,
            lambda _: self.batches(augment=cfg.finetune.augment),
            loss_fn,
            optimizer,
            measure,
            cfg.finetune.epochs,
            on_epoch,
            self.amp_dtype,
            before=before,
        )
        return result, dict(last)


@dataclass
class MainPhase:
    """The main phase's state: the schedule's span, best weights, history (the session
    holds the peak LR and the restarts)."""

    schedule_epochs: int | None = None  # epochs the running schedule spans (None: all)
    metrics: dict[str, Any] | None = None  # of the model as it is now; None after a restart
    history: list[EpochEnd] = field(default_factory=list)
    best_state: dict[str, Tensor] | None = None


def amp_dtype_for(device: torch.device) -> torch.dtype | None:
    """The training forward pass's autocast type: bfloat16 on GPUs with fast bf16 tensor
    cores (compute capability 8 and up: A100, H100, RTX 30xx), float32 elsewhere (T4 and
    V100 have no fast bf16 convolutions; CPUs gain nothing here)."""
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else None


def train(
    config: TrickConfig,
    data: Data,
    device: str | torch.device = "cpu",
    listener: Listener | None = None,
) -> TrainResult:
    """Train with ``config`` on ``data``: :meth:`Trainer.fit` in one call."""
    return Trainer(config, data, device).fit(listener)
