"""Search efficiency and the tricks' claims on Fashion-MNIST-LT (ratio 100).

Arms, each with the same budget of training epochs (every epoch counts: pruned trials,
restarts and fine-tune epochs included), over several seeds:

  a  plain recipe: cross entropy, warmup + cosine, no fine-tune, trained once
  b  random search over the trick space, no restarts, no fine-tune
  c  Optuna's standard way: TPE + MedianPruner (pruned = killed), no fine-tune
  d0 TPE + MedianPruner (killed) + no-aug fine-tune: tricksearch without restarts
  d  tricksearch: TPE + restart-on-prune(Median) + no-aug fine-tune
  e  d with Hyperband as the wrapped pruner

Each arm's best config is selected on validation only; its test balanced accuracy is
measured on the held-out test split (each completed trial's final model is scored on
test when it finishes, for reporting only). Then the claims: the fine-tune against an
equal-epochs *augmented* control, focal vs class-weighted CE, tanh vs cosine, and
whether restarts recover.

    python benchmarks/search_efficiency.py --quick        # ~10 min: 1 seed, small budget
    python benchmarks/search_efficiency.py                # the published numbers
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search.objective import Objective, TrialOutcome  # noqa: E402
from search.pruner import RestartOnPrunePruner  # noqa: E402
from search.study_file import load_study_file  # noqa: E402
from tricks.data import load_bundle  # noqa: E402
from tricks.factory import build_loss, build_optimizer  # noqa: E402
from tricks.finetune import no_aug_finetune  # noqa: E402
from tricks.trainer import Trainer  # noqa: E402

METRIC = "balanced_accuracy"


def arm_settings(name: str) -> dict[str, Any]:
    sampler = "RandomSampler" if name == "b" else "TPESampler"
    pruner = {"b": "NopPruner", "e": "HyperbandPruner"}.get(name, "MedianPruner")
    tricks = name in ("d", "e")
    finetune = name in ("d0", "d", "e")
    return {"sampler": sampler, "pruner": pruner, "restarts": tricks, "finetune": finetune}


def make_spec(args: argparse.Namespace, name: str, seed: int):
    s = arm_settings(name)
    overrides = [
        f"train.epochs={args.epochs}",
        f"train.seed={seed}",
        f"data.max_per_class={args.max_per_class}",
        f"data.val_per_class={args.val_per_class}",
        f"sampler.name={s['sampler']}",
        f"pruner.name={s['pruner']}",
    ]
    if s["pruner"] == "MedianPruner":
        overrides.append("pruner.kwargs={n_startup_trials = 3, n_warmup_steps = 1}")
    elif s["pruner"] == "HyperbandPruner":
        overrides.append(
            f"pruner.kwargs={{min_resource = 1, max_resource = {args.epochs}, "
            "reduction_factor = 3}"
        )
    else:
        overrides.append("pruner.kwargs={}")
    overrides.append(
        "sampler.kwargs={n_startup_trials = 4}"
        if s["sampler"] == "TPESampler"
        else "sampler.kwargs={}"
    )
    spec = load_study_file(ROOT / "studies" / "fashion_mnist_lt.toml", overrides)
    if not s["restarts"]:
        spec.base.restart.max_restarts = 0
        spec.base.restart.patience = 0
        for key in ("max_restarts", "restart_lr_factor", "plateau_patience"):
            spec.space.pop(key, None)
    if not s["finetune"]:
        spec.base.finetune.epochs = 0
        for key in ("finetune_epochs", "finetune_lr_factor"):
            spec.space.pop(key, None)
    return spec


class Scorer:
    """After each completed trial, score its final model on the test split (never selected on)."""

    def __init__(self, data) -> None:
        self.data = data

    def __call__(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        if outcome.result is None:
            return
        trainer = Trainer(outcome.config, self.data, "cpu")
        test = trainer.evaluate(outcome.result.model, "test")
        trial.set_user_attr("test_balanced_accuracy", float(test[METRIC]))


def epochs_of(t: optuna.trial.FrozenTrial) -> int:
    return len(t.user_attrs.get("curve", []))


def run_arm(args, name: str, seed: int, data, workdir: Path) -> dict[str, Any]:
    spec = make_spec(args, name, seed)
    if name == "a":
        cfg = copy.deepcopy(spec.base)
        cfg.loss.kind, cfg.schedule.kind = "ce", "cosine"
        cfg.schedule.warmup_steps = round(
            0.05 * cfg.train.epochs * math.ceil(len(data.y_train) / cfg.train.batch_size)
        )
        trainer = Trainer(cfg, data, "cpu")
        result = trainer.fit()
        test = trainer.evaluate(result.model, "test")
        return {
            "arm": name,
            "seed": seed,
            "val": result.value,
            "test": float(test[METRIC]),
            "epochs": cfg.train.epochs,
            "trace": [(cfg.train.epochs, result.value)],
            "trials": [],
        }
    storage = f"sqlite:///{workdir / f'{name}-{seed}.db'}"
    from search.study_file import make_pruner, make_sampler

    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        sampler=make_sampler(spec, seed=seed),
        pruner=RestartOnPrunePruner(
            make_pruner(spec), spec.grace_epochs, spec.base.restart.max_restarts
        ),
    )
    objective = Objective(spec, data, "cpu", after_trial=Scorer(data))
    spent = 0
    while spent < args.budget:
        study.optimize(objective, n_trials=1)
        spent = sum(epochs_of(t) for t in study.trials)
    trace, best_val, best_test = [], -1.0, None
    spent = 0
    for t in study.trials:
        spent += epochs_of(t)
        if t.state == optuna.trial.TrialState.COMPLETE and t.value > best_val:
            best_val, best_test = t.value, t.user_attrs.get("test_balanced_accuracy")
        trace.append((spent, best_val))
    trials = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "last": t.intermediate_values[t.last_step] if t.last_step is not None else None,
            "epochs": epochs_of(t),
            "params": t.params,
            "config": t.user_attrs.get("trick_config"),
            "pre_finetune": t.user_attrs.get("pre_finetune_value"),
            "test": t.user_attrs.get("test_balanced_accuracy"),
            "restarts": t.user_attrs.get("restarts", []),
        }
        for t in study.trials
    ]
    return {
        "arm": name,
        "seed": seed,
        "val": best_val,
        "test": best_test,
        "epochs": spent,
        "trace": trace,
        "trials": trials,
    }


def epochs_to_within(trace: list[tuple[int, float]], final: float, points: float = 0.5) -> int:
    return next(e for e, v in trace if v >= final - points / 100)


def finetune_control(args, runs: list[dict], data) -> list[dict[str, float]]:
    """The best arm-d config per seed: no-aug fine-tune vs the same epochs with augmentation."""
    out = []
    for run in runs:
        done = [t for t in run["trials"] if t["state"] == "complete" and t["config"]]
        if not done:
            continue
        best = max(done, key=lambda t: t["value"])
        from tricks.config import TrickConfig

        cfg = TrickConfig.from_dict({**best["config"]})
        epochs, lr_factor = cfg.finetune.epochs, cfg.finetune.lr_factor
        cfg.finetune.epochs = 0
        trainer = Trainer(cfg, data, "cpu")
        model = trainer.fit().model
        row: dict[str, float] = {"seed": run["seed"], "epochs": epochs}
        for label, augment in (("no_aug", False), ("with_aug", True)):
            gain, test = _finetune_branch(trainer, model, cfg, lr_factor, epochs, augment)
            row[f"{label}_val_gain"], row[f"{label}_test"] = gain, test
        row["before_test"] = float(trainer.evaluate(model, "test")[METRIC]) * 100
        out.append(row)
    return out


def _finetune_branch(trainer, model, cfg, lr_factor: float, epochs: int, augment: bool):
    """Fine-tune a copy of ``model`` at the fine-tune LR, with or without augmentation."""
    m = copy.deepcopy(model)
    loss_fn = build_loss(cfg.loss, trainer.data.class_counts, cfg.train.epochs, trainer.device)
    opt = build_optimizer(m, cfg.train, cfg.train.lr * lr_factor)
    res = no_aug_finetune(
        m,
        lambda _e: trainer.batches(augment=augment),
        loss_fn,
        opt,
        lambda mm: float(trainer.evaluate(mm)[METRIC]),
        epochs,
    )
    return res.gain * 100, float(trainer.evaluate(m, "test")[METRIC]) * 100


def best_by(runs: list[dict], key: str, groups: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Per run (arm x seed), the best completed trial (by val) of each group; mean over runs."""
    result: dict[str, list[tuple[float, float]]] = {g: [] for g in groups}
    for run in runs:
        for g, kinds in groups.items():
            pool = [
                t
                for t in run["trials"]
                if t["state"] == "complete" and t["config"] and t["config"][key]["kind"] in kinds
            ]
            if pool:
                best = max(pool, key=lambda t: t["value"])
                result[g].append((best["value"] * 100, (best["test"] or math.nan) * 100))
    return {
        g: {"n_seeds": len(v), "val": _ms([a for a, _ in v]), "test": _ms([b for _, b in v])}
        for g, v in result.items()
    }


def _ms(xs: list[float]) -> str:
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return "-"
    return (
        f"{statistics.fmean(xs):.2f} ± {statistics.stdev(xs):.2f}"
        if len(xs) > 1
        else f"{xs[0]:.2f}"
    )


def restart_stats(runs: list[dict]) -> dict[str, Any]:
    restarted = recovered = completed = 0
    for run in runs:
        for t in run["trials"]:
            pruned_restarts = [r for r in t["restarts"] if r["reason"] == "pruned"]
            if not t["restarts"]:
                continue
            restarted += 1
            completed += t["state"] == "complete"
            final = t["value"] if t["value"] is not None else t["last"]
            if pruned_restarts and final is not None and final > pruned_restarts[-1]["value"]:
                recovered += 1
    return {
        "restarted_trials": restarted,
        "completed_after_restart": completed,
        "ended_above_last_prune_point": recovered,
    }


def plot(runs: list[dict], path: Path, budget: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    # The last trial may overrun the budget by a few epochs; show it to its end.
    last = max([budget, *(s for r in runs for s, _ in r["trace"])])
    grid = list(range(1, last + 1))
    for arm in sorted({r["arm"] for r in runs}):
        curves = []
        for r in (r for r in runs if r["arm"] == arm):
            values = []
            for e in grid:
                seen = [v for s, v in r["trace"] if s <= e and v >= 0]
                values.append(seen[-1] * 100 if seen else math.nan)
            curves.append(values)
        # Mean over seeds only where every seed has a completed trial: no dips from averaging
        # over a changing set of seeds.
        mean = [
            statistics.fmean([c[i] for c in curves])
            if all(not math.isnan(c[i]) for c in curves)
            else math.nan
            for i in range(len(grid))
        ]
        style = "o" if arm == "a" else "-"
        ax.plot(grid, mean, style, label=f"{arm} ({len(curves)} seeds)")
    ax.set_xlabel("training epochs spent (all trials, restarts and fine-tunes included)")
    ax.set_ylabel("best validation balanced accuracy so far (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 24-epoch budget")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=60, help="epochs per arm and seed")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs of one trial")
    parser.add_argument("--max-per-class", type=int, default=3000)
    parser.add_argument("--val-per-class", type=int, default=300)
    parser.add_argument("--arms", default="a,b,c,d0,d,e")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--replot", metavar="JSON", help="redraw the figure from a results file")
    args = parser.parse_args()
    if args.replot:
        saved = json.loads(Path(args.replot).read_text())
        plot(saved["runs"], Path(args.replot).with_suffix(".png"), saved["args"]["budget"])
        return
    if args.quick:
        args.seeds, args.budget, args.epochs = 1, 24, 3
    torch.set_num_threads(2)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = make_spec(args, "d", 0)
    data = load_bundle(spec.base.data, seed=0)
    print(f"data: {len(data.y_train)} train images {data.class_counts}", flush=True)
    runs = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for arm in args.arms.split(","):
                t0 = time.monotonic()
                run = run_arm(args, arm, seed, data, Path(tmp))
                runs.append(run)
                print(
                    f"seed {seed} arm {arm}: best val {run['val'] * 100:.2f} test "
                    f"{(run['test'] or math.nan) * 100:.2f} epochs {run['epochs']} "
                    f"({time.monotonic() - t0:.0f}s)",
                    flush=True,
                )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = "quick" if args.quick else "full"
    rows = [
        "| arm | best val bal. acc. (%) | its test bal. acc. (%) | epochs to within 0.5 pt "
        "of final best | epochs spent |",
        "|---|---|---|---|---|",
    ]
    for arm in args.arms.split(","):
        rs = [r for r in runs if r["arm"] == arm]
        to_within = [epochs_to_within(r["trace"], r["val"]) for r in rs]
        rows.append(
            f"| {arm} | {_ms([r['val'] * 100 for r in rs])} | "
            f"{_ms([(r['test'] or math.nan) * 100 for r in rs])} | "
            f"{_ms([float(x) for x in to_within])} | {_ms([float(r['epochs']) for r in rs])} |"
        )
    search_runs = [r for r in runs if r["arm"] != "a"]
    d_runs = [r for r in runs if r["arm"] == "d"]
    ft = finetune_control(args, d_runs, data)
    focal = best_by(
        search_runs,
        "loss",
        {
            "focal kinds": ("focal", "weighted_focal", "sigmoid_focal"),
            "weighted_ce": ("weighted_ce",),
            "ce": ("ce",),
        },
    )
    sched = best_by(search_runs, "schedule", {"tanh": ("tanh",), "cosine": ("cosine",)})
    rs = restart_stats([r for r in runs if r["arm"] in ("d", "e")])
    plot(runs, out / f"search_efficiency_{tag}.png", args.budget)
    lines = [
        f"Budget {args.budget} epochs per arm and seed, {args.seeds} seed(s), trials of "
        f"{args.epochs} epochs; mean ± std over seeds. Wall time {time.monotonic() - start:.0f}s.",
        "",
        *rows,
        "",
        "No-aug fine-tune vs the same epochs with augmentation (best arm-d config):",
        "",
        "| seed | epochs | val gain no-aug (pt) | val gain with aug (pt) | test before (%) "
        "| test no-aug (%) | test with aug (%) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['seed']} | {r['epochs']} | {r['no_aug_val_gain']:+.2f} "
        f"| {r['with_aug_val_gain']:+.2f}"
        f" | {r['before_test']:.2f} | {r['no_aug_test']:.2f} | {r['with_aug_test']:.2f} |"
        for r in ft
    ]
    lines += [
        "",
        "Best trial per loss group (arms b-e, per seed, selected on val):",
        "",
        "| group | runs (arm x seed) | val (%) | test (%) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {g} | {v['n_seeds']} | {v['val']} | {v['test']} |" for g, v in focal.items()]
    lines += ["", "| schedule | runs (arm x seed) | val (%) | test (%) |", "|---|---|---|---|"]
    lines += [f"| {g} | {v['n_seeds']} | {v['val']} | {v['test']} |" for g, v in sched.items()]
    lines += [
        "",
        f"Restarts (arms d, e): {rs['restarted_trials']} trials restarted, "
        f"{rs['completed_after_restart']} of them completed, "
        f"{rs['ended_above_last_prune_point']} ended above their last pruning point.",
    ]
    (out / f"search_efficiency_{tag}.md").write_text("\n".join(lines) + "\n")
    (out / f"search_efficiency_{tag}.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "runs": runs,
                "finetune_control": ft,
                "by_loss": focal,
                "by_schedule": sched,
                "restarts": rs,
            },
            indent=1,
            default=str,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
