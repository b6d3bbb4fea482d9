"""The search space and the sampler: scales, conditional sampling, defaults, resumes."""

from __future__ import annotations

import statistics
from pathlib import Path

import optuna

from search.runner import RunOptions, open_study
from search.space import suggest_config
from search.study_file import load_study_file, make_sampler
from tests.conftest import ROOT

QUICKSTART = ROOT / "studies" / "quickstart.toml"


def sample(spec, n: int, seed: int = 0) -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(n):
        trial = study.ask()
        suggest_config(trial, spec.space, spec.base, steps_per_epoch=10)
        study.tell(trial, 0.0)
    return study.trials


def test_beta_and_restart_factor_are_log_scaled() -> None:
    spec = load_study_file(QUICKSTART, ["space.loss_kind=['weighted_ce']"])
    spec.space["weight_mode"] = ["effective"]
    trials = sample(spec, 200)
    gaps = [t.params["weight_beta_gap"] for t in trials]
    assert all(t.distributions["weight_beta_gap"].log for t in trials)
    # Log-uniform 1 - beta on [1e-4, 0.1]: the median beta is ~0.997, not ~0.95.
    assert 1 - statistics.median(gaps) > 0.99
    factors = [t for t in trials if "restart_lr_factor" in t.params]
    assert factors and all(t.distributions["restart_lr_factor"].log for t in factors)


def test_conditional_parameters_appear_only_where_they_matter() -> None:
    spec = load_study_file(QUICKSTART)
    for t in sample(spec, 60):
        kind = t.params["loss_kind"]
        assert ("focal_gamma" in t.params) == ("focal" in kind)
        assert ("weight_mode" in t.params) == kind.startswith("weighted")
        assert ("restart_lr_factor" in t.params) == (t.params["max_restarts"] > 0)


def test_tpe_gets_multivariate_group_and_constant_liar() -> None:
    spec = load_study_file(QUICKSTART)
    sampler = make_sampler(spec, seed=0)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._multivariate and sampler._group and sampler._constant_liar
    # The study file's own choice wins.
    spec.sampler["kwargs"] = {"multivariate": False, "n_startup_trials": 4}
    assert not make_sampler(spec, seed=0)._multivariate


def test_a_resumed_study_draws_new_parameter_sets(tmp_path: Path) -> None:
    spec = load_study_file(QUICKSTART)
    opts = RunOptions(
        storage=f"sqlite:///{tmp_path / 's.db'}", study_name="q", n_trials=4, warm_start=False
    )
    drawn = []
    for _ in range(2):  # two runs of the same command, as after an interruption
        study = open_study(spec, opts)
        for _ in range(2):
            trial = study.ask()
            suggest_config(trial, spec.space, spec.base, steps_per_epoch=10)
            study.tell(trial, 0.5)
            drawn.append(trial.params)
    assert drawn[2] != drawn[0] and drawn[3] != drawn[1]
    # A new study with the same seed is reproducible.
    opts.study_name = "again"
    study = open_study(spec, opts)
    trial = study.ask()
    suggest_config(trial, spec.space, spec.base, steps_per_epoch=10)
    assert trial.params == drawn[0]


def test_neighbouring_workers_never_share_a_sampler_seed(monkeypatch) -> None:
    from search import runner

    spec = load_study_file(QUICKSTART)
    opts = RunOptions(storage="postgresql://u@h/db", study_name="q", n_trials=4, worker="w0")
    seeds = set()
    for pid, count in [(1000, 1), (1001, 0), (1002, 2), (1003, 1)]:
        monkeypatch.setattr(runner.os, "getpid", lambda pid=pid: pid)
        seeds.add(runner._sampler_seed(spec, opts, count))
    assert len(seeds) == 4  # seed + count + pid gave 1001 twice and 1004 twice


def test_weight_decay_is_searchable_from_its_schema_entry() -> None:
    spec = load_study_file(QUICKSTART, ["space.weight_decay=[1e-5, 1e-3]"])
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    decays = set()
    for _ in range(5):
        trial = study.ask()
        decays.add(
            suggest_config(trial, spec.space, spec.base, steps_per_epoch=10).train.weight_decay
        )
        assert trial.distributions["weight_decay"] == optuna.distributions.FloatDistribution(
            1e-5, 1e-3, log=True
        )
        study.tell(trial, 0.5)
    assert len(decays) == 5 and all(1e-5 <= d <= 1e-3 for d in decays)


def test_model_width_is_searchable_for_the_small_cnn() -> None:
    spec = load_study_file(QUICKSTART, ["space.model_width=[16, 32]"])
    trials = sample(spec, 30)
    widths = {t.params["model_width"] for t in trials}
    assert len(widths) > 5 and all(16 <= w <= 32 for w in widths)
    trial = optuna.trial.FixedTrial({**trials[0].params, "model_width": 24})
    assert suggest_config(trial, spec.space, spec.base, steps_per_epoch=10).model.width == 24
    # Without the key the width stays the base config's and is not a parameter.
    plain = sample(load_study_file(QUICKSTART), 5)
    assert all("model_width" not in t.params for t in plain)
