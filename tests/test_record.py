"""The trial record: what the writer stores, the reader gives back, with derived values."""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from search.record import AblationRun, StudyRecord, TrialRecord, TrialWriter


def _study() -> optuna.Study:
    return optuna.create_study(direction="maximize", storage=optuna.storages.InMemoryStorage())


def test_a_completed_trial_reads_back_what_was_written() -> None:
    study = _study()
    trial = study.ask()
    writer = TrialWriter(trial)
    writer.config({"train": {"epochs": 5}, "restart": {"max_restarts": 2}})
    writer.restarts([{"epoch": 2, "reason": "pruned", "value": 0.5}])
    writer.result(0.70, {"balanced_accuracy": 0.72, "confusion": [[1, 0], [0, 1]]})
    writer.curve([{"epoch": 0, "seconds": 1.5}])
    study.tell(trial, 0.72)
    record = TrialRecord(study.trials[0])
    assert record.trick_config == {"train": {"epochs": 5}, "restart": {"max_restarts": 2}}
    assert (record.max_restarts, record.train_epochs) == (2, 5)
    assert record.restarts[0]["epoch"] == 2 and record.curve[0]["seconds"] == 1.5
    assert record.pre_finetune_value == 0.70
    assert math.isclose(record.finetune_gain or 0, 0.02)
    assert "confusion" not in study.trials[0].user_attrs["val_metrics"]
    assert record.final_value == 0.72 and record.reason == ""


def test_a_pruned_trial_ends_at_its_last_report_and_has_no_gain() -> None:
    study = _study()
    trial = study.ask()
    for step, value in enumerate([0.3, 0.4, 0.35]):
        trial.report(value, step)
    TrialWriter(trial).pruned("epoch 2: pruned by MedianPruner")
    study.tell(trial, state=TrialState.PRUNED)
    record = TrialRecord(study.trials[0])
    assert record.final_value == 0.35
    assert record.finetune_gain is None and record.pre_finetune_value is None
    assert record.reason == "epoch 2: pruned by MedianPruner"
    assert record.train_epochs == math.inf and record.max_restarts is None


def test_a_non_finite_pre_finetune_value_counts_as_absent() -> None:
    study = _study()
    trial = study.ask()
    TrialWriter(trial).result(float("nan"), {})
    study.tell(trial, 0.5)
    assert TrialRecord(study.trials[0]).finetune_gain is None


def test_study_record_and_ablation_runs_round_trip() -> None:
    study = _study()
    record = StudyRecord(study)
    assert record.spec is None and record.metric == "value" and record.warm_start is None
    record.define({"study": {"name": "s"}}, "macro_f1")
    record.change({"study": {"name": "t"}}, [{"changed": ["train.epochs"]}])
    record.warm_started(["plain CE"])
    assert record.metric == "macro_f1" and record.spec == {"study": {"name": "t"}}
    assert record.spec_changes == [{"changed": ["train.epochs"]}]
    assert record.warm_start == ["plain CE"]
    run = AblationRun(3, "restarts", "no restarts", 1, 0.8, 0.79, 12.0, {"train": {}})
    study.add_trial(
        optuna.trial.create_trial(value=0.8, user_attrs=run.attrs(), state=TrialState.COMPLETE)
    )
    assert AblationRun.of(study.trials[0]) == run and run.key == (3, "restarts", 1)
