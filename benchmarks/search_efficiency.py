"""Does the search hand users a better model than the recipes they would type by hand?

Arms on full Fashion-MNIST-LT (ratio 100), each with the same budget of training epochs
per seed (every epoch counts: pruned trials, restarts, fine-tunes), trials of 20 epochs
(where the literature's recipes rank as published; the shipped full study now trains 40,
and its pruner warm-up of 8 epochs is set back to the 4 this benchmark started with):

  random          RandomSampler, no pruner, no restarts, no fine-tune, no warm start
  tpe_median      Optuna's standard way: TPE + MedianPruner (pruned = killed), no fine-tune
  tricksearch     as shipped: TPE (multivariate, group), restart-on-prune(Median), per-trial
                  no-aug fine-tune, warm start with the recipes
  no_restarts     tricksearch without restarts (pruned = killed)
  no_finetune     tricksearch without the per-trial fine-tune
  no_warm_start   tricksearch without the recipes
  best_recipe     the floor: deferred re-weighting (the best recipe at 20 epochs) trained
                  once for the whole budget (budget - 4 epochs, then the 4-epoch fine-tune)
  search_retrain  the shipped workflow at the same budget (run, export, train --epochs):
                  tricksearch for a share of the budget (``--search-share``, default half:
                  the stored tricksearch unit's first trials, which a study stopped there
                  would have run), then its validation-best config stretched to the
                  epochs left and trained once
  tpe_retrain     the same for tpe_median: its stored unit's pick at the same share,
                  retrained with the epochs left (the fair control for search_retrain)

Selection uses the validation split only; each completed trial's final model is scored on
the test split when it finishes, for the report. Per arm: mean and 95% t interval of the
selected config's test balanced accuracy; per arm against tricksearch: the paired
difference over seeds (95% CI) and a Wilcoxon signed-rank p-value; a best-so-far figure.

Resumable: each (arm, seed) result is written to ``<out>/search_efficiency/`` the moment
it finishes; the same command continues, and ``--report`` only tabulates what is there.
Several processes may share one ``--out`` (a file lock per unit); on two cores, two
processes of ``--threads 1`` pinned with ``taskset`` run more epochs per hour than one of 2.

    python benchmarks/search_efficiency.py --quick    # ~2 min: 1 seed, small subset, 4 arms
    python benchmarks/search_efficiency.py            # 5 seeds x 9 arms (hours; resumable)
    # the shipped full study's budget: 40-epoch trials, 1300 epochs, 85% searching
    python benchmarks/search_efficiency.py --tag budget1300 --epochs 40 --startup 10 \
        --budget 1300 --search-budget 1105 --search-share 0.85 \
        --arms tricksearch,search_retrain,best_recipe   # then tpe_median, then tpe_retrain
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results_io import write_results  # noqa: E402
from unit_lock import claimed  # noqa: E402

from search.checkpoints import CheckpointStore  # noqa: E402
from search.objective import Objective, TrialOutcome  # noqa: E402
from search.pruner import wrap_pruner  # noqa: E402
from search.recipes import enqueue_recipes  # noqa: E402
from search.record import RECIPE, TrialRecord, TrialWriter, or_nan  # noqa: E402
from search.reference import replace_marked  # noqa: E402
from search.space import suggest_config  # noqa: E402
from search.stats import mean_ci95, wilcoxon_p  # noqa: E402
from search.study_file import StudySpec, load_study_file, make_pruner, make_sampler  # noqa: E402
from tricks.allocator import keep_freed_memory  # noqa: E402
from tricks.data import DataBundle, load_bundle  # noqa: E402
from tricks.schedules import steps_per_epoch  # noqa: E402
from tricks.trainer import EpochEnd, Event, Trainer  # noqa: E402

METRIC = "balanced_accuracy"
TEST_ATTR = "test_balanced_accuracy"  # the Scorer's addition to the trial record
ARMS = (
    "tricksearch",
    "tpe_median",
    "random",
    "no_restarts",
    "no_finetune",
    "no_warm_start",
    "best_recipe",
    "search_retrain",
    "tpe_retrain",
)
RETRAINED = {"search_retrain": "tricksearch", "tpe_retrain": "tpe_median"}  # arm: its search
SEARCH_SHARE = 0.5  # the retrain arms: the share of the budget spent searching (default)
RESTART_KEYS = ("max_restarts", "restart_lr_factor", "plateau_patience")
FINETUNE_KEYS = ("finetune_epochs", "finetune_lr_factor")
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def make_spec(args: argparse.Namespace, arm: str, seed: int) -> StudySpec:
    """The shipped full study, changed only where the arm says so."""
    overrides = [
        f"train.epochs={args.epochs}",
        f"train.seed={seed}",
        f"data.max_per_class={args.max_per_class}",
        f"sampler.kwargs={{n_startup_trials = {args.startup}}}",
        # A fifth of the trial's epochs, as the shipped study has it (4 for 20-epoch trials).
        f"pruner.kwargs.n_warmup_steps={max(1, round(args.epochs / 5))}",
    ]
    if arm == "random":
        overrides += ["sampler.name=RandomSampler", "sampler.kwargs={}", "pruner.name=NopPruner"]
        overrides.append("pruner.kwargs={}")
    spec = load_study_file(ROOT / "studies" / "fashion_mnist_lt.toml", overrides)
    spec.warm_start = arm in ("tricksearch", "no_restarts", "no_finetune")
    if arm in ("random", "tpe_median", "no_restarts"):
        spec.base.restart.max_restarts = spec.base.restart.patience = 0
        for key in RESTART_KEYS:
            spec.space.pop(key, None)
    if arm in ("random", "tpe_median", "no_finetune"):
        spec.base.finetune.epochs = 0
        for key in FINETUNE_KEYS:
            spec.space.pop(key, None)
    return spec


class Scorer:
    """After each completed trial, score its final model on the test split (never selected on)."""

    def __init__(self, data: DataBundle) -> None:
        self.data = data

    def __call__(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        if outcome.result is None:
            return
        test = Trainer(outcome.config, self.data, "cpu").evaluate(outcome.result.model, "test")
        TrialWriter(trial).extra(TEST_ATTR, float(test[METRIC]))


def epochs_of(t: optuna.trial.FrozenTrial) -> int:
    return len(TrialRecord(t).curve)


def run_search(args, arm: str, seed: int, data: DataBundle, db: Path) -> dict[str, Any]:
    """One arm's study until its epochs reach the budget; resumes a study left half-done."""
    spec = make_spec(args, arm, seed)
    study = optuna.create_study(
        storage=f"sqlite:///{db}",
        study_name=arm,
        direction="maximize",
        pruner=wrap_pruner(make_pruner(spec), spec.grace_epochs, spec.base.restart.max_restarts),
        load_if_exists=True,
    )
    # A resumed unit's sampler gets another seed, or its random start-up draws would
    # repeat those already run; a new unit's is the seed itself, as before.
    study.sampler = make_sampler(spec, seed=seed + 1000 * len(study.trials))
    if spec.warm_start and not study.trials:
        enqueue_recipes(study, spec.space, spec.base)
    retry_stopped_trials(study)
    objective = Objective(spec, data, "cpu", after_trial=Scorer(data))
    budget = args.search_budget or args.budget
    while spent_epochs(study) < budget:
        study.optimize(objective, n_trials=1)
        line = f"{trial_line(study)}; {spent_epochs(study)} of {budget} epochs"
        print(f"seed {seed} {arm}: {line}", flush=True)
    return summarise(arm, seed, study.get_trials(states=FINISHED))


def spent_epochs(study: optuna.Study) -> int:
    """The epochs the budget has paid for: every complete and pruned trial's."""
    return sum(epochs_of(t) for t in study.get_trials(deepcopy=False, states=FINISHED))


def trial_line(study: optuna.Study) -> str:
    """Progress: the last trial's outcome and the study's best so far."""
    ended = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    last = max(ended, key=lambda t: t.datetime_complete or 0)
    value = "" if last.value is None else f" val {last.value * 100:.2f}"
    words = f"trial {last.number} {last.state.name.lower()}{value}"
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if complete:
        best = max(complete, key=lambda t: or_nan(t.value))
        recipe = (TrialRecord(best).recipe or {}).get("name")
        words += f", best val {or_nan(best.value) * 100:.2f} (trial {best.number}"
        words += f", {recipe})" if recipe else ")"
    return words


class FloorProgress:
    """A line about every ``every`` seconds of a long single run: epoch, val, time left."""

    def __init__(self, label: str, epochs: int, every: float = 600.0) -> None:
        self.label, self.epochs, self.every = label, epochs, every
        self.last = time.monotonic()
        self.seconds: list[float] = []

    def __call__(self, event: Event) -> None:
        if not isinstance(event, EpochEnd) or event.phase != "train":
            return None
        self.seconds = [*self.seconds[-19:], event.seconds]
        if time.monotonic() - self.last < self.every:
            return None
        self.last = time.monotonic()
        pace = statistics.median(self.seconds)
        left = (self.epochs - event.epoch - 1) * pace / 60
        print(
            f"{self.label}: epoch {event.epoch + 1} of {self.epochs}, val {event.value * 100:.2f}, "
            f"{pace:.1f} s an epoch, about {left:.0f} min left",
            flush=True,
        )
        return None


def retry_stopped_trials(study: optuna.Study) -> None:
    """A trial left RUNNING by a stopped process fails and runs again with its parameters.

    The unit's lock says no other process works on this study, so a RUNNING trial is one
    whose process was killed (a session's end). Left as it was, a warm-start recipe
    caught that way would never run; like the CLI's retry of a stale trial, the same
    parameters (and recipe label) go back in the queue. Its epochs do not count.
    """
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        recipe = TrialRecord(t).recipe
        study.enqueue_trial(t.params, user_attrs={RECIPE: recipe} if recipe else None)
        print(f"{study.study_name}: trial {t.number} was stopped; queued again", flush=True)


def summarise(arm: str, seed: int, trials: list[optuna.trial.FrozenTrial]) -> dict[str, Any]:
    trace, best_val, best_test, spent = [], -1.0, None, 0
    for t in trials:
        spent += epochs_of(t)
        complete = t.state == optuna.trial.TrialState.COMPLETE
        if complete and t.value is not None and t.value > best_val:
            best_val, best_test = t.value, TrialRecord(t).attr(TEST_ATTR)
        trace.append((spent, best_val))
    rows = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "epochs": epochs_of(t),
            "params": t.params,
            "recipe": (r.recipe or {}).get("name"),
            "test": r.attr(TEST_ATTR),
            "restarts": r.restarts,
        }
        for t, r in ((t, TrialRecord(t)) for t in trials)
    ]
    return {
        "arm": arm,
        "seed": seed,
        "val": best_val,
        "test": best_test,
        "epochs": spent,
        "trace": trace,
        "trials": rows,
    }


def run_recipe(args, seed: int, data: DataBundle, store: Path) -> dict[str, Any]:
    """The floor: deferred re-weighting trained once with the whole budget.

    Checkpointed every minute under ``store``, so a long floor run that is stopped
    continues from its last checkpoint (on the CPU it ends as an unbroken run would).
    """
    spec = make_spec(args, "tricksearch", seed)
    cfg = spec.base
    steps = steps_per_epoch(len(data.y_train), cfg.train.batch_size)
    cfg.train.epochs, cfg.train.lr = args.budget - 4, 0.1
    cfg.loss.kind, cfg.loss.weight_mode, cfg.loss.weight_beta = "weighted_ce", "effective", 0.9999
    cfg.loss.weights_from_epoch = round(0.75 * cfg.train.epochs)
    cfg.schedule.kind, cfg.schedule.warmup_steps = "cosine", round(0.05 * cfg.train.epochs * steps)
    cfg.restart.max_restarts, cfg.finetune.epochs, cfg.finetune.lr_factor = 0, 4, 0.01
    trainer = Trainer(cfg, data, "cpu")
    checkpoints = CheckpointStore(store, f"best_recipe-{seed}", every=60.0)
    resume = checkpoints.load(0)
    if resume is not None:
        print(f"seed {seed} best_recipe: resuming after epoch {resume['epoch']}", flush=True)
    progress = FloorProgress(f"seed {seed} best_recipe", cfg.train.epochs)
    result = trainer.fit(progress, lambda state: checkpoints.save(0, state), resume)
    shutil.rmtree(checkpoints.folder, ignore_errors=True)  # finished: its checkpoint and folder
    test = float(trainer.evaluate(result.model, "test")[METRIC])
    return {
        "arm": "best_recipe",
        "seed": seed,
        "val": result.value,
        "test": test,
        "epochs": args.budget,
        "trace": [(args.budget, result.value)],
        "trials": [],
    }


def search_pick(stored: dict[str, Any], goal: float) -> tuple[int, dict[str, Any]]:
    """A tricksearch unit stopped once ``goal`` epochs are spent: its trial count and pick.

    The unit's trace holds (epochs spent, best value so far) after each trial; the search
    ends with the first trial that brings the epochs spent to ``goal``, and its pick is
    the validation-best complete trial among those.
    """
    trace = stored["trace"]
    n = next((i + 1 for i, (used, _) in enumerate(trace) if used >= goal), len(trace))
    done = [t for t in stored["trials"][:n] if t["state"] == "complete"]
    return n, max(done, key=lambda t: t["value"])


def share_picks(runs: dict[tuple[str, int], dict], budget: int) -> list[str]:
    """search_retrain's pick had the search taken another share of the budget (no training).

    Read from the stored tricksearch units: which trial each seed's search would hand to
    the retrain, and how many epochs would be left for it.
    """
    shares = (0.25, 0.5, 0.75, 0.85)
    seeds = sorted(s for (a, s) in runs if a == "tricksearch")
    if not seeds:
        return []
    lines = [
        "| seed | "
        + " | ".join(f"search share {x:.0%}: pick (epochs left)" for x in shares)
        + " |",
        "|---|" + "---|" * len(shares),
    ]
    for seed in seeds:
        stored, cells = runs[("tricksearch", seed)], []
        for share in shares:
            n, pick = search_pick(stored, share * budget)
            left = budget - stored["trace"][n - 1][0]
            cells.append(f"{_trial_name(pick)} ({left})")
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return lines


def _trial_name(trial: dict[str, Any]) -> str:
    """A stored trial in a few words: its recipe, or TPE and its loss."""
    name = trial["recipe"] or f"TPE: {trial['params'].get('loss_kind')}"
    return f"trial {trial['number']}, {name}"


def _seed_cell(run: dict[str, Any]) -> str:
    """One arm's test accuracy on one seed, with what it selected (a search) or retrained."""
    test = f"{or_nan(run['test']) * 100:.2f}"
    if run["trials"]:  # only search units store trials
        _, pick = search_pick(run, math.inf)
        return f"{test} ({_trial_name(pick)})"
    if retrained := run.get("retrained"):
        return f"{test} (trial {retrained['trial']} retrained {retrained['train_epochs']} epochs)"
    return test


def per_seed(
    runs: dict[tuple[str, int], dict], arms: list[str], controls: Sequence[str] = ()
) -> list[str]:
    """Test balanced accuracy per seed of the workflow's arms, their floors and TPE + Median."""
    shown = ["tricksearch", "search_retrain", "best_recipe", "tpe_median", "tpe_retrain"]
    cols = [a for a in shown if a in arms] + list(controls)
    seeds = sorted({s for (a, s) in runs if a in cols})
    if len(cols) < 2 or not seeds:
        return []
    lines = [
        "| seed | " + " | ".join(f"{c}: test (%)" for c in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for seed in seeds:
        cells = [_seed_cell(runs[(c, seed)]) if (c, seed) in runs else "-" for c in cols]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return lines


def run_retrain(args, arm: str, seed: int, data: DataBundle, store: Path) -> dict[str, Any] | None:
    """Search with a share of the budget (default half), then retrain the winner with the rest.

    The search is the first trials of the seed's stored unit of the arm's search
    (``RETRAINED``): one process asks trials in order from a seeded sampler, so a study
    stopped at that share of the budget would have run exactly those. None while that
    unit is not stored yet.
    """
    searcher = RETRAINED[arm]
    source = store / f"{searcher}-{seed}.json"
    if not source.exists():
        return None
    stored = json.loads(source.read_text())
    half, best = search_pick(stored, args.search_share * args.budget)
    searched, trace = stored["trials"][:half], stored["trace"][:half]
    spent = trace[-1][0]
    spec = make_spec(args, searcher, seed)
    steps = steps_per_epoch(len(data.y_train), spec.base.train.batch_size)
    cfg = suggest_config(optuna.trial.FixedTrial(best["params"]), spec.space, spec.base, steps)
    length = args.budget - spent - cfg.finetune.epochs
    cfg = cfg.stretched(length)  # as `tricksearch train best.toml --epochs LENGTH` does
    trainer = Trainer(cfg, data, "cpu")
    result = trainer.fit()
    test = float(trainer.evaluate(result.model, "test")[METRIC])
    return {
        "arm": arm,
        "seed": seed,
        "val": result.value,
        "test": test,
        "epochs": spent + len(result.history),
        "trace": [*trace, (spent + len(result.history), result.value)],
        "trials": [],  # the search half's trials are the searcher's; not counted twice
        "searched": [t["number"] for t in searched],
        "retrained": {"trial": best["number"], "recipe": best["recipe"], "train_epochs": length},
    }


def _interval(low: float, high: float, fmt: str) -> str:
    """``[low, high]``, or a plain "needs 2 seeds" where one seed gives no interval."""
    if math.isnan(low):
        return "(needs 2 seeds)"
    return f"[{low:{fmt}}, {high:{fmt}}]"


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else f"{p:.3f}"


def tables(
    runs: dict[tuple[str, int], dict], arms: list[str], controls: Sequence[str] = ()
) -> list[str]:
    lines = [
        "| arm | seeds | test bal. acc. of the selected config (%), mean [95% CI] "
        "| val (%) | epochs spent |",
        "|---|---|---|---|---|",
    ]
    for arm in [*arms, *controls]:
        rs = [r for (a, _), r in sorted(runs.items()) if a == arm and r["test"] is not None]
        if not rs:
            continue
        m, lo, hi = mean_ci95([r["test"] * 100 for r in rs])
        val = statistics.fmean(r["val"] * 100 for r in rs)
        spent = statistics.fmean(r["epochs"] for r in rs)
        lines.append(
            f"| {arm} | {len(rs)} | {m:.2f} {_interval(lo, hi, '.2f')} | {val:.2f} | {spent:.0f} |"
        )
    lines += [
        "",
        "| arm - control (paired by seed) | seeds | mean difference (pt) [95% CI] | Wilcoxon p |",
        "|---|---|---|---|",
    ]
    pairs = [(arm, "tricksearch") for arm in arms if arm != "tricksearch"]
    if "search_retrain" in arms:
        bases = [base for base in ("best_recipe", "tpe_retrain") if base in arms]
        pairs += [("search_retrain", base) for base in bases]
    challenger = "search_retrain" if "search_retrain" in arms else "tricksearch"
    pairs += [(challenger, control) for control in controls]
    lines += [row for arm, base in pairs if (row := _paired_row(runs, arm, base))]
    lines += ["", *recipe_ranking(runs)]
    return lines


def _paired_row(runs: dict[tuple[str, int], dict], arm: str, base: str) -> str | None:
    """``arm - base`` over the seeds both have: mean, 95% t interval, Wilcoxon p."""
    seeds = sorted(s for (a, s) in runs if a == arm and (base, s) in runs)
    diffs = [(runs[(arm, s)]["test"] - runs[(base, s)]["test"]) * 100 for s in seeds]
    if not diffs:
        return None
    m, lo, hi = mean_ci95(diffs)
    return (
        f"| {arm} - {base} | {len(diffs)} | {m:+.2f} {_interval(lo, hi, '+.2f')} "
        f"| {_p(wilcoxon_p(diffs))} |"
    )


def recipe_ranking(runs: dict[tuple[str, int], dict]) -> list[str]:
    """The warm-start trials: each recipe at the trial length, over every arm and seed."""
    by: dict[str, list[tuple[float, float]]] = {}
    for run in runs.values():
        for t in run["trials"]:
            if t["recipe"] and t["state"] == "complete" and t["test"] is not None:
                by.setdefault(t["recipe"], []).append((t["value"] * 100, t["test"] * 100))
    if not by:
        return []
    lines = ["| recipe at the trial length | trials | val (%) | test (%) |", "|---|---|---|---|"]
    for name, vs in sorted(by.items(), key=lambda kv: statistics.fmean(v for v, _ in kv[1])):
        lines.append(
            f"| {name} | {len(vs)} | {statistics.fmean(v for v, _ in vs):.2f} "
            f"| {statistics.fmean(t for _, t in vs):.2f} |"
        )
    return lines


def plot(runs: dict[tuple[str, int], dict], path: Path, budget: int) -> None:
    """Best validation balanced accuracy so far vs epochs spent, mean and 95% band per arm."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    grid = list(range(1, budget + 1, max(1, budget // 100)))
    for arm in ARMS:
        curves = []
        for (a, _), r in sorted(runs.items()):
            if a != arm:
                continue
            curve = []
            for e in grid:
                seen = [v for s, v in r["trace"] if s <= e and v >= 0]
                curve.append(seen[-1] * 100 if seen else math.nan)
            curves.append(curve)
        if not curves:
            continue
        points = [[c[i] for c in curves] for i in range(len(grid))]
        ok = [i for i, p in enumerate(points) if not any(math.isnan(x) for x in p)]
        if not ok:
            continue
        bands = [mean_ci95(points[i]) for i in ok]
        xs = [grid[i] for i in ok]
        if arm == "best_recipe":
            ax.errorbar(xs, [b[0] for b in bands], fmt="o", label=f"{arm} ({len(curves)} seeds)")
            continue
        ax.plot(xs, [b[0] for b in bands], label=f"{arm} ({len(curves)} seeds)")
        if len(curves) > 1:
            ax.fill_between(xs, [b[1] for b in bands], [b[2] for b in bands], alpha=0.15)
    ax.set_xlabel("training epochs spent (all trials, restarts and fine-tunes included)")
    ax.set_ylabel("best validation balanced accuracy so far (%)")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100)


def run_unit(args: argparse.Namespace, arm: str, seed: int, data: DataBundle, store: Path) -> None:
    """Run one (arm, seed) unless it is stored or another process holds it; store it at once.

    A per-unit file lock lets several benchmark processes share the same ``--out``: each
    takes the next unit nobody holds. A half-done unit resumes from its study database.
    """
    path = store / f"{arm}-{seed}.json"
    with claimed(path) as mine:
        if not mine:
            return  # stored, or another process is running it
        t0 = time.monotonic()
        if arm == "best_recipe":
            run = run_recipe(args, seed, data, store)
        elif arm in RETRAINED:
            retrained = run_retrain(args, arm, seed, data, store)
            if retrained is None:
                return  # its search half (the searcher, this seed) is not stored yet
            run = retrained
        else:
            run = run_search(args, arm, seed, data, store / f"{arm}-{seed}.db")
        run["seconds"] = time.monotonic() - t0
        run["threads"] = args.threads
        run["made_with"] = made_with(args)
        path.write_text(json.dumps(run, default=str))
        for db in store.glob(f"{arm}-{seed}.db*"):  # its trials are in the JSON now
            db.unlink()
        print(
            f"seed {seed} {arm}: val {run['val'] * 100:.2f} test "
            f"{or_nan(run['test']) * 100:.2f} ({run['seconds']:.0f}s)",
            flush=True,
        )


#: The arguments that define what a stored unit measured; units made with others do not mix.
UNIT_ARGS = ("epochs", "startup", "budget", "search_budget", "search_share", "max_per_class")


def made_with(args: argparse.Namespace) -> dict[str, Any]:
    """What a unit is made with: the defining arguments and a hash of the study's tables
    (parsed, so an edited comment in the study file does not count as a change)."""
    tables = json.dumps(make_spec(args, "tricksearch", 0).to_dict(), sort_keys=True)
    key = {name: getattr(args, name) for name in UNIT_ARGS}
    return {**key, "study_sha256": hashlib.sha256(tables.encode()).hexdigest()}


def mixed_units(store: Path, key: dict[str, Any]) -> str | None:
    """A line naming how stored units differ from ``key``, or None when they all agree.

    Units stored before units recorded what they were made with are taken as they are.
    """
    for path in sorted(store.glob("*.json")):
        stored = json.loads(path.read_text()).get("made_with")
        if stored is None:
            continue
        changed = sorted(k for k in key if stored.get(k) != key[k])
        if changed:
            return (
                f"{store} holds units made with other {', '.join(changed)} ({path.name}); "
                "use another --tag or --out, or the same arguments"
            )
    return None


def _search_terms(args: argparse.Namespace, arms: list[str]) -> str:
    """The report header's words for a search share or search budget set on the command line."""
    terms = ""
    if args.search_budget:
        terms += f"; the search arms stop at {args.search_budget} epochs"
    if "search_retrain" in arms and args.search_share != SEARCH_SHARE:
        terms += f"; search_retrain searches {args.search_share:.0%} of the budget"
    return terms


def parse_controls(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, list[Path]]:
    """``--control LABEL=PREFIX`` items: each label and its units ``PREFIX-<seed>.json``,
    checked before anything runs."""
    controls = {}
    for item in items:
        label, _, prefix = item.partition("=")
        found = sorted(Path(prefix).parent.glob(f"{Path(prefix).name}-*.json")) if prefix else []
        if not label or not found:
            parser.error(f"--control {item!r}: expected LABEL=PREFIX with PREFIX-<seed>.json files")
        controls[label] = found
    return controls


def add_controls(controls: dict[str, list[Path]], runs: dict[tuple[str, int], dict]) -> None:
    """Another benchmark's units into ``runs`` as arm LABEL (their seeds use the same data
    split and test set), for the seeds this benchmark has stored, so that every row of the
    arms table is over them."""
    seeds = {s for (_, s) in runs}
    for label, paths in controls.items():
        for path in paths:
            unit = json.loads(path.read_text())
            if unit["seed"] in seeds:
                runs[(label, unit["seed"])] = {**unit, "arm": label}


#: The docs page whose marked block holds the tables of the full benchmark.
PAGE = Path("docs/results/search-efficiency.md")


def write_page(page: Path, lines: list[str]) -> None:
    """Put the tables between ``page``'s ``<!-- reference:search-efficiency -->`` markers."""
    page.write_text(replace_marked(page.read_text(), "search-efficiency", "\n".join(lines)))


def parse_args() -> tuple[argparse.Namespace, dict[str, list[Path]]]:
    """The command line, with ``--quick``'s settings and the default budget filled in."""
    parser = _parser()
    args = parser.parse_args()
    controls = parse_controls(parser, args.control)
    if args.quick:
        args.seeds, args.epochs, args.max_per_class, args.startup = 1, 3, 1000, 2
        args.arms = "tricksearch,tpe_median,best_recipe,search_retrain"
    args.budget = args.budget or 3 * args.startup * (args.epochs + 4)
    return args, controls


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, subset, 4 arms, ~2 min")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--startup", type=int, default=5, help="TPE n_startup_trials")
    parser.add_argument(
        "--budget",
        type=int,
        default=0,
        help="epochs per arm and seed (default: 3 x startup trials of epochs + 4 fine-tune epochs)",
    )
    parser.add_argument("--epochs", type=int, default=20, help="training epochs of one trial")
    parser.add_argument("--max-per-class", type=int, default=0, help="head class size; 0 = all")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument(
        "--search-share",
        type=float,
        default=SEARCH_SHARE,
        help="search_retrain: the share of the budget its search takes (the rest retrains)",
    )
    parser.add_argument(
        "--search-budget",
        type=int,
        default=0,
        help="epochs at which the search arms stop (default: the budget); set it to "
        "share x budget when only search_retrain needs the search",
    )
    parser.add_argument(
        "--tag",
        default="",
        help="results under <out>/search_efficiency_<tag> (default: full, or quick)",
    )
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--report", action="store_true", help="only tabulate stored results")
    parser.add_argument(
        "--page",
        type=Path,
        help="also write the tables between this file's <!-- reference:search-efficiency --> "
        f"markers (the docs page {PAGE})",
    )
    parser.add_argument(
        "--control",
        action="append",
        default=[],
        metavar="LABEL=PREFIX",
        help="also tabulate another benchmark's stored units PREFIX-<seed>.json as arm LABEL, "
        "paired by seed with search_retrain (or tricksearch); e.g. 'best_recipe, 360 "
        "epochs=benchmarks/results/search_efficiency_full/best_recipe'",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads; two processes of --threads 1, each pinned to a core "
        "(taskset -c 0 / -c 1), share the units and run ~1.3-1.6x more epochs per hour",
    )
    return parser


def main() -> None:
    args, controls = parse_args()
    tag = args.tag or ("quick" if args.quick else "full")
    out = Path(args.out)
    store = out / f"search_efficiency_{tag}"
    store.mkdir(parents=True, exist_ok=True)
    arms = args.arms.split(",")
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the CLI does: a long search process otherwise spends ~1/3 in brk
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if not args.report:
        if problem := mixed_units(store, made_with(args)):
            print(f"search_efficiency: {problem}", file=sys.stderr)
            raise SystemExit(2)
        data = load_bundle(make_spec(args, "tricksearch", 0).base.data, seed=0)
        print(f"data: {len(data.y_train)} train images; budget {args.budget} epochs", flush=True)
        for seed in range(args.seeds):
            for arm in arms:
                run_unit(args, arm, seed, data, store)
    runs = {}
    for path in sorted(store.glob("*.json")):
        r = json.loads(path.read_text())
        runs[(r["arm"], r["seed"])] = r
    lines = report_lines(args, arms, controls, runs)
    plot(runs, out / f"search_efficiency_{tag}.png", args.budget)
    write_results(out, f"search_efficiency_{tag}", lines)
    if args.page:
        write_page(args.page, lines)


def report_lines(
    args: argparse.Namespace,
    arms: list[str],
    controls: dict[str, list[Path]],
    runs: dict[tuple[str, int], dict[str, Any]],
) -> list[str]:
    """The tables of every stored unit (and the controls', paired by seed)."""
    hours = sum(r.get("seconds", 0) for r in runs.values()) / 3600
    stored = len(runs)
    add_controls(controls, runs)
    lines = [
        f"Budget {args.budget} epochs per arm and seed, trials of {args.epochs} epochs "
        f"(+ fine-tune where the arm has it), TPE n_startup_trials {args.startup}"
        f"{_search_terms(args, arms)}; "
        f"{stored} (arm, seed) runs stored, {hours:.1f} h of unit wall time on two CPU "
        "cores (a resumed unit counts its last process only).",
        "",
        *tables(runs, arms, list(controls)),
    ]
    if seed_rows := per_seed(runs, arms, list(controls)):
        lines += ["", *seed_rows]
    if "search_retrain" in arms and (picks := share_picks(runs, args.budget)):
        lines += ["", *picks]
    return lines


if __name__ == "__main__":
    main()
