"""Is evaluation float32 on the device, and does it agree with the CPU's?

Trains the quickstart's small CNN one epoch on ``--device`` (bf16 autocast where the trainer
uses it), then evaluates the same weights with the trainer on that device and on the CPU:
the logits' dtype during evaluation and the share of equal predictions are written to
``--out/eval_check.json``. Part of ``benchmarks/gpu_check.sh``.

    python benchmarks/eval_check.py --device cuda --out benchmarks/results/gpu_check
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from search.study_file import load_study_file
from tricks.data import load_bundle
from tricks.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check"))
    args = parser.parse_args()
    config = load_study_file("studies/quickstart.toml", ["train.epochs=1"]).base
    config.finetune.epochs = 0
    data = load_bundle(config.data, seed=0)
    trainer = Trainer(config, data, args.device)
    model = trainer.fit().model
    dtypes: set[str] = set()
    hook = model.register_forward_hook(lambda m, i, out: dtypes.add(str(out.dtype)))
    on_device = trainer.evaluate(model, "val")
    hook.remove()
    cpu = Trainer(config, data, "cpu")
    cpu_model = model.to("cpu").float()
    on_cpu = cpu.evaluate(cpu_model, "val")
    agree = float((torch.tensor(on_device["confusion"]) == torch.tensor(on_cpu["confusion"]))
                  .all().item())  # fmt: skip
    result = {
        "device": args.device,
        "autocast_in_training": str(trainer.amp_dtype),
        "evaluation_logits_dtype": sorted(dtypes),
        "balanced_accuracy": {
            "device": on_device["balanced_accuracy"],
            "cpu": on_cpu["balanced_accuracy"],
        },
        "same_confusion_matrix": bool(agree),
        "fp32_evaluation": dtypes == {"torch.float32"},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "eval_check.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
