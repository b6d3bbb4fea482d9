"""The same loop under a hand-written Optuna objective: tricksearch's pieces, your study.

The study gets the restart-on-prune pruner and the warm-start recipes from the study file;
each trial samples a trick config from its ``[space]`` and trains it through a trial
session, which reports every epoch, asks the pruner, restarts poor trials and records what
``tricksearch report`` and the dashboard read. Run it from this folder:

    python objective.py
    tricksearch report --storage sqlite:///objective.db --study own_objective
"""

# --8<-- [start:objective]
import optuna
from loop import fit

from search import RunOptions, load_study_file, open_study, run_fit, suggest_config, trial_session

spec = load_study_file("study.toml")
study = open_study(spec, RunOptions("sqlite:///objective.db", "own_objective", n_trials=8))


def objective(trial: optuna.Trial) -> float:
    config = suggest_config(trial, spec.space, spec.base, spec.base.train.steps_per_epoch)
    return run_fit(fit, trial_session(trial, config))  # optuna.TrialPruned when it stops


study.optimize(objective, n_trials=8)
# --8<-- [end:objective]
print(f"best trial {study.best_trial.number}: {study.best_value:.4f}")
