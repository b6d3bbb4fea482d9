"""One trick at a time switched off: the variants of a trick config that an ablation trains."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from tricks.config import LossKind, TrickConfig

__all__ = ["TRICKS", "Variant", "variants"]


@dataclass(frozen=True)
class Variant:
    """A config with one trick changed; ``trick`` names what the difference measures."""

    trick: str
    change: str
    config: TrickConfig


def _finetune_off(c: TrickConfig) -> str:
    c.finetune.epochs = 0
    return "no fine-tune"


def _finetune_with_aug(c: TrickConfig) -> str:
    c.finetune.augment = True
    return "the same fine-tune epochs with augmentation (the fair control)"


def _weights_off(c: TrickConfig) -> str:
    unweighted: dict[str, LossKind] = {"weighted_ce": "ce", "weighted_focal": "focal"}
    c.loss.kind = unweighted[c.loss.kind]
    return f"unweighted {c.loss.kind}"


def _deferral_off(c: TrickConfig) -> str:
    c.loss.weights_from_epoch = 0
    return "class weights from the first epoch"


def _focal_off(c: TrickConfig) -> str:
    c.loss.focal_gamma = 0.0
    return "gamma 0 (cross entropy of the same weighting)"


def _balanced_softmax_off(c: TrickConfig) -> str:
    c.loss.kind = "ce"
    return "plain cross entropy"


def _warmup_off(c: TrickConfig) -> str:
    c.schedule.warmup_steps = 0
    return "no warmup"


def _other_decay(c: TrickConfig) -> str:
    c.schedule.kind = "tanh" if c.schedule.kind == "cosine" else "cosine"
    return f"{c.schedule.kind} decay instead"


def _restarts_off(c: TrickConfig) -> str:
    c.restart.max_restarts, c.restart.replay = 0, []
    return "no restarts (recorded ones not replayed)"


#: (trick, applies to a config, switch it off). The difference config - variant is what the
#: trick did: positive means the trick helped.
TRICKS: tuple[tuple[str, Callable[[TrickConfig], bool], Callable[[TrickConfig], str]], ...] = (
    ("no-aug fine-tune", lambda c: c.finetune.epochs > 0 and not c.finetune.augment, _finetune_off),
    (
        "no-aug fine-tune vs augmented control",
        lambda c: c.finetune.epochs > 0 and not c.finetune.augment,
        _finetune_with_aug,
    ),
    ("class weights", lambda c: c.loss.weighted, _weights_off),
    ("deferred re-weighting", lambda c: c.loss.weighted and c.loss.weights_from_epoch > 0,
     _deferral_off),
    ("focal loss", lambda c: "focal" in c.loss.kind and c.loss.focal_gamma > 0, _focal_off),
    ("balanced softmax", lambda c: c.loss.kind == "balanced_softmax", _balanced_softmax_off),
    ("warmup", lambda c: c.schedule.warmup_steps > 0, _warmup_off),
    ("decay shape (cosine vs tanh)", lambda c: True, _other_decay),
    ("restarts", lambda c: c.restart.max_restarts > 0 or bool(c.restart.replay), _restarts_off),
)  # fmt: skip


def variants(config: TrickConfig) -> tuple[list[Variant], list[str]]:
    """The variants of ``config`` with one applicable trick switched off.

    Returns:
        The variants, and the names of the tricks ``config`` does not use (no variant:
        switching off what is not there would measure nothing).
    """
    out, absent = [], []
    for trick, applies, switch_off in TRICKS:
        if not applies(config):
            absent.append(trick)
            continue
        changed = copy.deepcopy(config)
        change = switch_off(changed)
        changed.provenance = {}
        changed.check()
        out.append(Variant(trick, change, changed))
    return out, absent
