"""Throughput: the tricksearch trainer vs the standard torchvision + DataLoader pipeline.

Same model (small CNN), batch size, augmentation (random crop with padding 2, horizontal
flip), device and data (Fashion-MNIST-LT, ratio 100). Runs alternate, several
repetitions; medians and the ratio are reported, then where the trainer's time goes and
the model's achieved FLOP/s against a measured matmul peak.

    python benchmarks/throughput.py [--reps 5] [--device cpu] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from tricks.augment import normalize, random_crop_flip
from tricks.config import TrickConfig
from tricks.data import default_data_root, load_bundle, split_long_tailed
from tricks.models import SmallCNN
from tricks.trainer import Trainer


def timed_epoch(batches: Iterable, model: torch.nn.Module, opt, device: str) -> float:
    """One training epoch over ``batches``; the same loop times every pipeline.

    Batches from a DataLoader are copied to the device here, as in Optuna's PyTorch
    example; the trainer's are already there (``.to`` is then a no-op).
    """
    model.train()
    start = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def breakdown(trainer: Trainer, device: str) -> dict[str, float]:
    """Seconds per phase over one epoch of the trainer (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    cfg = trainer.config.train
    model = SmallCNN(1, 10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    t = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    data = trainer.data
    order = torch.randperm(len(data.y_train), device=device)
    for start in range(0, len(order), cfg.batch_size):
        t0 = time.perf_counter()
        idx = order[start : start + cfg.batch_size]
        x = normalize(
            random_crop_flip(data.x_train[idx], cfg.crop_padding, True), trainer.mean, trainer.std
        )
        y = data.y_train[idx]
        sync()
        t1 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        sync()
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync()
        t3 = time.perf_counter()
        opt.step()
        sync()
        t4 = time.perf_counter()
        t["data"] += t1 - t0
        t["forward"] += t2 - t1
        t["backward"] += t3 - t2
        t["optimizer"] += t4 - t3
    t0 = time.perf_counter()
    trainer.evaluate(model)
    sync()
    t["evaluation"] = time.perf_counter() - t0
    return t


def flops_per_epoch(trainer: Trainer, device: str) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = SmallCNN(1, 10).to(device)
    bs = trainer.config.train.batch_size
    x = torch.randn(bs, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (bs,), device=device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() * len(trainer.data.y_train) / bs


def matmul_peak(device: str, n: int = 2048, reps: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--loader-workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    device = args.device
    torch.manual_seed(0)
    cfg = TrickConfig.from_dict({"train": {"batch_size": args.batch_size}})
    bundle = load_bundle(cfg.data, seed=0)
    trainer = Trainer(cfg, bundle, device)

    # The same long-tailed subset through torchvision's dataset, transforms and DataLoader.
    root = default_data_root()
    tv_train = datasets.FashionMNIST(
        str(root),
        train=True,
        download=False,
        transform=transforms.Compose(
            [
                transforms.RandomCrop(28, padding=2),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(bundle.mean, bundle.std),
            ]
        ),
    )
    train_idx, _ = split_long_tailed(
        tv_train.targets,
        10,
        cfg.data.imbalance_ratio,
        cfg.data.val_per_class,
        cfg.data.max_per_class,
        seed=0,
    )
    subset = Subset(tv_train, train_idx.tolist())
    assert len(subset) == len(bundle.y_train)

    arms = {"tricksearch trainer": None}
    for w in args.loader_workers:
        arms[f"torchvision DataLoader (num_workers={w})"] = DataLoader(
            subset,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=w,
            persistent_workers=w > 0,
            pin_memory=device.startswith("cuda"),
        )
    times: dict[str, list[float]] = {k: [] for k in arms}
    for rep in range(args.reps + 1):  # the first round warms up and is dropped
        for name, loader in arms.items():
            model = SmallCNN(1, 10).to(device)
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            batches = trainer.batches(augment=True) if loader is None else loader
            seconds = timed_epoch(batches, model, opt, device)
            if rep:
                times[name].append(seconds)
            print(f"rep {rep} {name}: {seconds:.2f}s", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    ours = med["tricksearch trainer"]
    phases = breakdown(trainer, device)
    flops = flops_per_epoch(trainer, device)
    compute = phases["forward"] + phases["backward"] + phases["optimizer"]
    peak = matmul_peak(device)
    result = {
        "device": device,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "train_images": len(bundle.y_train),
        "batch_size": args.batch_size,
        "reps": args.reps,
        "median_epoch_seconds": med,
        "epochs_per_second": {k: 1 / v for k, v in med.items()},
        "speedup_vs": {k: v / ours for k, v in med.items() if k != "tricksearch trainer"},
        "trainer_breakdown_seconds": phases,
        "model_flops_per_epoch": flops,
        "achieved_flops_per_second": flops / compute,
        "matmul_peak_flops_per_second": peak,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"throughput_{device.replace(':', '')}.json").write_text(json.dumps(result, indent=2))
    lines = [
        f"| pipeline ({device}, batch {args.batch_size}, {len(bundle.y_train)} images) "
        "| median s/epoch | epochs/s | trainer speed-up |",
        "|---|---|---|---|",
    ]
    for k, v in med.items():
        ratio = (
            "1.00x (baseline for the others)" if k == "tricksearch trainer" else f"{v / ours:.2f}x"
        )
        lines.append(f"| {k} | {v:.2f} | {1 / v:.3f} | {ratio} |")
    total = sum(phases.values())
    lines += ["", "| trainer phase | s/epoch | share |", "|---|---|---|"]
    lines += [f"| {k} | {v:.2f} | {v / total * 100:.0f}% |" for k, v in phases.items()]
    lines += [
        "",
        f"Model: {flops / 1e9:.2f} GFLOP per epoch (forward + backward); achieved "
        f"{flops / compute / 1e9:.1f} GFLOP/s in forward+backward+optimizer vs a measured "
        f"{peak / 1e9:.1f} GFLOP/s float32 matmul peak ({flops / compute / peak * 100:.0f}%).",
    ]
    (out / f"throughput_{device.replace(':', '')}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
