"""Warm start: a new study's first trials are the literature's recipes that fit its space."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from search.recipes import RECIPES
from search.runner import RunOptions, open_study
from search.space import suggest_config
from search.study_file import load_study_file
from tests.conftest import ROOT, TINY_STUDY, run_cli

QUICKSTART = ROOT / "studies" / "quickstart.toml"


def opts(folder: Path, **kw) -> RunOptions:
    folder.mkdir(exist_ok=True)
    return RunOptions(storage=f"sqlite:///{folder / 's.db'}", study_name="q", n_trials=9, **kw)


def waiting(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=(TrialState.WAITING,))


def test_new_study_starts_with_the_recipes_that_fit(tmp_path: Path) -> None:
    spec = load_study_file(QUICKSTART)  # no sigmoid_focal, everything else
    study = open_study(spec, opts(tmp_path))
    names = [t.user_attrs["recipe"]["name"] for t in waiting(study)]
    assert names == [r.name for r in RECIPES]
    assert study.user_attrs["warm_start"] == names
    # Asked for in order, each recipe becomes the trick config it names.
    configs = {}
    for _ in names:
        trial = study.ask()
        configs[trial.user_attrs["recipe"]["name"]] = suggest_config(
            trial, spec.space, spec.base, steps_per_epoch=10
        )
    assert list(configs) == names
    plain = configs["plain CE"]
    assert plain.loss.kind == "ce" and plain.train.lr == 0.1
    assert plain.restart.max_restarts == 0 and plain.schedule.kind == "cosine"
    sqrt = configs["CE + inverse-sqrt class weights"].loss
    assert (sqrt.kind, sqrt.weight_mode, sqrt.weight_power) == ("weighted_ce", "inverse", 0.5)
    assert sqrt.weights_from_epoch == 0
    drw = configs["deferred re-weighting"].loss
    assert drw.weight_mode == "effective" and abs(drw.weight_beta - 0.9999) < 1e-9
    assert drw.weights_from_epoch > 0
    assert configs["balanced softmax"].loss.kind == "balanced_softmax"
    focal = configs["class-balanced focal loss"].loss
    assert (focal.kind, focal.focal_gamma) == ("weighted_focal", 2.0)


def recipe_widths(spec, study: optuna.Study) -> set[int]:
    """The model width of every enqueued recipe, asked for as a worker would."""
    widths = set()
    for _ in waiting(study):
        trial = study.ask()
        assert "recipe" in trial.user_attrs
        widths.add(suggest_config(trial, spec.space, spec.base, steps_per_epoch=10).model.width)
    return widths


def test_recipes_keep_the_users_model_width_in_a_width_search(tmp_path: Path) -> None:
    spec = load_study_file(QUICKSTART, ["model.width=24", "space.model_width=[8, 64]"])
    assert recipe_widths(spec, open_study(spec, opts(tmp_path))) == {24}
    narrow = load_study_file(QUICKSTART, ["space.model_width=[32, 64]"])  # base 16: nearest bound
    assert recipe_widths(narrow, open_study(narrow, opts(tmp_path / "narrow"))) == {32}


def test_a_space_without_a_loss_kind_gets_no_recipe_for_it(tmp_path: Path) -> None:
    spec = load_study_file(QUICKSTART, ["space.loss_kind=['ce', 'weighted_ce']"])
    study = open_study(spec, opts(tmp_path))
    names = [t.user_attrs["recipe"]["name"] for t in waiting(study)]
    assert names == ["plain CE", "CE + inverse-sqrt class weights", "deferred re-weighting"]


def test_off_by_option_or_file_and_never_enqueued_twice(tmp_path: Path, capsys) -> None:
    spec = load_study_file(QUICKSTART)
    assert waiting(open_study(spec, opts(tmp_path / "a", warm_start=False))) == []
    off = load_study_file(QUICKSTART, ["study.warm_start=false"])
    assert waiting(open_study(off, opts(tmp_path / "b"))) == []
    # Resumed: the recipes are not enqueued again, and --no-warm-start only says so.
    first = open_study(spec, opts(tmp_path / "c"))
    assert len(waiting(first)) == len(RECIPES)
    assert len(open_study(spec, opts(tmp_path / "c")).trials) == len(RECIPES)
    capsys.readouterr()
    open_study(spec, opts(tmp_path / "c", warm_start=False))
    err = capsys.readouterr().err
    assert "already holds its 5 recipe trials" in err and err.count("\n") == 1
    assert len(open_study(spec, opts(tmp_path / "c")).trials) == len(RECIPES)


def test_recipes_run_first_through_the_real_cli(tmp_path: Path) -> None:
    args = [a for a in TINY_STUDY if a != "--no-warm-start"]
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = run_cli("run", str(QUICKSTART), "--storage", url, "--n-trials", "2", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    study = optuna.load_study(study_name="quickstart", storage=url)
    done = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert [t.user_attrs["recipe"]["name"] for t in done] == ["plain CE", RECIPES[1].name]
    assert len(waiting(study)) == len(RECIPES) - 2
    from optuna_dashboard._note import get_note_from_system_attrs

    system_attrs = study._storage.get_study_system_attrs(study._study_id)
    note = get_note_from_system_attrs(system_attrs, done[0]._trial_id)["body"]
    assert "Recipe: plain CE (the unweighted baseline)" in note
    from search.report import build_report

    report = build_report(url, "quickstart", tmp_path / "report", evaluate_test=False).read_text()
    section = report.split("## Recipes (warm start)")[1]
    assert "| 0 | plain CE | the unweighted baseline |" in section
