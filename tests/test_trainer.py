from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import tiny_config
from tricks import EpochEnd, RestartEvent, Trainer, TrainingStopped, random_crop_flip, train
from tricks.session import Session


def test_trainer_beats_chance_within_two_epochs(tensors) -> None:
    result = train(tiny_config(), tensors)
    # 10 balanced validation classes: chance is 0.10.
    assert result.pre_finetune_value > 0.35
    assert len([e for e in result.history if e.phase == "train"]) == 2
    assert result.finetune is not None and result.finetune.before == result.pre_finetune_value
    assert result.value == result.finetune.after


def test_same_seed_same_run_on_cpu(tensors) -> None:
    cfg = tiny_config(finetune={"epochs": 0}, train={"epochs": 1})
    a, b = train(cfg, tensors), train(cfg, tensors)
    assert a.value == b.value
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_a_poor_epoch_restarts_with_scaled_lr_and_global_epochs(tensors) -> None:
    cfg = tiny_config(
        train={"epochs": 3}, restart={"max_restarts": 1, "lr_factor": 0.25, "patience": 0}
    )
    events: list = []
    session = Session(cfg, adviser=lambda epoch, value: epoch == 0)  # an outside judge
    result = Trainer(cfg, tensors).fit(events.append, session=session)
    restarts = [e for e in events if isinstance(e, RestartEvent)]
    assert [(r.epoch, r.reason) for r in restarts] == [(0, "pruned")]
    assert restarts[0].lr_before == 0.05 and restarts[0].lr_after == pytest.approx(0.0125)
    epochs = [e.epoch for e in events if isinstance(e, EpochEnd)]
    assert epochs == sorted(set(epochs)) == [0, 1, 2, 3]
    assert result.restarts == restarts
    # After the restart the learning rate never exceeds the new peak.
    assert max(e.lr for e in events if isinstance(e, EpochEnd) and e.epoch >= 1) <= 0.0125 + 1e-12


def test_divergence_restarts_then_stops(tensors) -> None:
    cfg = tiny_config(
        train={"epochs": 3, "lr": 1e30, "weight_decay": 0.0},
        restart={"max_restarts": 1, "lr_factor": 1.0},
    )
    seen = []
    with pytest.raises(TrainingStopped) as info:
        train(cfg, tensors, listener=seen.append)
    assert info.value.reason == "diverged"
    assert [e.reason for e in info.value.events] == ["diverged"]
    assert any(isinstance(e, EpochEnd) and not e.finite and math.isnan(e.value) for e in seen)


def test_batch_augmentation_is_a_per_sample_crop_and_flip() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    out = random_crop_flip(x, padding=0, flip=True, generator=torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    out = random_crop_flip(x, padding=1, flip=False, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    # Every output pixel is either padding (0) or a pixel of the same sample.
    for i in range(2):
        assert set(out[i].flatten().tolist()) <= set(x[i].flatten().tolist()) | {0.0}


def test_test_split_evaluation_has_per_class_accuracy(tensors) -> None:
    trainer = Trainer(tiny_config(finetune={"epochs": 0}, train={"epochs": 1}), tensors)
    result = trainer.fit()
    test = trainer.evaluate(result.model, "test")
    assert len(test["per_class_accuracy"]) == 10
    assert 0.0 <= test["balanced_accuracy"] <= 1.0
    assert sum(map(sum, test["confusion"])) == len(tensors.y_test)


def test_finetune_lr_follows_the_peak_after_restarts(tensors) -> None:
    cfg = tiny_config(
        train={"epochs": 3, "lr": 0.08},
        restart={"max_restarts": 1, "lr_factor": 0.25, "replay": [{"epoch": 0, "reason": "x"}]},
        finetune={"epochs": 1, "lr_factor": 0.1},
    )
    result = train(cfg, tensors)
    assert [r.lr_after for r in result.restarts] == [pytest.approx(0.02)]
    finetune = [e for e in result.history if e.phase == "finetune"]
    assert [e.lr for e in finetune] == [pytest.approx(0.02 * 0.1)]


def test_evaluation_runs_in_float32_even_when_training_uses_autocast(tensors) -> None:
    trainer = Trainer(tiny_config(), tensors)
    trainer.amp_dtype = torch.bfloat16  # what CUDA gets; CPU autocast supports it too
    model = trainer.build_model()
    dtypes: list[torch.dtype] = []
    model.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    trainer.evaluate(model)
    assert dtypes and set(dtypes) == {torch.float32}
    from tricks.loop import train_one_epoch

    dtypes.clear()
    batches = trainer.batches(augment=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    train_one_epoch(
        model, [next(batches)], torch.nn.functional.cross_entropy, opt, None, trainer.amp_dtype
    )
    assert dtypes == [torch.bfloat16]


def test_model_width_sets_the_small_cnns_channels(tensors) -> None:
    default = Trainer(tiny_config(), tensors).build_model()
    wide = Trainer(tiny_config(model={"width": 32}), tensors).build_model()
    assert [m.out_channels for m in default.modules() if isinstance(m, torch.nn.Conv2d)] == [
        16,
        32,
        64,
    ]
    assert [m.out_channels for m in wide.modules() if isinstance(m, torch.nn.Conv2d)] == [
        32,
        64,
        128,
    ]
    assert wide.head.in_features == 128


def test_channels_last_by_default_and_same_numbers_as_nchw(tensors) -> None:
    auto = Trainer(tiny_config(), tensors)
    nchw = Trainer(tiny_config(train={"memory_format": "contiguous"}), tensors)
    assert auto.memory_format == torch.channels_last
    model = auto.build_model()
    assert model.features[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    x, _ = next(auto.batches(augment=False))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert nchw.build_model().features[1][0].weight.is_contiguous()
    # Same weights, either layout: the same predictions on the validation split.
    other = nchw.build_model()
    other.load_state_dict(model.state_dict())
    a, b = auto.evaluate(model), nchw.evaluate(other)
    assert a["confusion"] == b["confusion"]


def test_resuming_from_a_checkpoint_ends_exactly_as_an_uninterrupted_run(tensors, tmp_path) -> None:
    cfg = tiny_config(
        train={"epochs": 4},
        restart={"max_restarts": 1, "lr_factor": 0.5, "replay": [{"epoch": 0, "reason": "x"}]},
    )
    epochs: list[int] = []

    def save(state: dict) -> None:  # the state shares the live tensors: write it at once
        epochs.append(state["epoch"])
        torch.save(state, tmp_path / f"{state['epoch']}.pt")

    whole = Trainer(cfg, tensors).fit(checkpoint=save)
    assert epochs == [0, 1, 2, 3]
    # After epoch 1 (a restart behind it), through a file, into a fresh trainer and process state.
    path = tmp_path / "1.pt"
    torch.manual_seed(1234)
    resumed_events: list = []
    resumed = Trainer(cfg, tensors).fit(
        listener=resumed_events.append, resume=torch.load(path, weights_only=True)
    )
    assert resumed.value == whole.value and resumed.pre_finetune_value == whole.pre_finetune_value
    for a, b in zip(resumed.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(a, b)
    # Only the remaining epochs were trained; the history is whole.
    trained = [e.epoch for e in resumed_events if isinstance(e, EpochEnd) and e.phase == "train"]
    assert trained == [2, 3]
    assert [e.epoch for e in resumed.history] == [e.epoch for e in whole.history]
    assert [r.epoch for r in resumed.restarts] == [0]


@pytest.mark.parametrize("on_restart", ["reinit", "best"])
def test_a_restart_restores_the_initial_or_the_best_weights(tensors, on_restart: str) -> None:
    cfg = tiny_config(
        train={"epochs": 2},
        finetune={"epochs": 0},
        restart={
            "max_restarts": 1,
            "on_restart": on_restart,
            "replay": [{"epoch": 0, "reason": "x"}],
        },
    )
    trainer = Trainer(cfg, tensors)
    initial = trainer.build_model().state_dict()
    after_restart: dict = {}

    def keep(state: dict) -> None:
        if state["epoch"] == 0:  # written after epoch 0's restart was applied
            after_restart.update({k: v.clone() for k, v in state["model"].items()})
            after_restart["best"] = {k: v.clone() for k, v in state["best_state"].items()}

    trainer.fit(checkpoint=keep)
    expected = initial if on_restart == "reinit" else after_restart["best"]
    other = after_restart["best"] if on_restart == "reinit" else initial
    weight = next(k for k in initial if k.endswith("weight"))
    assert torch.equal(after_restart[weight], expected[weight])
    assert not torch.equal(after_restart[weight], other[weight])
