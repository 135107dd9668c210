"""``uniform_float32``: torch.rand's float32 numbers on the CPU, two per int64 draw (``_blocks/uniform.py``)."""

from __future__ import annotations

import pytest
import torch

from mmerbench_methods._blocks import uniform as uniform_module
from mmerbench_methods._blocks.uniform import uniform_float32


@pytest.mark.parametrize("shape", [(0,), (1,), (2,), (7,), (64, 50, 256), (3, 5, 7), (4, 0, 2)])
def test_same_numbers_and_generator_state_as_torch_rand(shape):
    torch.manual_seed(12)
    plain, after_plain = torch.rand(shape), torch.rand(5)
    torch.manual_seed(12)
    ours, after_ours = uniform_float32(shape), torch.rand(5)
    assert ours.dtype == torch.float32 and ours.shape == torch.Size(shape) and ours.is_contiguous()
    assert torch.equal(ours.view(torch.int32), plain.view(torch.int32))  # bit for bit
    assert torch.equal(after_ours, after_plain)  # the generator is left where torch.rand leaves it
    # and it is the paired draw that gave them (not the fallback to torch.rand)
    assert uniform_module._same_as_rand is True
    torch.manual_seed(12)
    paired = uniform_module._paired_uniform_float32(plain.numel())
    assert torch.equal(paired.view(torch.int32), plain.reshape(-1).view(torch.int32))
    assert torch.equal(torch.rand(5), after_plain)


def test_draws_continue_the_stream_in_order():
    torch.manual_seed(13)
    plain = torch.rand(11)
    torch.manual_seed(13)
    pieces = torch.cat([uniform_float32((3,)), uniform_float32((4,)), torch.rand(1), uniform_float32((3,))])
    assert torch.equal(pieces, plain)


def test_the_one_time_check_notices_a_generator_that_pairs_words_otherwise(monkeypatch):
    """Were int64 draws to hold their two words the other way round, the check fails and torch.rand is used."""
    real = uniform_module._paired_uniform_float32

    def other_order(count):
        drawn = real(count)
        pairs = count // 2
        drawn[: 2 * pairs] = drawn[: 2 * pairs].view(pairs, 2).flip(1).reshape(-1)
        return drawn

    monkeypatch.setattr(uniform_module, "_paired_uniform_float32", other_order)
    assert uniform_module._check_against_rand() is False
    monkeypatch.setattr(uniform_module, "_same_as_rand", None)
    torch.manual_seed(14)
    plain = torch.rand(6)
    torch.manual_seed(14)
    assert torch.equal(uniform_float32((6,)), plain)  # fell back to torch.rand
    assert uniform_module._same_as_rand is False


def test_the_check_leaves_the_generator_alone():
    torch.manual_seed(15)
    expected = torch.rand(4)
    torch.manual_seed(15)
    assert uniform_module._check_against_rand() is True
    assert torch.equal(torch.rand(4), expected)
