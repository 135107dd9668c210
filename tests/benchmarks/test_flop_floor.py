"""benchmarks/flop_floor.py: the matrix products of a step are all recorded, counted and replayed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "flop_floor.py"


def _module():
    spec = importlib.util.spec_from_file_location("flop_floor", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("flop_floor", module)
    spec.loader.exec_module(module)
    return module


def test_a_linear_layer_and_attention_are_recorded_with_their_flops():
    floor = _module()
    layer = nn.Linear(16, 8)
    x = torch.randn(32, 16)  # no gradient wanted for the input: backward makes one product (the weight's)
    q, k, v = (torch.randn(2, 3, 5, 4, requires_grad=True) for _ in range(3))

    def step():
        layer(x).sum().backward()
        F.scaled_dot_product_attention(q, k, v).sum().backward()

    products, flops = floor.record_step(step)
    kinds = [kind for kind, _, _ in products]
    assert kinds.count("addmm") == 1 and kinds.count("mm") == 1  # forward, weight gradient
    assert kinds.count("bmm") == 6  # attention's two products forward, four backward (math path)
    linear = 2 * 32 * 16 * 8
    attention = 2 * 6 * 5 * 5 * 4  # one (B*heads) x (5 x 4) @ (4 x 5) product
    assert flops == 2 * linear + 6 * attention
    seconds, replayed = floor.replay_seconds(products, repeats=1)
    assert replayed == flops and seconds > 0
