from __future__ import annotations

import pytest
import torch

from tricks import class_weights


def test_inverse_frequency_matches_the_cost_function() -> None:
    w = class_weights([5000, 10000])
    assert w.dtype == torch.float32
    assert w.tolist() == [2.0, 1.0]


def test_power_softens() -> None:
    w = class_weights([100, 400, 1600], power=0.5)
    torch.testing.assert_close(w, torch.tensor([4.0, 2.0, 1.0]))
    assert class_weights([1, 9], power=0.0).tolist() == [1.0, 1.0]


def test_effective_number_of_samples() -> None:
    counts = torch.tensor([1000.0, 100.0, 10.0])
    beta = 0.99
    raw = (1 - beta) / (1 - beta**counts)
    expected = raw * 3 / raw.sum()
    torch.testing.assert_close(class_weights(counts, mode="effective", beta=beta), expected.float())
    # beta -> 0 gives equal weights; larger beta moves towards inverse frequency.
    assert torch.allclose(class_weights(counts, mode="effective", beta=0.0), torch.ones(3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"counts": [5, 0]}, "count"),
        ({"counts": [5, 3], "power": -1.0}, "power"),
        ({"counts": [5, 3], "mode": "effective", "beta": 1.0}, "beta"),
        ({"counts": [5, 3], "mode": "sqrt"}, "valid: inverse, effective"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        class_weights(**kwargs)
