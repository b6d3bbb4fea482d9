"""The fit protocol: a fit function trains one trick config and a session answers each epoch.

A *fit function* ``fit(config, session) -> float`` trains the trick config and returns the
validation metric. The :class:`Session` hands out what the config asks for (the loss with
its class weights, the optimizer, the LR schedule) and :meth:`Session.report` returns the
one decision for each epoch: continue, or restart with a new peak LR (restoring the best
weights or not); a stop raises :class:`TrainingStopped`. The session keeps the run's
record (global epochs, restart events, the value before and after the no-aug fine-tune)
and offers :meth:`~Session.checkpoint` / :meth:`~Session.resume`, so a retried run
continues where its original stopped.

Restart-or-stop is decided in one place, :meth:`tricks.restart.RestartController.observe`:
an outside adviser (the search's pruner) only says whether the run looks poor.

A plain loop on the protocol::

    def fit(config, session):
        model, data = build(), load()
        opt = session.optimizer(model)
        sched = session.schedule(opt, steps_per_epoch=len(data))
        for epoch in range(config.train.epochs):
            train_one_epoch(model, data, session.loss_fn(counts, epoch), opt, sched)
            verdict = session.report(epoch, validate(model))
            if verdict.restart:
                model.load_state_dict(best_weights)
                opt = session.optimizer(model)
                sched = session.schedule(opt, len(data), epochs=verdict.epochs_left)
        ...  # the no-aug fine-tune at session.finetune_lr(), then session.report_finetune()
        return session.value
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from tricks.config import TrickConfig
from tricks.factory import build_loss, build_optimizer
from tricks.loop import LossFn
from tricks.restart import Decision, RestartController, RestartEvent, RestartReason
from tricks.schedules import ScheduleLR

__all__ = [
    "Adviser",
    "CheckpointIO",
    "FitFunction",
    "Session",
    "TrainingStopped",
    "Verdict",
    "controller_for",
]

#: ``fit(config, session) -> value``: trains one trick config on the protocol.
FitFunction = Callable[[TrickConfig, "Session"], float]
#: ``adviser(epoch, value) -> bool``: whether an outside judge (a pruner) finds the run poor.
Adviser = Callable[[int, float], bool]


class CheckpointIO(Protocol):
    """Where a session keeps its run's last checkpoint (``search.checkpoints`` for trials)."""

    def save(self, state: dict[str, Any]) -> None: ...
    def load(self) -> dict[str, Any] | None: ...


class TrainingStopped(RuntimeError):
    """The run must stop: poor with no restart left, or diverged with none left."""

    def __init__(self, reason: str, epoch: int, events: list[RestartEvent]) -> None:
        super().__init__(f"training stopped at epoch {epoch}: {reason}, no restarts left")
        self.reason, self.epoch, self.events = reason, epoch, events


@dataclass(frozen=True)
class Verdict:
    """The decision for one epoch: continue, or restart at peak LR ``lr``.

    ``restore_best``: put the best weights back (``restart.on_restart = "best"``), else
    the initial ones. ``epochs_left``: training epochs after this one, which a restarted
    schedule spans.
    """

    decision: Decision
    reason: str | None
    lr: float
    restore_best: bool
    epochs_left: int

    @property
    def restart(self) -> bool:
        return self.decision is Decision.RESTART


def controller_for(config: TrickConfig) -> RestartController:
    """The restart controller of ``config``'s ``[restart]`` table (with its replayed restarts)."""
    r = config.restart
    replay = {item["epoch"]: item["reason"] for item in r.replay}
    return RestartController(r.patience, r.min_delta, r.lr_factor, r.max_restarts, "max", replay)


class Session:
    """One run's side of the fit protocol; see the module docstring.

    Args:
        config: The trick config being trained.
        adviser: Asked after each training epoch whether the run looks poor (the
            search's pruner); a poor run is restarted while restarts and epochs are
            left, else stopped. None: only plateaus and divergence restart.
        store: Where :meth:`checkpoint` writes and :meth:`resume` reads.
    """

    def __init__(
        self,
        config: TrickConfig,
        adviser: Adviser | None = None,
        store: CheckpointIO | None = None,
    ) -> None:
        self.config = config
        self.controller = controller_for(config)
        self.peak_lr = config.train.lr
        self.last_epoch = -1
        self.history: list[dict[str, Any]] = []
        self.pre_finetune_value: float | None = None
        self.value: float | None = None
        #: Set by a fit function that has them: ``train`` writes the model's weights and
        #: shows the test metrics (``{"balanced_accuracy": ..., ...}``); ``ablate`` too.
        self.model: nn.Module | None = None
        self.test: dict[str, Any] | None = None
        self._adviser = adviser
        self._store = store
        self._clock = time.perf_counter()

    # -- what the config asks for --------------------------------------------------------
    @property
    def restarts(self) -> list[RestartEvent]:
        return list(self.controller.events)

    def loss_fn(self, class_counts: list[int], epoch: int, device: Any = "cpu") -> LossFn:
        """The configured loss for ``epoch`` (class weights from their first epoch on)."""
        return build_loss(self.config.loss, class_counts, epoch, torch.device(device))

    def optimizer(self, model: nn.Module, lr: float | None = None) -> torch.optim.Optimizer:
        """The configured optimizer at ``lr`` (default: the current peak LR)."""
        return build_optimizer(model, self.config.train, self.peak_lr if lr is None else lr)

    def schedule(
        self, optimizer: torch.optim.Optimizer, steps_per_epoch: int, epochs: int | None = None
    ) -> ScheduleLR:
        """Warmup then decay over ``epochs`` (default: all training epochs), scaled from the
        configured steps, peaking at the current peak LR. Step it after every batch."""
        sched, total_epochs = self.config.schedule, self.config.train.epochs
        total = total_epochs * steps_per_epoch
        remaining = (total_epochs if epochs is None else epochs) * steps_per_epoch
        scale = remaining / total
        warmup = round(sched.warmup_steps * scale)
        phase = max(warmup + 1, round((sched.phase_steps or total) * scale))
        return ScheduleLR(optimizer, sched.kind, warmup, phase, self.peak_lr, sched.min_lr_factor)

    def finetune_lr(self) -> float:
        """The no-aug fine-tune's LR: the current peak times ``finetune.lr_factor``."""
        return self.peak_lr * self.config.finetune.lr_factor

    # -- the one decision per epoch ------------------------------------------------------
    def report(
        self,
        epoch: int,
        value: float,
        *,
        loss: float = math.nan,
        diverged: bool = False,
        lr: float | None = None,
        seconds: float | None = None,
    ) -> Verdict:
        """Record a training epoch's validation ``value`` and decide.

        ``lr`` (default: the current peak) and ``seconds`` (default: the time since the
        last report, or since the session began) describe the epoch in the record; a
        time budget counts its ``seconds``.

        Raises:
            ValueError: ``epoch`` is not after the last one reported.
            TrainingStopped: The run must stop (no restart left when one was needed).
        """
        if epoch <= self.last_epoch:
            raise ValueError(
                f"session.report: epoch {epoch} is not after epoch {self.last_epoch}; "
                "report global epochs that increase (never restart the count)"
            )
        diverged = diverged or not math.isfinite(value)
        self.last_epoch = epoch
        self._remember(epoch, "train", value, loss, lr, seconds)
        poor = not diverged and self._adviser is not None and self._adviser(epoch, value)
        epochs_left = self.config.train.epochs - epoch - 1
        decision, reason = self.controller.observe(
            epoch, value, diverged, RestartReason.PRUNED.value if poor else None, epochs_left
        )
        if decision is Decision.STOP:
            raise TrainingStopped(str(reason), epoch, self.restarts)
        if decision is Decision.RESTART:
            event = self.controller.record(epoch, str(reason), self.peak_lr, value)
            self.peak_lr = event.lr_after
            self.on_restart(event)
        restore = self.config.restart.on_restart == "best"
        return Verdict(decision, reason, self.peak_lr, restore, epochs_left)

    def report_finetune(
        self, epoch: int, value: float, *, loss: float = math.nan, seconds: float | None = None
    ) -> None:
        """Record a fine-tune epoch (``seconds`` as in :meth:`report`); the last one
        reported is the run's :attr:`value`."""
        if epoch <= self.last_epoch:
            raise ValueError(
                f"session.report_finetune: epoch {epoch} is not after epoch {self.last_epoch}"
            )
        self.last_epoch = epoch
        self._remember(epoch, "finetune", value, loss, self.finetune_lr(), seconds)
        self.value = value

    def finish(self, pre_finetune_value: float, value: float) -> float:
        """Close the run: the metric before and after the fine-tune; returns ``value``."""
        self.pre_finetune_value, self.value = pre_finetune_value, value
        return value

    def on_restart(self, event: RestartEvent) -> None:
        """Called after each restart is recorded (the search writes it to the trial)."""

    def on_epoch(self, row: dict[str, Any]) -> None:
        """Called with each recorded epoch (the search reports it to Optuna)."""

    def _remember(
        self,
        epoch: int,
        phase: str,
        value: float,
        loss: float,
        lr: float | None = None,
        seconds: float | None = None,
    ) -> None:
        lr = self.peak_lr if lr is None else lr
        now = time.perf_counter()
        seconds = now - self._clock if seconds is None else seconds
        self._clock = now
        row = {
            "epoch": epoch,
            "phase": phase,
            "value": value,
            "lr": lr,
            "loss": loss,
            "seconds": seconds,
        }
        self.history.append(row)
        self.on_epoch(row)

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller.state_dict(),
            "peak_lr": self.peak_lr,
            "last_epoch": self.last_epoch,
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.peak_lr, self.last_epoch = state["peak_lr"], state["last_epoch"]
        self.history = list(state["history"])

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Keep the fit function's ``state`` (tensors and plain containers) with the session's
        own; a retried run gets both back from :meth:`resume`. No store: nothing is kept."""
        if self._store is not None:
            self._store.save({"fit": state, "session": self.state_dict()})

    def resume(self) -> dict[str, Any] | None:
        """The state last given to :meth:`checkpoint` by this run's original, with the session
        put back as it was then; None when there is nothing to resume."""
        saved = self._store.load() if self._store is not None else None
        if not saved or "session" not in saved:
            return None
        self.load_state_dict(saved["session"])
        return dict(saved["fit"])
