"""Restart-on-prune through real Optuna studies on a real SQLite storage."""

from __future__ import annotations

import optuna
import pytest
from optuna.pruners import BasePruner
from optuna.trial import TrialState

from search.objective import Objective
from search.optuna_private import stored_trial
from search.pruner import RestartOnPrunePruner
from search.study_file import parse_study
from tricks.restart import Decision


class ScriptedPruner(BasePruner):
    """A deterministic pruner double: says "prune" exactly at the chosen steps."""

    def __init__(self, steps: set[int]) -> None:
        self.steps = steps
        self.asked: list[int] = []

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        self.asked.append(trial.last_step)
        return trial.last_step in self.steps


def tiny_spec(epochs: int, max_restarts: int, lr_factor: float, finetune: int = 1):
    return parse_study(
        {
            "study": {"name": "t"},
            "data": {
                "max_per_class": 120,
                "imbalance_ratio": 10.0,
                "val_per_class": 30,
                "test_per_class": 10,
            },
            "train": {"epochs": epochs, "batch_size": 64, "lr": 0.05},
            "restart": {"max_restarts": max_restarts, "lr_factor": lr_factor, "patience": 0},
            "finetune": {"epochs": finetune},
        }
    )


@pytest.fixture(scope="module")
def data(tensors):
    return tensors


def sqlite_study(tmp_path, pruner) -> optuna.Study:
    return optuna.create_study(
        storage=f"sqlite:///{tmp_path / 's.db'}",
        study_name="t",
        direction="maximize",
        pruner=pruner,
    )


def test_prune_becomes_restart_until_restarts_are_used_up(tmp_path, data) -> None:
    spec = tiny_spec(epochs=5, max_restarts=2, lr_factor=0.5)
    double = ScriptedPruner({1, 2, 3})
    study = sqlite_study(tmp_path, RestartOnPrunePruner(double, grace_epochs=0))
    study.optimize(Objective(spec, data), n_trials=1)
    trial = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 's.db'}").trials[0]
    assert trial.state == TrialState.PRUNED
    restarts = trial.user_attrs["restarts"]
    assert [(r["epoch"], r["reason"]) for r in restarts] == [(1, "pruned"), (2, "pruned")]
    assert restarts[0]["lr_before"] == pytest.approx(0.05)
    for r in restarts:
        assert r["lr_after"] == pytest.approx(r["lr_before"] * 0.5)
    assert restarts[1]["lr_before"] == pytest.approx(restarts[0]["lr_after"])
    # Pruned at the third prune, after max_restarts=2; one report per global epoch.
    assert sorted(trial.intermediate_values) == [0, 1, 2, 3]
    assert "after 2 restarts" in trial.user_attrs["pruned_reason"]
    assert "pre_finetune_value" not in trial.user_attrs


def test_completed_trial_closes_with_the_finetune(tmp_path, data) -> None:
    spec = tiny_spec(epochs=3, max_restarts=1, lr_factor=2.0, finetune=2)
    study = sqlite_study(tmp_path, RestartOnPrunePruner(ScriptedPruner({0}), grace_epochs=0))
    study.optimize(Objective(spec, data), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE
    assert [(r["epoch"], r["lr_after"]) for r in trial.user_attrs["restarts"]] == [(0, 0.1)]
    # Steps 0-2 are training, 3-4 the fine-tune; the value is the metric after it.
    assert sorted(trial.intermediate_values) == [0, 1, 2, 3, 4]
    assert trial.value == trial.intermediate_values[4]
    assert trial.user_attrs["pre_finetune_value"] == pytest.approx(
        trial.user_attrs["curve"][2]["value"]
    )
    assert trial.user_attrs["trick_config"]["restart"]["max_restarts"] == 1


def test_grace_epochs_shield_a_restarted_trial(tmp_path, data) -> None:
    spec = tiny_spec(epochs=4, max_restarts=1, lr_factor=0.5, finetune=0)
    double = ScriptedPruner({0, 1, 2})
    study = sqlite_study(tmp_path, RestartOnPrunePruner(double, grace_epochs=2))
    study.optimize(Objective(spec, data), n_trials=1)
    trial = study.trials[0]
    # Restart at 0; steps 1 and 2 are within grace (the double is not even asked); 3 is kept.
    assert trial.state == TrialState.COMPLETE
    assert double.asked == [0, 3]


def curve_trial(study: optuna.Study, value: float, steps: int) -> None:
    trial = study.ask()
    for step in range(steps):
        trial.report(value, step)
        trial.should_prune()  # lets rung-based pruners record the trial at each rung
    study.tell(trial, value)


@pytest.mark.parametrize(
    "wrapped",
    [
        optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=16, reduction_factor=2),
    ],
    ids=["median", "successive_halving", "hyperband"],
)
def test_wrapper_around_optuna_pruners(wrapped: BasePruner) -> None:
    pruner = RestartOnPrunePruner(wrapped, grace_epochs=1)
    # Optuna's in-memory storage: 400 reports, each followed by a pruning decision that
    # reads every trial, take 12 s on SQLite; the SQLite path is covered above.
    # A fixed name: Hyperband picks a trial's bracket from a hash of the study name.
    study = optuna.create_study(study_name="t", direction="maximize", pruner=pruner)
    for i in range(24):
        curve_trial(study, 0.8 + 0.001 * i, steps=16)
    trial = study.ask()
    trial.set_user_attr("max_restarts", 1)
    restarts, decisions = [], []
    for step in range(16):
        trial.report(0.05, step)
        # judge() is what should_prune() answers from; a pruner is asked once per step
        # (SuccessiveHalving records its rungs when asked).
        decision, _ = pruner.judge(study, stored_trial(trial))
        decisions.append(decision)
        pruned = decision is Decision.STOP
        if decision is Decision.RESTART:
            restarts.append({"epoch": step, "reason": "pruned"})
            trial.set_user_attr("restarts", restarts)
        if pruned:
            break
    first = next(d for d in decisions if d is not Decision.CONTINUE)
    assert first is Decision.RESTART
    assert decisions[-1] is Decision.STOP
    assert decisions.count(Decision.RESTART) == 1
    # Unwrapped, the same pruner would have killed the trial at the restart step.
    assert decisions.index(Decision.RESTART) < decisions.index(Decision.STOP)


def test_no_restart_is_granted_at_the_last_training_epoch(tmp_path, data) -> None:
    # The wrapped pruner says "prune" only at the last training step (2 of 0-2); a
    # restart there would train nothing, so the trial is pruned and no restart counted.
    spec = tiny_spec(epochs=3, max_restarts=2, lr_factor=0.5, finetune=1)
    study = sqlite_study(tmp_path, RestartOnPrunePruner(ScriptedPruner({2}), grace_epochs=0))
    study.optimize(Objective(spec, data), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["restarts"] == []
    assert "no training epoch left" in trial.user_attrs["pruned_reason"]


@pytest.mark.parametrize(
    "sampler",
    [
        optuna.samplers.RandomSampler(seed=0),
        optuna.samplers.TPESampler(n_startup_trials=2, seed=0),
        optuna.samplers.TPESampler(n_startup_trials=2, multivariate=True, seed=0),
        optuna.samplers.QMCSampler(seed=0),
    ],
    ids=["random", "tpe", "tpe_multivariate", "qmc"],
)
def test_samplers_see_only_the_trials_bracket_under_the_wrapper(sampler) -> None:
    # Optuna's test_hyperband_filter_study, with the wrapper as the study's pruner: a
    # sampler must be handed the trial's bracket, not the whole study.
    from search.pruner import wrap_pruner

    hyperband = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=16, reduction_factor=3)
    pruner = wrap_pruner(hyperband, grace_epochs=0)
    seen: list[int] = []
    original = sampler.sample_independent

    def spy(study, trial, name, dist):  # type: ignore[no-untyped-def]
        visible = study.get_trials(deepcopy=False)
        seen.append(len(visible))
        bracket = hyperband._get_bracket_id(study, trial)
        assert all(hyperband._get_bracket_id(study, t) == bracket for t in visible)
        return original(study, trial, name, dist)

    sampler.sample_independent = spy
    study = optuna.create_study(sampler=sampler, pruner=pruner)
    assert isinstance(study.pruner, optuna.pruners.HyperbandPruner)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        for step in range(16):
            trial.report(x, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    study.optimize(objective, n_trials=12)
    brackets = {hyperband._get_bracket_id(study, t) for t in study.trials}
    assert seen and len(brackets) > 1  # there were other brackets to hide


def test_wilcoxon_pruner_works_under_the_wrapper(tmp_path, data) -> None:
    spec = tiny_spec(epochs=3, max_restarts=1, lr_factor=0.5, finetune=0)
    pruner = RestartOnPrunePruner(optuna.pruners.WilcoxonPruner(p_threshold=0.1), grace_epochs=0)
    study = sqlite_study(tmp_path, pruner)
    study.optimize(Objective(spec, data), n_trials=2)  # scipy is a dependency: no import error
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
