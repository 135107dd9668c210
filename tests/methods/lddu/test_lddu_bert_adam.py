"""The released code's optimiser (BertAdam) and schedule, used by LDDU's reference-code preset."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mmerbench.api import make_method
from mmerbench_methods.lddu.bert_adam import BertAdam, decay_groups, warmup_cosine_factor


def test_bertadam_has_no_bias_correction_and_decoupled_decay():
    weight = nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = BertAdam([weight], lr=0.1, weight_decay=0.01)
    grads = [torch.tensor([0.5, -1.0]), torch.tensor([0.2, 0.3]), torch.tensor([-0.4, 0.1])]
    value, m, v = [1.0, -2.0], [0.0, 0.0], [0.0, 0.0]
    for g in grads:
        weight.grad = g.clone()
        optimizer.step()
        for i in range(2):  # the update written out, without Adam's 1 / (1 - beta^t) corrections
            m[i] = 0.9 * m[i] + 0.1 * float(g[i])
            v[i] = 0.999 * v[i] + 0.001 * float(g[i]) ** 2
            value[i] -= 0.1 * (m[i] / (math.sqrt(v[i]) + 1e-6) + 0.01 * value[i])
    assert weight.detach().tolist() == pytest.approx(value, rel=1e-5)
    # The first update is ~3.16 lr per unit gradient sign, where bias-corrected Adam moves 1 lr.
    first = nn.Parameter(torch.zeros(1))
    first.grad = torch.ones(1)
    BertAdam([first], lr=1.0).step()
    assert float(first) == pytest.approx(-0.1 / math.sqrt(0.001), rel=1e-4)


def test_warmup_cosine_is_a_cosine_over_the_whole_run():
    assert warmup_cosine_factor(0, 100, 0.1) == 0.0  # the first step has lr 0
    assert warmup_cosine_factor(5, 100, 0.1) == pytest.approx(0.5)
    assert warmup_cosine_factor(10, 100, 0.1) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.1)))  # 0.976, not 1
    assert warmup_cosine_factor(50, 100, 0.1) == pytest.approx(0.5)
    assert warmup_cosine_factor(100, 100, 0.1) == pytest.approx(0.0, abs=1e-12)


def test_decay_groups_leave_biases_and_layer_norms_undecayed():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1))
    decayed, plain = decay_groups(model, 0.01)
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(model[0].weight), id(model[2].weight)}
    assert len(plain["params"]) == 4  # two biases, LayerNorm weight and bias


def test_reference_code_preset_trains_with_bertadam_and_its_schedule():
    method = make_method("lddu", preset="reference-code")
    assert method.optimizer == "bertadam"
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    optimizer, scheduler = method.configure_optimizer(model, total_steps=20)
    assert isinstance(optimizer, BertAdam)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([2e-4 * warmup_cosine_factor(s, 20, 0.1) for s in range(20)])
