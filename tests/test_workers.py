"""Several workers on one study, killed workers and interrupts, on real storages."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT, TINY_STUDY, run_cli, start_cli

QUICKSTART = str(ROOT / "studies" / "quickstart.toml")
pytestmark = pytest.mark.slow


def assert_intact(study: optuna.Study, n: int) -> list[optuna.trial.FrozenTrial]:
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # none lost, none duplicated
    for t in finished:
        steps = sorted(t.intermediate_values)
        assert steps == list(range(len(steps))) and steps  # every epoch, once
        if t.state == TrialState.COMPLETE:
            assert t.value == t.intermediate_values[steps[-1]]
    return finished


def test_three_workers_reach_exactly_the_total(storage_url: str, tmp_path: Path) -> None:
    name = f"w3-{uuid.uuid4().hex[:8]}"
    proc = run_cli(
        "run",
        QUICKSTART,
        "--storage",
        storage_url,
        "--study-name",
        name,
        "--n-trials",
        "7",
        "--workers",
        "3",
        *TINY_STUDY,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "started 3 workers" in proc.stderr
    study = optuna.load_study(study_name=name, storage=storage_url)
    finished = assert_intact(study, 7)
    assert len(study.trials) == 7
    workers = {t.user_attrs["worker"] for t in finished}
    assert len(workers) == 3, workers
    # Parallel workers sample different configs, not one seed's sequence three times.
    assert len({t.params.get("lr") for t in finished}) == 7


def wait_for(predicate, timeout: float = 240.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(every)
    pytest.fail("timed out waiting")


def test_sigkill_mid_trial_loses_only_that_trial(storage_url: str, tmp_path: Path) -> None:
    name = f"kill-{uuid.uuid4().hex[:8]}"
    args = (
        "run",
        QUICKSTART,
        "--storage",
        storage_url,
        "--study-name",
        name,
        "--n-trials",
        "8",
        "--heartbeat",
        "1",
        "--quiet",
        *TINY_STUDY,
        "--set",
        "train.epochs=8",  # long enough that the kill lands inside the watched trial
    )
    first = start_cli(*args, cwd=tmp_path)
    wait_for(lambda: name in [s.study_name for s in optuna.get_all_study_summaries(storage_url)])
    others = [start_cli(*args, cwd=tmp_path) for _ in range(2)]
    storage = optuna.storages.RDBStorage(storage_url)

    def victim_trial():
        study = optuna.load_study(study_name=name, storage=storage)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            mine = t.user_attrs.get("worker", "").endswith(f":{first.pid}")
            if mine and t.intermediate_values and max(t.intermediate_values) <= 2:
                return t  # epochs 3-7 and the fine-tune still to come
        return None

    victim = wait_for(victim_trial)
    before = {
        t.number: t.value
        for t in optuna.load_study(study_name=name, storage=storage).trials
        if t.state == TrialState.COMPLETE
    }
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    for p in others:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    study = optuna.load_study(study_name=name, storage=storage)
    assert_intact(study, 8)
    killed = study.trials[victim.number]
    assert killed.state == TrialState.FAIL
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retried) == 1 and retried[0].params == killed.params
    after = {t.number: t.value for t in study.trials if t.number in before}
    assert after == before


def test_sigint_stops_cleanly_and_the_same_command_finishes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    args = (
        "run",
        QUICKSTART,
        "--storage",
        url,
        "--n-trials",
        "4",
        "--quiet",
        *TINY_STUDY,
        "--set",
        "train.epochs=10",  # long enough that the signal lands inside the watched trial
    )
    proc = start_cli(*args, cwd=tmp_path)

    def study_trials():
        try:
            return optuna.load_study(study_name="quickstart", storage=url).trials
        except KeyError:  # not created yet
            return []

    wait_for(lambda: any(t.state == TrialState.COMPLETE for t in study_trials()))
    wait_for(
        lambda: any(t.state == TrialState.RUNNING and t.intermediate_values for t in study_trials())
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted by SIGINT" in err and "Traceback" not in err
    study = optuna.load_study(study_name="quickstart", storage=url)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["fail_reason"] == "interrupted by SIGINT"
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]  # none orphaned
    kept = {t.number: t.value for t in study.trials if t.state == TrialState.COMPLETE}
    proc2 = run_cli(*args, cwd=tmp_path)
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    study = optuna.load_study(study_name="quickstart", storage=url)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 4
    assert {t.number: t.value for t in study.trials if t.number in kept} == kept


def test_any_sqlite_url_is_locked(tmp_path: Path) -> None:
    # sqlite+pysqlite is the same file storage: the claim lock must hold for it too.
    url = f"sqlite+pysqlite:///{tmp_path / 'study.db'}"
    proc = run_cli(
        "run",
        QUICKSTART,
        "--storage",
        url,
        "--n-trials",
        "4",
        "--workers",
        "2",
        *TINY_STUDY,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "study.db.claim.lock").exists()
    study = optuna.load_study(study_name="quickstart", storage=url)
    assert len(assert_intact(study, 4)) == 4 and len(study.trials) == 4


def checkpoint_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("trial-*.pt")) if folder.exists() else []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "sigint"])
def test_a_stopped_trial_resumes_from_its_last_checkpoint(
    storage_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    name = f"resume-{uuid.uuid4().hex[:8]}"
    args = (
        "run", QUICKSTART, "--storage", storage_url, "--study-name", name, "--n-trials", "1",
        "--heartbeat", "1", "--quiet", "--checkpoint-dir", str(tmp_path / "ckpt"),
        "--checkpoint-every", "0", *TINY_STUDY,
        "--set", "train.epochs=12", "--set", "pruner.name='NopPruner'", "--set", "pruner.kwargs={}",
    )  # fmt: skip
    env = {"TRICKSEARCH_THREADS": "1"}  # the reference below trains with one thread too
    victim = start_cli(*args, cwd=tmp_path, env=env)
    folder = tmp_path / "ckpt" / name
    ckpt = wait_for(lambda: checkpoint_files(folder), every=0.05)[0]
    wait_for(lambda: torch_epoch(ckpt) >= 1, every=0.05)
    victim.send_signal(sig)
    assert victim.wait(timeout=60) == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    if sig == signal.SIGKILL:
        time.sleep(3.5)  # three missed heartbeats: the trial is stale
    proc = run_cli(*args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name=name, storage=storage_url)
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL and retry.system_attrs["failed_trial"] == 0
    assert retry.state == TrialState.COMPLETE
    resumed = retry.user_attrs["resumed_after_epoch"]
    assert resumed >= 1
    # Only the remaining epochs were trained by the retry; the curve and reports are whole.
    assert [row["epoch"] for row in retry.user_attrs["curve"]] == list(range(13))
    assert sorted(retry.intermediate_values) == list(range(13))
    assert checkpoint_files(tmp_path / "ckpt") == []
    # On the CPU the value equals that of the same trial trained without interruption.
    assert retry.value == uninterrupted_value(retry)


def torch_epoch(path: Path) -> int:
    import torch

    try:
        return int(torch.load(path, weights_only=True)["fit"]["epoch"])  # the trainer's state
    except Exception:  # replaced while reading
        return -1


def uninterrupted_value(trial: optuna.trial.FrozenTrial) -> float:
    import torch

    from tricks import TrickConfig, load_bundle, train

    raw = dict(trial.user_attrs["trick_config"])
    raw["restart"] = {**raw["restart"], "replay": trial.user_attrs["restarts"]}
    config = TrickConfig.from_dict(raw)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(config, load_bundle(config.data, seed=config.train.seed)).value
    finally:
        torch.set_num_threads(threads)


def test_workers_get_the_parsed_run_not_an_edited_command_line() -> None:
    from search.runner import RunOptions
    from search.study_file import load_study_file, parse_study
    from search.workers import describe_run

    spec = load_study_file(QUICKSTART, ["train.epochs=2", "space.lr=[0.02, 0.2]"])
    opts = RunOptions("sqlite:///x.db", "quick", 7, device="cpu", checkpoint_every=0.0)
    job = json.loads(json.dumps(describe_run(spec, opts, device="cuda:1", worker="w1")))
    again = parse_study(job["spec"])
    assert again.base == spec.base and again.space == spec.space and again.name == spec.name
    worker_opts = RunOptions(**job["options"])
    assert (worker_opts.device, worker_opts.worker, worker_opts.n_trials) == ("cuda:1", "w1", 7)
    assert worker_opts.url == opts.url  # the storage URL, parsed once per process
