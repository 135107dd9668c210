"""The shared AdamW with linear warm-up (BertAdam's schedule)."""

import math

import pytest
import torch
from torch import nn

from mmerbench_methods._blocks.optim import adamw_with_warmup, warmup_factor


def test_linear_warmup_then_linear_decay_to_zero():
    factor = warmup_factor(warmup_steps=2, total_steps=10)
    assert [round(factor(s), 4) for s in range(11)] == [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]


def test_cosine_decay_after_warmup():
    factor = warmup_factor(warmup_steps=1, total_steps=5, schedule="cosine")
    assert factor(0) == 1.0 and factor(1) == 1.0 and factor(5) == pytest.approx(0.0, abs=1e-12)
    assert factor(3) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    with pytest.raises(ValueError, match="schedule"):
        warmup_factor(1, 5, "step")


def test_weight_decay_only_on_weight_matrices():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    optimizer, scheduler = adamw_with_warmup(model, lr=0.1, weight_decay=0.01, warmup=0.1, total_steps=20)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert {p.shape for p in decay["params"]} == {torch.Size([4, 3]), torch.Size([2, 4])}
    assert len(no_decay["params"]) == 4  # two biases, the norm's weight and bias
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 / 2)  # step 0 of a 2-step warm-up
