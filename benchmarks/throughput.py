"""Throughput: the tricksearch trainer vs the standard torchvision + DataLoader pipeline.

Same model (small CNN), batch size, augmentation (random crop with padding 2, horizontal
flip), device and data (Fashion-MNIST-LT, ratio 100). Arms: the trainer in its chosen
layout (channels-last), the trainer's old NCHW path, and torchvision's DataLoader with 0
and 2 workers. Runs alternate, several repetitions; medians and ratios are reported, then
where the trainer's time goes and its share, per phase, of the peak its own convolutions
reach alone in the same layout (the op-mix peak), beside a float32 matmul peak.

    python benchmarks/throughput.py [--reps 5] [--device cpu] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision import datasets, transforms

from search.device import describe_device
from tricks.config import TrickConfig
from tricks.data import DataBundle, default_data_root, load_bundle, split_long_tailed
from tricks.loop import evaluate
from tricks.streaming import StreamData

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import write_results

from tricks.trainer import Trainer, amp_dtype_for


def timed_epoch(
    batches: Iterable, model: torch.nn.Module, opt, device: str, amp: torch.dtype | None = None
) -> float:
    """One training epoch over ``batches``; the same loop times every pipeline.

    Batches from a DataLoader are copied to the device here, as in Optuna's PyTorch
    example; the trainer's are already there (``.to`` is then a no-op).
    """
    model.train()
    start = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=amp) if amp else contextlib.nullcontext():
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def breakdown(trainer: Trainer, device: str) -> dict[str, float]:
    """Seconds per phase over one epoch of the trainer (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    model = trainer.build_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    t = {"data": 0.0, "forward": 0.0, "backward": 0.0, "optimizer": 0.0}
    batches = trainer.batches(augment=True)
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        if batch is None:
            break
        x, y = batch
        sync()
        t1 = time.perf_counter()
        with _autocast(trainer):
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


def _autocast(trainer: Trainer):  # type: ignore[no-untyped-def]
    if trainer.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(trainer.device.type, dtype=trainer.amp_dtype)


def _input_shape(trainer: Trainer) -> tuple[int, ...]:
    """One in-memory training image's shape (the benchmark's data is in memory)."""
    assert isinstance(trainer.data, DataBundle)
    return tuple(trainer.data.x_train.shape[1:])


def model_flops(trainer: Trainer, n: int, backward: bool) -> float:
    """FLOPs of ``n`` images through the model: forward, or forward + backward."""
    from torch.utils.flop_counter import FlopCounterMode

    model = trainer.build_model()
    bs = trainer.config.train.batch_size
    x = torch.randn(bs, *_input_shape(trainer), device=trainer.device)
    x = x.contiguous(memory_format=trainer.memory_format)
    y = torch.randint(0, trainer.data.num_classes, (bs,), device=trainer.device)
    with FlopCounterMode(display=False) as counter:
        loss = F.cross_entropy(model(x), y)
        if backward:
            loss.backward()
    return counter.get_total_flops() * n / bs


def _best_seconds(fn, device: str, reps: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def op_mix_peak(trainer: Trainer, device: str, reps: int = 30) -> dict[str, float]:
    """The FLOP/s the model's own convolutions reach alone, in the trainer's layout and dtype.

    Each ``Conv2d`` of the model is timed on its own at the shape it sees in training
    (the batch size, the chosen memory format, bf16 autocast on CUDA), forward and
    forward + backward, best of ``reps``. The ratio of their FLOPs to their summed
    best times is what the hardware gives this op mix; the trainer's share of it says
    how much is lost around the convolutions (normalisation, activations, pooling,
    data, Python). A square float32 matmul peak is reported beside it.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = trainer.build_model()
    shapes: list[tuple[torch.nn.Conv2d, torch.Size]] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: shapes.append((mod, inp[0].shape)))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    bs = trainer.config.train.batch_size
    with torch.no_grad():
        model(torch.randn(bs, *_input_shape(trainer), device=device))
    for h in hooks:
        h.remove()
    flops = {"forward": 0.0, "backward": 0.0}
    secs = {"forward": 0.0, "backward": 0.0}
    for i, (conv, shape) in enumerate(shapes):
        x = torch.randn(shape, device=device).contiguous(memory_format=trainer.memory_format)
        x.requires_grad_(i > 0)  # the first layer's input is data: no gradient

        def fwd(conv: torch.nn.Conv2d = conv, x: torch.Tensor = x) -> torch.Tensor:
            with _autocast(trainer):
                return conv(x)

        def fwd_bwd(fwd=fwd) -> None:  # type: ignore[no-untyped-def]
            fwd().float().sum().backward()

        with FlopCounterMode(display=False) as c_f:
            fwd()
        with FlopCounterMode(display=False) as c_fb:
            fwd_bwd()
        t_f = _best_seconds(fwd, device, reps)
        t_fb = _best_seconds(fwd_bwd, device, reps)
        flops["forward"] += c_f.get_total_flops()
        flops["backward"] += c_fb.get_total_flops() - c_f.get_total_flops()
        secs["forward"] += t_f
        secs["backward"] += max(t_fb - t_f, 1e-9)
    return {
        "forward": flops["forward"] / secs["forward"],
        "backward": flops["backward"] / secs["backward"],
        "matmul_fp32": matmul_peak(device),
    }


def matmul_peak(device: str, n: int = 2048, reps: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    return 2 * n**3 / _best_seconds(lambda: a @ b, device, reps)


def loader_arm(bundle, cfg: TrickConfig, batch_size: int, workers: int, device: str) -> DataLoader:
    """The same long-tailed subset through torchvision's dataset, transforms and DataLoader."""
    tv_train = datasets.FashionMNIST(
        str(default_data_root()),
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
    return DataLoader(
        subset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.startswith("cuda"),
    )


NEW, OLD = "tricksearch trainer (channels_last)", "tricksearch trainer, old NCHW path"
STREAMED = "tricksearch trainer, streamed (DataLoader, num_workers={})"


def streamed(bundle: DataBundle, workers: int) -> StreamData:
    """The same uint8 tensors as Datasets read through DataLoaders, as factory data and image
    folders are: per-item indexing and collation instead of whole-batch slicing, then the
    same augmentation and normalisation on the device."""
    return StreamData(
        TensorDataset(bundle.x_train, bundle.y_train),
        TensorDataset(bundle.x_train, bundle.y_train),
        TensorDataset(bundle.x_val, bundle.y_val),
        TensorDataset(bundle.x_test, bundle.y_test),
        bundle.classes,
        bundle.class_counts,
        bundle.in_channels,
        bundle.mean,
        bundle.std,
        workers,
    )


def measure_arms(args, cfg, bundle) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Alternating reps of every arm: training epochs, and full trainer epochs with evaluation."""
    device = args.device
    trainers = {
        NEW: Trainer(cfg, bundle, device),
        OLD: Trainer(
            cfg.model_copy(
                update={"train": cfg.train.model_copy(update={"memory_format": "contiguous"})}
            ),
            bundle,
            device,
        ),
    }
    # DataLoader arms train the model as a user writes it (NCHW), as in Optuna's PyTorch
    # example; one more arm gives the DataLoader the channels-last model, to separate
    # what the layout gains from what keeping the data on the device gains.
    arms: dict[str, tuple[Trainer | Iterable[Any], Trainer]] = {NEW: (trainers[NEW], trainers[NEW])}
    arms[OLD] = (trainers[OLD], trainers[OLD])
    for w in args.stream_workers:
        trainer = Trainer(cfg, streamed(bundle, w), device)
        arms[STREAMED.format(w)] = (trainer, trainer)
    for w in args.loader_workers:
        loader = loader_arm(bundle, cfg, args.batch_size, w, device)
        arms[f"torchvision DataLoader (num_workers={w})"] = (loader, trainers[OLD])
        if w == 0:
            arms[f"torchvision DataLoader (num_workers={w}), channels_last model"] = (
                loader,
                trainers[NEW],
            )
    times: dict[str, list[float]] = {k: [] for k in arms}
    full: dict[str, list[float]] = {
        k: [] for k, (arm, _) in arms.items() if isinstance(arm, Trainer)
    }
    for rep in range(args.reps + 1):  # the first round warms up and is dropped
        for name, (arm, trainer) in arms.items():
            model = trainer.build_model()
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
            batches = arm.batches(augment=True) if isinstance(arm, Trainer) else arm
            seconds = timed_epoch(batches, model, opt, device, trainer.amp_dtype)
            line = f"rep {rep} {name}: {seconds:.2f}s"
            if isinstance(arm, Trainer):
                # The old path evaluated in batches of 1024; the new one picks per device.
                eval_bs = 1024 if name == OLD else None
                start = time.perf_counter()
                evaluate(model, arm.eval_batches("val", eval_bs), bundle.num_classes)
                evaluation = time.perf_counter() - start
                line += f" + evaluation {evaluation:.2f}s"
                if rep:
                    full[name].append(seconds + evaluation)
            if rep:
                times[name].append(seconds)
            print(line, flush=True)
    return times, full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--loader-workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--stream-workers", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    device = args.device
    torch.manual_seed(0)
    cfg = TrickConfig.from_dict({"train": {"batch_size": args.batch_size}})
    bundle = load_bundle(cfg.data, seed=0)
    times, full = measure_arms(args, cfg, bundle)
    trainer = Trainer(cfg, bundle, device)
    phases = breakdown(trainer, device)
    flops, peak, share = efficiency(trainer, bundle, phases, device)
    result = summary(args, bundle, times, full)
    result.update(
        trainer_breakdown_seconds=phases,
        model_flops=flops,
        op_mix_peak_flops_per_second=peak,
        share_of_op_mix_peak=share,
    )
    med = result["median_epoch_seconds"]
    lines = table(
        result, med, result["median_epoch_with_evaluation_seconds"], phases, share, peak, flops
    )
    write_results(args.out, f"throughput_{device.replace(':', '')}", lines, result)


def efficiency(trainer: Trainer, bundle: DataBundle, phases: dict[str, float], device: str):  # type: ignore[no-untyped-def]
    """FLOPs per phase, the op-mix peak and each phase's share of it."""
    n_train, n_val = len(bundle.y_train), len(bundle.y_val)
    flops = {
        "forward": model_flops(trainer, n_train, backward=False),
        "backward": model_flops(trainer, n_train, True) - model_flops(trainer, n_train, False),
        "evaluation": model_flops(trainer, n_val, backward=False),
    }
    peak = op_mix_peak(trainer, device)
    share = {
        "forward": flops["forward"] / phases["forward"] / peak["forward"],
        "backward": flops["backward"] / phases["backward"] / peak["backward"],
        "evaluation": flops["evaluation"] / phases["evaluation"] / peak["forward"],
    }
    train_time = sum(phases[k] for k in ("data", "forward", "backward", "optimizer"))
    work = flops["forward"] + flops["backward"]
    ideal = flops["forward"] / peak["forward"] + flops["backward"] / peak["backward"]
    share["training step (data + fwd + bwd + opt)"] = work / train_time / (work / ideal)
    return flops, peak, share


def summary(args, bundle: DataBundle, times, full) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Medians and ratios of the arms, side by side with the in-memory trainer."""
    med = {k: statistics.median(v) for k, v in times.items()}
    med_full = {k: statistics.median(v) for k, v in full.items()}
    ours = med[NEW]
    return {
        "device": args.device,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "device_name": describe_device(args.device),
        "autocast": str(amp_dtype_for(torch.device(args.device))),
        "torch": torch.__version__,
        "train_images": len(bundle.y_train),
        "batch_size": args.batch_size,
        "reps": args.reps,
        "median_epoch_seconds": med,
        "median_epoch_with_evaluation_seconds": med_full,
        "epochs_per_second": {k: 1 / v for k, v in med.items()},
        "speedup_vs": {k: v / ours for k, v in med.items() if k != NEW},
        "streamed_vs_in_memory_epochs_per_second": {
            k: med_full[NEW] / v for k, v in med_full.items() if k.startswith(STREAMED[:30])
        },
    }


def table(result, med, med_full, phases, share, peak, flops) -> list[str]:  # type: ignore[no-untyped-def]
    ours = med[NEW]
    lines = [
        f"| training epoch ({result['device']}, batch {result['batch_size']}, "
        f"{result['train_images']} images, median of {result['reps']}) "
        "| s/epoch | epochs/s | channels_last trainer speed-up |",
        "|---|---|---|---|",
    ]
    for k, v in med.items():
        ratio = "1.00x (baseline for the others)" if k == NEW else f"{v / ours:.2f}x"
        lines.append(f"| {k} | {v:.2f} | {1 / v:.3f} | {ratio} |")
    lines += ["", "| full trainer epoch (training + validation pass) | s/epoch | speed-up |"]
    lines += ["|---|---|---|"]
    for k, v in med_full.items():
        lines.append(f"| {k} | {v:.2f} | {med_full[OLD] / v:.2f}x |")
    for k, ratio in result["streamed_vs_in_memory_epochs_per_second"].items():
        lines.append(f"\n{k}: {ratio:.2f}x the in-memory trainer's full epochs per second")
    total = sum(phases.values())
    lines += [
        "",
        "| trainer phase (channels_last) | s/epoch | share of epoch | share of op-mix peak |",
    ]
    lines += ["|---|---|---|---|"]
    for k, v in phases.items():
        peak_share = f"{share[k] * 100:.0f}%" if k in share else "-"
        lines.append(f"| {k} | {v:.2f} | {v / total * 100:.0f}% | {peak_share} |")
    step = share["training step (data + fwd + bwd + opt)"]
    lines += [
        "",
        f"Op-mix peak (the model's convolutions alone, same layout, best of 30): forward "
        f"{peak['forward'] / 1e9:.1f} GFLOP/s, backward {peak['backward'] / 1e9:.1f} GFLOP/s; "
        f"float32 {2048}x{2048} matmul {peak['matmul_fp32'] / 1e9:.1f} GFLOP/s. Model: "
        f"{(flops['forward'] + flops['backward']) / 1e9:.1f} GFLOP per training epoch. "
        f"The whole training step reaches {step * 100:.0f}% of the op-mix peak.",
    ]
    return lines


if __name__ == "__main__":
    main()
