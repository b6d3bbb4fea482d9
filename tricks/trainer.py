"""Apply a trick config to a model and a dataset, streaming events to a listener."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from tricks.augment import normalize, random_crop_flip
from tricks.config import TrickConfig
from tricks.data import DataBundle
from tricks.factory import build_loss, build_optimizer
from tricks.finetune import FinetuneResult, no_aug_finetune
from tricks.loop import evaluate, train_one_epoch
from tricks.models import build_model
from tricks.restart import Decision, RestartController, RestartEvent
from tricks.schedules import ScheduleLR

__all__ = ["EpochEnd", "Event", "Listener", "TrainResult", "Trainer", "TrainingStopped", "train"]


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
#: Receives every event; may return a restart reason (e.g. "pruned") after an ``EpochEnd``.
Listener = Callable[[Event], str | None]


class TrainingStopped(RuntimeError):
    """A restart was needed (divergence or an outside request) but none was left."""

    def __init__(self, reason: str, epoch: int, events: list[RestartEvent]) -> None:
        super().__init__(f"training stopped at epoch {epoch}: {reason}, no restarts left")
        self.reason, self.epoch, self.events = reason, epoch, events


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
    """Holds one run's data on the device and runs the phases of a trick config.

    Data stays in memory as uint8 tensors on ``device``; each batch is augmented
    (random crop with padding, flip) and normalised on the device. On CUDA the
    forward pass runs under bfloat16 autocast.
    """

    def __init__(
        self, config: TrickConfig, data: DataBundle, device: str | torch.device = "cpu"
    ) -> None:
        config.validate()
        self.config = config
        self.device = torch.device(device)
        self.data = data.to(self.device)
        self.mean = torch.tensor(data.mean, device=self.device)
        self.std = torch.tensor(data.std, device=self.device)
        self.amp_dtype = torch.bfloat16 if self.device.type == "cuda" else None
        self.gen = torch.Generator(self.device).manual_seed(config.train.seed)
        n = len(self.data.y_train)
        self.steps_per_epoch = math.ceil(n / config.train.batch_size)

    # -- batches ---------------------------------------------------------------------------
    def batches(self, augment: bool) -> Iterator[tuple[Tensor, Tensor]]:
        """One shuffled epoch of normalised training batches."""
        cfg = self.config.train
        x_all, y_all = self.data.x_train, self.data.y_train
        order = torch.randperm(len(y_all), device=self.device, generator=self.gen)
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            x = x_all[idx]
            if augment:
                x = random_crop_flip(x, cfg.crop_padding, cfg.flip, self.gen)
            yield normalize(x, self.mean, self.std), y_all[idx]

    def eval_batches(self, split: str, batch_size: int = 1024) -> Iterator[tuple[Tensor, Tensor]]:
        x_all, y_all = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
        for start in range(0, len(y_all), batch_size):
            yield (
                normalize(x_all[start : start + batch_size], self.mean, self.std),
                y_all[start : start + batch_size],
            )

    def evaluate(self, model: nn.Module, split: str = "val") -> dict[str, Any]:
        return evaluate(model, self.eval_batches(split), self.data.num_classes, self.amp_dtype)

    # -- schedule --------------------------------------------------------------------------
    def _scheduler(
        self, optimizer: torch.optim.Optimizer, peak_lr: float, remaining: int
    ) -> ScheduleLR:
        """A schedule over the ``remaining`` steps, scaled from the configured one."""
        sched, total = self.config.schedule, self.config.train.epochs * self.steps_per_epoch
        phase = sched.phase_steps or total
        scale = remaining / total
        warmup = round(sched.warmup_steps * scale)
        phase = max(warmup + 1, round(phase * scale))
        return ScheduleLR(optimizer, sched.kind, warmup, phase, peak_lr)

    # -- the run ---------------------------------------------------------------------------
    def fit(self, listener: Listener | None = None) -> TrainResult:
        """Main training with restarts, then the no-aug fine-tune.

        Raises:
            TrainingStopped: A divergence or outside request came with no restart left.
        """
        cfg = self.config
        emit: Listener = listener or (lambda event: None)
        torch.manual_seed(cfg.train.seed)
        model = build_model(cfg.model.name, self.data.in_channels, self.data.num_classes)
        model = model.to(self.device)
        init_state = copy.deepcopy(model.state_dict())
        counts = self.data.class_counts
        metric = cfg.train.metric
        controller = RestartController(
            cfg.restart.patience,
            cfg.restart.min_delta,
            cfg.restart.lr_factor,
            cfg.restart.max_restarts,
            "max",
            {r["epoch"]: r["reason"] for r in cfg.restart.replay},
        )
        peak_lr = cfg.train.lr
        optimizer = build_optimizer(model, cfg.train, peak_lr)
        total_steps = cfg.train.epochs * self.steps_per_epoch
        scheduler = self._scheduler(optimizer, peak_lr, total_steps)
        best_state: dict[str, Tensor] | None = None
        metrics: dict[str, Any] | None = None  # of the model as it is now
        history: list[EpochEnd] = []

        for epoch in range(cfg.train.epochs):
            start = time.perf_counter()
            loss_fn = build_loss(cfg.loss, counts, epoch, self.device)
            lr = optimizer.param_groups[0]["lr"]
            loss, finite = train_one_epoch(
                model,
                self.batches(cfg.train.augment),
                loss_fn,
                optimizer,
                scheduler,
                self.amp_dtype,
            )
            metrics = self.evaluate(model)
            value = float(metrics[metric]) if finite else math.nan
            event = EpochEnd(
                epoch,
                "train",
                loss,
                lr,
                value,
                _scalars(metrics),
                time.perf_counter() - start,
                finite,
            )
            history.append(event)
            request = emit(event)
            decision, reason = controller.observe(epoch, value, not finite, request)
            if finite and controller.best_epoch == epoch:
                best_state = copy.deepcopy(model.state_dict())
            if decision is Decision.STOP:
                raise TrainingStopped(str(reason), epoch, list(controller.events))
            if decision is Decision.RESTART:
                restart = controller.record(epoch, str(reason), peak_lr, value)
                peak_lr = restart.lr_after
                use_best = cfg.restart.on_restart == "best" and best_state is not None
                model.load_state_dict(best_state if use_best and best_state else init_state)
                metrics = None
                emit(restart)
                remaining = (cfg.train.epochs - epoch - 1) * self.steps_per_epoch
                if remaining > 0:
                    optimizer = build_optimizer(model, cfg.train, peak_lr)
                    scheduler = self._scheduler(optimizer, peak_lr, remaining)

        pre = metrics if metrics is not None else self.evaluate(model)
        pre_value = float(pre[metric])
        final, ft = pre, None
        if cfg.finetune.epochs > 0:
            ft_lr = cfg.train.lr * cfg.finetune.lr_factor
            loss_fn = build_loss(cfg.loss, counts, cfg.train.epochs, self.device)
            ft_optimizer = build_optimizer(model, cfg.train, ft_lr)
            last: dict[str, Any] = {}

            def measure(m: nn.Module) -> float:
                last.clear()
                last.update(self.evaluate(m))
                return float(last[metric])

            clock = [time.perf_counter()]

            def on_epoch(i: int, loss: float, value: float) -> None:
                now = time.perf_counter()
                seconds, clock[0] = now - clock[0], now
                event = EpochEnd(
                    cfg.train.epochs + i,
                    "finetune",
                    loss,
                    ft_lr,
                    value,
                    _scalars(last),
                    seconds,
                    math.isfinite(loss),
                )
                history.append(event)
                emit(event)

            ft = no_aug_finetune(
                model,
                lambda _: self.batches(augment=False),
                loss_fn,
                ft_optimizer,
                measure,
                cfg.finetune.epochs,
                on_epoch,
                self.amp_dtype,
                before=pre_value,
            )
            emit(ft)
            final = dict(last) if last else pre
        return TrainResult(
            model,
            float(final[metric]),
            pre_value,
            final,
            history,
            list(controller.events),
            ft,
            self.steps_per_epoch,
        )


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "confusion"}


def train(
    config: TrickConfig,
    data: DataBundle,
    device: str | torch.device = "cpu",
    listener: Listener | None = None,
) -> TrainResult:
    """Train with ``config`` on ``data``: :meth:`Trainer.fit` in one call."""
    return Trainer(config, data, device).fit(listener)
