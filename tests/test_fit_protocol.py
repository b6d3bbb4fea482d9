"""The fit protocol: a user's own loop and the built-in trainer on one session."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import optuna
import pytest
from optuna.pruners import BasePruner
from optuna.trial import TrialState

from search.objective import Objective
from search.pruner import RestartOnPrunePruner
from search.session import run_fit, trial_session
from search.study_file import parse_study
from tests.conftest import ROOT
from tricks.config import TrickConfig
from tricks.session import Session

OWN_LOOP = ROOT / "examples" / "own_loop"
TINY_DATA = {"max_per_class": 150, "imbalance_ratio": 10.0, "val_per_class": 40,
             "test_per_class": 20}  # fmt: skip


@pytest.fixture
def own_loop(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(OWN_LOOP))
    sys.modules.pop("loop", None)
    yield
    sys.modules.pop("loop", None)


class Scripted(BasePruner):
    """Finds a trial poor at the given steps, whatever its values."""

    def __init__(self, poor_at: set[int]) -> None:
        self.poor_at = poor_at

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.last_step in self.poor_at


def spec_for(fit: str, **restart) -> object:
    raw = {
        "study": {"name": "s", "fit": fit},
        "data": TINY_DATA,
        "train": {"epochs": 5, "batch_size": 64, "steps_per_epoch": 7},
        "restart": {"patience": 0, **restart},
        "finetune": {"epochs": 1},
    }
    if not fit:
        del raw["study"]["fit"]
    return parse_study(raw)


def run_one(spec, data, poor_at: set[int]) -> optuna.trial.FrozenTrial:
    pruner = RestartOnPrunePruner(Scripted(poor_at), grace_epochs=1, default_max_restarts=1)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.optimize(Objective(spec, data), n_trials=1)
    return study.trials[0]


@pytest.mark.parametrize(
    ("poor_at", "max_restarts", "state", "restart_epochs"),
    [
        ({1, 3}, 1, TrialState.PRUNED, [1]),  # restarted, then pruned with none left
        ({0, 2}, 2, TrialState.COMPLETE, [0, 2]),  # two restarts, then trained to the end
        ({4}, 1, TrialState.PRUNED, []),  # poor at the last epoch: no epoch left to restart
    ],
)
def test_the_plain_loop_and_the_trainer_take_the_same_decisions(
    own_loop, tiny_data, poor_at, max_restarts, state, restart_epochs
) -> None:
    builtin = run_one(spec_for("", max_restarts=max_restarts), tiny_data, poor_at)
    loop = run_one(spec_for("loop:fit", max_restarts=max_restarts), None, poor_at)
    for trial in (builtin, loop):
        assert trial.state == state
    keys = ("epoch", "reason", "lr_before", "lr_after")
    events = [
        [tuple(e[k] for k in keys) for e in t.user_attrs["restarts"]] for t in (builtin, loop)
    ]
    assert events[0] == events[1]  # restarts at the same epochs, for the same reason and LRs
    assert [e[0] for e in events[0]] == restart_epochs
    assert builtin.user_attrs.get("pruned_reason") == loop.user_attrs.get("pruned_reason")
    assert sorted(builtin.intermediate_values) == sorted(loop.intermediate_values)
    if state == TrialState.COMPLETE:
        for trial in (builtin, loop):  # fine-tune epochs reported after the training ones
            assert max(trial.intermediate_values) == 5
            assert trial.user_attrs["pre_finetune_value"] > 0


def test_report_refuses_an_epoch_that_does_not_increase() -> None:
    session = Session(TrickConfig.from_dict({"train": {"epochs": 4}}))
    session.report(0, 0.5)
    session.report(1, 0.6)
    with pytest.raises(ValueError, match=r"epoch 1 is not after epoch 1"):
        session.report(1, 0.7)


@pytest.mark.parametrize(
    ("returned", "message"),
    [("0.9", "returned '0.9', not a finite number"), (math.nan, "returned nan, not a finite")],
)
def test_a_fit_function_that_returns_no_number_fails_its_trial(returned, message) -> None:
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    session = trial_session(trial, TrickConfig())
    with pytest.raises(ValueError, match=message):
        run_fit(lambda config, s: returned, session)


def test_decreasing_epochs_fail_the_trial_with_the_reason(cli, tmp_path: Path) -> None:
    package = tmp_path / "code"
    package.mkdir()
    (package / "badloop.py").write_text(
        "def fit(config, session):\n"
        "    session.report(1, 0.5)\n"
        "    session.report(0, 0.6)\n"
        "    return 0.6\n"
    )
    study = tmp_path / "study.toml"
    study.write_text(
        "[study]\nname = 'bad'\nfit = 'badloop:fit'\n[train]\nepochs = 3\nsteps_per_epoch = 5\n"
        "[space]\nlr = [0.01, 0.1]\n"
    )
    (package / "study.toml").write_text(study.read_text())
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = cli("run", str(package / "study.toml"), "--storage", url, "--n-trials", "3",
               "--no-dashboard", "--no-warm-start")  # fmt: skip
    sys.modules.pop("badloop", None)
    assert proc.returncode == 1  # three failed trials in a row stop the worker
    trials = optuna.load_study(study_name="bad", storage=url).trials
    assert trials[0].state == TrialState.FAIL
    assert "session.report: epoch 0 is not after epoch 1" in trials[0].user_attrs["fail_reason"]


def test_a_fit_path_that_does_not_import_stops_before_the_study(cli, tmp_path: Path) -> None:
    from tests.test_bad_input import one_line_exit_2

    study = tmp_path / "study.toml"
    study.write_text("[study]\nname = 'x'\nfit = 'nowhere:fit'\n[train]\nsteps_per_epoch = 5\n")
    proc = cli("run", str(study), "--storage", f"sqlite:///{tmp_path / 's.db'}")
    one_line_exit_2(proc, "train.fit: cannot import 'nowhere'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]


def test_a_fit_without_its_steps_per_epoch_is_refused() -> None:
    with pytest.raises(Exception, match=r"train\.steps_per_epoch: give your loop's"):
        TrickConfig.from_dict({"train": {"fit": "loop:fit"}})
