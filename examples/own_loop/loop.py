"""A plain PyTorch training loop written as a tricksearch fit function.

``fit(config, session)`` trains the trick config it is given and returns the validation
balanced accuracy. Everything is the loop's own (its model, ``DataLoader``, optimizer
steps, augmentation, fine-tune); the session hands out what the config asks for (the loss
with its class weights, the optimizer, the warmup-then-decay schedule) and answers each
epoch: continue, or restart at a new peak LR. A study names it as ``[study] fit =
"loop:fit"``; ``objective.py`` is the same loop under a hand-written Optuna objective.

The data here comes from tricksearch's Fashion-MNIST-LT loader for brevity (the study's
``[data]`` table); put your own Datasets in its place.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from tricks.config import TrickConfig
from tricks.data import load_bundle
from tricks.metrics import classification_metrics
from tricks.session import Session


def small_cnn(num_classes: int) -> nn.Module:
    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.MaxPool2d(2))  # fmt: skip

    return nn.Sequential(block(1, 8), block(8, 16), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, num_classes))  # fmt: skip


def loaders(config: TrickConfig) -> tuple[DataLoader, DataLoader, DataLoader, list[int]]:
    """Shuffled training batches, validation and test batches, and the class counts."""
    data = load_bundle(config.data, seed=config.train.seed)

    def scaled(x: Tensor) -> Tensor:
        return (x.float() / 255 - data.mean[0]) / data.std[0]

    gen = torch.Generator().manual_seed(config.train.seed)
    bs = config.train.batch_size
    train = DataLoader(TensorDataset(scaled(data.x_train), data.y_train), bs, True, generator=gen)
    val = DataLoader(TensorDataset(scaled(data.x_val), data.y_val), 256)
    test = DataLoader(TensorDataset(scaled(data.x_test), data.y_test), 256)
    return train, val, test, data.class_counts


@torch.no_grad()
def evaluate(model: nn.Module, batches: DataLoader, num_classes: int) -> dict[str, Any]:
    model.eval()
    preds, targets = zip(*[(model(x).argmax(1), y) for x, y in batches], strict=True)
    return classification_metrics(torch.cat(preds), torch.cat(targets), num_classes)


def train_epoch(model, batches, loss_fn, opt, sched=None, augment: bool = True) -> float:  # type: ignore[no-untyped-def]
    model.train()
    total, count = 0.0, 0
    for x, y in batches:
        if augment:  # this loop's own augmentation: a random horizontal flip per image
            flip = torch.rand(len(x)) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        total, count = total + loss.item() * len(y), count + len(y)
    return total / count


def fit(config: TrickConfig, session: Session) -> float:
    """Train ``config``; the session decides restarts; returns the value after the fine-tune."""
    torch.manual_seed(config.train.seed)
    train, val, test, counts = loaders(config)
    model = small_cnn(len(counts))
    initial, best = copy.deepcopy(model.state_dict()), copy.deepcopy(model.state_dict())
    opt = session.optimizer(model)
    span, sched = config.train.epochs, session.schedule(opt, len(train))
    first, metric = 0, config.train.metric
    saved = session.resume()  # a retried trial continues from its last checkpoint
    if saved is not None:
        model.load_state_dict(saved["model"])
        best, span = saved["best"], saved["span"]
        opt = session.optimizer(model)
        sched = session.schedule(opt, len(train), span)
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict({**sched.state_dict(), **saved["schedule"]})
        train.generator.set_state(saved["generator"])  # type: ignore[union-attr]
        torch.set_rng_state(saved["rng"])
        first = saved["epoch"] + 1
    for epoch in range(first, config.train.epochs):
        loss = train_epoch(model, train, session.loss_fn(counts, epoch), opt, sched)
        value = float(evaluate(model, val, len(counts))[metric])
        verdict = session.report(epoch, value, loss=loss)  # raises TrainingStopped to stop
        if session.controller.best_epoch == epoch:
            best = copy.deepcopy(model.state_dict())
        if verdict.restart:
            model.load_state_dict(best if verdict.restore_best else initial)
            opt = session.optimizer(model)
            span, sched = (
                verdict.epochs_left,
                session.schedule(opt, len(train), verdict.epochs_left),
            )
        session.checkpoint(
            {"epoch": epoch, "model": model.state_dict(), "best": best, "span": span,
             "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
             "schedule": {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"},
             "generator": train.generator.get_state()}  # type: ignore[union-attr]
        )  # fmt: skip
    pre = value = float(evaluate(model, val, len(counts))[metric])
    ft_opt = session.optimizer(model, session.finetune_lr())  # the no-aug fine-tune
    for i in range(config.finetune.epochs):
        loss_fn = session.loss_fn(counts, config.train.epochs)
        loss = train_epoch(model, train, loss_fn, ft_opt, augment=config.finetune.augment)
        value = float(evaluate(model, val, len(counts))[metric])
        session.report_finetune(config.train.epochs + i, value, loss=loss)
    session.model, session.test = model, evaluate(model, test, len(counts))
    return session.finish(pre, value)
