"""The same loop under a hand-written Optuna objective: tricksearch's pieces, your study.

The study gets the restart-on-prune pruner and the warm-start recipes from the study file;
each trial samples a trick config from its ``[space]`` and trains it through a trial
session, which reports every epoch, asks the pruner, restarts poor trials and records what
``tricksearch report`` and the dashboard read.

    cd examples/own_loop && python objective.py [--storage sqlite:///objective.db] [--trials 8]
"""

from __future__ import annotations

import argparse

import optuna
from loop import fit

from search import RunOptions, load_study_file, open_study, run_fit, suggest_config, trial_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="sqlite:///objective.db")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--study", default="study.toml")
    args = parser.parse_args()

    # --8<-- [start:objective]
    spec = load_study_file(args.study)
    study = open_study(spec, RunOptions(args.storage, "own_objective", args.trials))

    def objective(trial: optuna.Trial) -> float:
        config = suggest_config(trial, spec.space, spec.base, spec.base.train.steps_per_epoch)
        return run_fit(fit, trial_session(trial, config))  # TrialPruned when it stops

    study.optimize(objective, n_trials=args.trials)
    # --8<-- [end:objective]
    print(f"best trial {study.best_trial.number}: {study.best_value:.4f}")


if __name__ == "__main__":
    main()
