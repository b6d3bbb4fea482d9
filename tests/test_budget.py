"""`run --budget`: a budget in epochs or time, parsed, checked, and split search / final."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.budget import Budget, final_epochs, most_epochs, parse_budget, search_progress
from search.errors import UsageError
from tests.conftest import ROOT
from tests.test_bad_input import one_line_exit_2

QUICKSTART = str(ROOT / "studies" / "quickstart.toml")


@pytest.mark.parametrize(
    ("text", "budget"),
    [
        ("1300ep", Budget(1300, False)),
        ("1300 epochs", Budget(1300, False)),
        ("90m", Budget(5400, True)),
        ("1.5h", Budget(5400, True)),
        ("45s", Budget(45, True)),
    ],
)
def test_budgets_in_epochs_and_time(text: str, budget: Budget) -> None:
    assert parse_budget(text, 8) == budget


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lots", "budget: 'lots' is not understood; use e.g. 1300ep, 90m or 3h"),
        ("0ep", "budget: must be above zero"),
        ("5ep", "budget: '5ep' is less than one trial's 8 epochs"),
        ("3 weeks", "is not understood"),
    ],
)
def test_bad_budgets_name_the_key(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse_budget(text, 8)


def _trial(value: float, epoch_seconds: float, epochs: int = 10) -> optuna.trial.FrozenTrial:
    curve = [{"epoch": e, "value": value, "seconds": epoch_seconds} for e in range(epochs)]
    return optuna.trial.create_trial(value=value, user_attrs={"curve": curve})


def test_a_time_budget_buys_final_epochs_at_the_picks_own_epoch_time() -> None:
    study = optuna.create_study(direction="maximize")
    for value, seconds in ((0.80, 1.0), (0.81, 1.0), (0.82, 1.0), (0.90, 3.0)):
        study.add_trial(_trial(value, seconds))  # the pick is a wider model: 3 s epochs
    spent = 3 * 10 * 1.0 + 10 * 3.0
    budget = Budget(spent + 100.0, in_seconds=True)  # 100 s left
    # 100 s at the pick's 3 s an epoch is 33 epochs; one held back, 4 of them fine-tune.
    assert final_epochs(study, budget, study.best_trial, 4) == 33 - 1 - 4
    # In epochs: 50 left after the 40 spent, 4 of them fine-tune.
    assert final_epochs(study, Budget(40 + 50, in_seconds=False), study.best_trial, 4) == 46
    slow_start = _trial(0.95, 3.0)  # its first epoch also held the trial's set-up: 33 s
    slow_start.user_attrs["curve"][0]["seconds"] = 33.0
    study.add_trial(slow_start)
    budget = Budget(spent + 10 * 3.0 + 30 + 100.0, in_seconds=True)  # 100 s left again
    assert final_epochs(study, budget, study.best_trial, 4) == 33 - 1 - 4


def test_progress_says_how_much_of_the_search_share_is_spent() -> None:
    trials = [_trial(0.8, 1.5, epochs=20), _trial(0.9, 1.5, epochs=20)]  # 40 epochs, 60 s
    assert search_progress(trials, Budget(100, False)) == (
        "budget: search 40 of 85 epochs (47%); the rest trains its pick"
    )
    assert search_progress(trials, Budget(3600, True)) == (
        "budget: search 60 s of 51 min (2%); the rest trains its pick"
    )


def test_time_budgets_read_in_the_unit_they_were_given_in() -> None:
    assert [str(Budget(s, True)) for s in (45, 5400, 750, 3 * 3600)] == [
        "45 s", "90 min", "12.5 min", "3 h"
    ]  # fmt: skip
    assert str(Budget(1300, False)) == "1300 epochs"


def test_a_trial_counts_its_widest_finetune() -> None:
    tables = {"train": {"epochs": 40}, "finetune": {"epochs": 4}}
    assert most_epochs(tables) == 44
    assert most_epochs({**tables, "space": {"finetune_epochs": [3, 6]}}) == 46


@pytest.mark.parametrize("budget", ["lots", "0ep", "7ep"])
def test_a_bad_budget_stops_run_before_anything_is_stored(cli, tmp_path: Path, budget) -> None:
    proc = cli("run", QUICKSTART, "--budget", budget, "--storage", f"sqlite:///{tmp_path}/s.db",
               cwd=tmp_path)  # fmt: skip
    one_line_exit_2(proc, "budget:")
    assert list(tmp_path.iterdir()) == []


def test_a_final_folder_is_reused_only_for_the_config_it_trained(tmp_path: Path) -> None:
    """``run --budget`` reruns: the same config's finished metrics are reused; another
    config's (or an unreadable) ``best.toml`` drops its checkpoint and metrics."""
    from search.budget import _prepare
    from tricks.config import TrickConfig

    final = TrickConfig().stretched(7)
    assert _prepare(tmp_path, final) is None  # a new folder: best.toml written
    (tmp_path / "metrics.json").write_text('{"value": 0.5}')
    assert _prepare(tmp_path, final) == {"value": 0.5}
    for saved in (TrickConfig().stretched(9).to_toml(), "not = [toml"):
        (tmp_path / "best.toml").write_text(saved)
        (tmp_path / "checkpoint.pt").write_bytes(b"weights of another config")
        (tmp_path / "metrics.json").write_text('{"value": 0.5}')
        assert _prepare(tmp_path, final) is None
        assert not (tmp_path / "checkpoint.pt").exists()
        assert not (tmp_path / "metrics.json").exists()
        assert TrickConfig.load(tmp_path / "best.toml").train.epochs == 7
