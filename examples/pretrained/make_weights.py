"""Pretrain the small CNN on Fashion-MNIST's five head classes, balanced, and save it.

The stand-in for a backbone pretrained elsewhere (an ImageNet model, the user's own
earlier run): a network that has seen related images and other labels. It trains on the
training images the long-tailed study does not hold out for validation (same seed and
``val_per_class``), classes 0-4 only, all of them (about 5,500 each); its 5-way head is
re-initialised when ``study.toml`` loads it for the 10 classes.

    python examples/pretrained/make_weights.py [--seed 0] [--epochs 8] [--output FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tricks import Trainer, TrickConfig, load_bundle
from tricks.data import DataBundle
from tricks.trainer import EpochEnd

HEAD_CLASSES = 5


def head_classes(bundle: DataBundle, n: int) -> DataBundle:
    """The bundle restricted to classes ``0 .. n-1``."""

    def keep(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = y < n
        return x[mask], y[mask]

    return DataBundle(
        *keep(bundle.x_train, bundle.y_train),
        *keep(bundle.x_val, bundle.y_val),
        *keep(bundle.x_test, bundle.y_test),
        bundle.classes[:n],
        bundle.mean,
        bundle.std,
    )


def _progress(event: object) -> None:
    if isinstance(event, EpochEnd):
        print(f"epoch {event.epoch}: val balanced accuracy {event.value:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="the study's train.seed")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--val-per-class", type=int, default=500, help="the study's value")
    parser.add_argument("--output", type=Path, default=Path("head_classes_small_cnn.pt"))
    args = parser.parse_args()
    config = TrickConfig.from_dict(
        {
            "data": {"imbalance_ratio": 1.0, "val_per_class": args.val_per_class},
            "train": {"epochs": args.epochs, "lr": 0.1, "seed": args.seed},
            "schedule": {"warmup_steps": 100},
            "finetune": {"epochs": 0},
            "restart": {"max_restarts": 0},
        }
    )
    data = head_classes(load_bundle(config.data, seed=args.seed), HEAD_CLASSES)
    trainer = Trainer(config, data)
    result = trainer.fit(_progress)
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    torch.save(state, args.output)
    test = trainer.evaluate(result.model, "test")["balanced_accuracy"]
    print(f"wrote {args.output}: {HEAD_CLASSES} head classes, test balanced accuracy {test:.4f}")


if __name__ == "__main__":
    main()
