"""Random restart: when training stalls, diverges or is told to, restart at a new learning rate."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Decision", "RestartController", "RestartEvent", "RestartReason", "restart_allowed"]


class RestartReason(StrEnum):
    """Why a restart happened."""

    PLATEAU = "plateau"
    PRUNED = "pruned"
    DIVERGED = "diverged"


class Decision(StrEnum):
    """What the training loop should do after an epoch."""

    CONTINUE = "continue"
    RESTART = "restart"
    STOP = "stop"


@dataclass(frozen=True)
class RestartEvent:
    """One restart: at the end of ``epoch`` (global, 0-based) for ``reason``."""

    epoch: int
    reason: str
    lr_before: float
    lr_after: float
    value: float

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def restart_allowed(used: int, allowed: int, epochs_left: float) -> bool:
    """The one rule for every restart: one must be left, and a training epoch after it."""
    return used < allowed and epochs_left > 0


class RestartController:
    """Decides when to restart; the training loop does the restart and reports it back.

    Warm restarts with a changed learning rate follow Loshchilov & Hutter, "SGDR"
    (ICLR 2017), https://arxiv.org/abs/1608.03983; here they are triggered by a
    plateau of the validation metric (``patience`` epochs without an improvement
    of more than ``min_delta``), by a non-finite loss, or from outside (an Optuna
    pruner, say). Each restart multiplies the peak learning rate by
    ``lr_factor``. After ``max_restarts`` restarts a plateau is ignored, while a
    divergence or an outside request becomes :attr:`Decision.STOP`.

    NaN metrics never count as an improvement.

    Args:
        patience: Epochs without improvement before a plateau restart; 0 disables.
        min_delta: Improvement needed to reset the patience counter, >= 0.
        lr_factor: New peak LR = old peak LR * ``lr_factor``, > 0.
        max_restarts: Restarts allowed, >= 0.
        mode: ``"max"`` if a larger metric is better, else ``"min"``.
        replay: Epochs (and reasons) at which to restart unconditionally, as
            recorded by an earlier run; when given, plateaus are not detected.
    """

    def __init__(
        self,
        patience: int = 3,
        min_delta: float = 0.0,
        lr_factor: float = 0.5,
        max_restarts: int = 1,
        mode: str = "max",
        replay: dict[int, str] | None = None,
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience=}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta=}")
        if not lr_factor > 0:
            raise ValueError(f"lr_factor must be > 0, got {lr_factor=}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {max_restarts=}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode=}")
        self.patience = patience
        self.min_delta = min_delta
        self.lr_factor = lr_factor
        self.max_restarts = max_restarts
        self.mode = mode
        self.replay = dict(replay or {})
        self.best: float = math.nan
        self.best_epoch: int = -1
        self.wait = 0
        self.events: list[RestartEvent] = []

    @property
    def restarts_left(self) -> int:
        return self.max_restarts - len(self.events)

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if math.isnan(self.best):
            return True
        delta = value - self.best if self.mode == "max" else self.best - value
        return delta > self.min_delta

    def observe(
        self,
        epoch: int,
        value: float,
        diverged: bool = False,
        request: str | None = None,
        epochs_left: int = 1,
    ) -> tuple[Decision, str | None]:
        """Take one epoch's validation ``value`` and return ``(decision, reason)``.

        A restart is never granted when no training epoch is left after it: a
        plateau is then ignored, and a divergence or an outside request stops.

        Args:
            epoch: Global epoch, 0-based, never repeated across restarts.
            value: The validation metric after that epoch.
            diverged: The epoch's loss was NaN or infinite.
            request: A reason to restart asked for from outside (e.g. "pruned").
            epochs_left: Training epochs that would follow a restart here.

        Returns:
            The decision and its reason (a :class:`RestartReason` value), or
            ``(CONTINUE, None)``.
        """
        if self._improved(value) and not diverged:
            self.best, self.best_epoch, self.wait = value, epoch, 0
        else:
            self.wait += 1
        if diverged:
            reason = RestartReason.DIVERGED.value
        elif epoch in self.replay:
            if not restart_allowed(len(self.events), self.max_restarts, epochs_left):
                return Decision.CONTINUE, None  # recorded where no restart fits now: skip it
            reason = self.replay[epoch]
        elif request is not None:
            reason = request
        elif not self.replay and self.patience and self.wait >= self.patience:
            if not restart_allowed(len(self.events), self.max_restarts, epochs_left):
                return Decision.CONTINUE, None  # a plateau alone never stops a run
            reason = RestartReason.PLATEAU.value
        else:
            return Decision.CONTINUE, None
        if not restart_allowed(len(self.events), self.max_restarts, epochs_left):
            return Decision.STOP, reason
        return Decision.RESTART, reason

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`load_state_dict` needs to continue exactly (a checkpoint's part)."""
        events = [e.to_dict() for e in self.events]
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "events": events,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.events = [RestartEvent(**e) for e in state["events"]]

    def record(self, epoch: int, reason: str, lr_before: float, value: float) -> RestartEvent:
        """Record a restart the loop performed; returns the event with the new peak LR."""
        event = RestartEvent(epoch, reason, lr_before, lr_before * self.lr_factor, value)
        self.events.append(event)
        self.wait = 0
        return event
