"""Uniform frame-to-word spans: aligned data map word i to frame i; spans tile the frames; batch-independent."""

from __future__ import annotations

import torch

from mmerbench_methods._blocks.word_spans import gather_spans, span_index, span_mean


def _spans(reference, source, steps):
    index, valid = span_index(torch.tensor(reference), torch.tensor(source), steps)
    return [[index[b, i][valid[b, i]].tolist() for i in range(steps)] for b in range(len(reference))]


def test_aligned_words_own_their_own_frame():
    assert _spans([4, 2], [4, 2], 4) == [[[0], [1], [2], [3]], [[0], [1], [], []]]


def test_frames_are_tiled_evenly_and_completely():
    (spans,) = _spans([3], [10], 3)
    assert spans == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]


def test_short_and_missing_sources():
    (short,) = _spans([4], [2], 4)
    assert short == [[0], [0], [1], [1]]  # fewer frames than words: neighbours share a frame
    assert _spans([3], [0], 3) == [[[], [], []]]  # missing modality: no frames
    assert _spans([0], [5], 2) == [[[], []]]  # no words: nothing owned


def test_span_mean_pools_each_words_frames_and_ignores_the_batch():
    x = torch.arange(10, dtype=torch.float32).view(1, 10, 1)
    index, valid = span_index(torch.tensor([2]), torch.tensor([10]), 2)
    mean, has = span_mean(x, index, valid)
    assert mean.squeeze(-1).tolist() == [[2.0, 7.0]] and has.all()
    # The same sample next to a longer one: same values in its valid slots.
    both = torch.cat([x, torch.zeros(1, 10, 1)])
    index2, valid2 = span_index(torch.tensor([2, 1]), torch.tensor([10, 10]), 2)
    assert torch.equal(span_mean(both, index2, valid2)[0][0], mean[0])
    assert gather_spans(both, index2, valid2).shape == (2, 2, 10, 1)
