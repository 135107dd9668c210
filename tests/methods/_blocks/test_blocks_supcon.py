"""The shared SupCon loss and FIFO queue, against slow, obviously-correct references."""

from __future__ import annotations

import math

import pytest
import torch

from mmerbench_methods._blocks.supcon import EmbeddingQueue, supervised_contrastive_loss


def reference_supcon(batch, batch_classes, anchors, queue, queue_classes, queue_anchors, temperature, scale,
                     without_positives):
    """Khosla et al.'s formula, one anchor and one positive at a time, in plain Python floats."""
    rows = [(list(map(float, e)), int(c)) for e, c in zip(batch, batch_classes)]
    rows += [(list(map(float, e)), int(c)) for e, c in zip(queue, queue_classes)]
    anchor_rows = [i for i in range(len(batch)) if anchors is None or bool(anchors[i])]
    if queue_anchors:
        anchor_rows += list(range(len(batch), len(rows)))

    def similarity(i, j):
        return scale * sum(x * y for x, y in zip(rows[i][0], rows[j][0])) / temperature

    losses = []
    for a in anchor_rows:
        others = [c for c in range(len(rows)) if c != a]
        normaliser = sum(math.exp(similarity(a, c)) for c in others)
        positives = [p for p in others if rows[p][1] == rows[a][1]]
        if not positives:
            if without_positives == "zero":
                losses.append(0.0)
            continue
        losses.append(-sum(math.log(math.exp(similarity(a, p)) / normaliser) for p in positives) / len(positives))
    return sum(losses) / len(losses) if losses else 0.0


def normalised(n, dim, generator):
    return torch.nn.functional.normalize(torch.randn(n, dim, generator=generator, dtype=torch.float64), dim=1)


@pytest.mark.parametrize("use_queue", [False, True])
@pytest.mark.parametrize("queue_anchors", [False, True])
@pytest.mark.parametrize("use_anchor_mask", [False, True])
@pytest.mark.parametrize("without_positives", ["skip", "zero"])
def test_supcon_matches_reference(use_queue, queue_anchors, use_anchor_mask, without_positives):
    generator = torch.Generator().manual_seed(3)
    batch = normalised(9, 5, generator)
    classes = torch.tensor([0, 1, 0, 2, 1, 3, 0, 2, 4])  # class 3 and 4 have a single member
    anchors = torch.tensor([1, 1, 0, 1, 0, 1, 1, 0, 1], dtype=torch.bool) if use_anchor_mask else None
    queue = normalised(6, 5, generator) if use_queue else torch.zeros(0, 5, dtype=torch.float64)
    queue_classes = torch.tensor([1, 2, 5, 0, 0, 4]) if use_queue else torch.zeros(0, dtype=torch.long)
    got = supervised_contrastive_loss(
        batch, classes, temperature=0.3, anchors=anchors, queue_embeddings=queue, queue_classes=queue_classes,
        queue_anchors=queue_anchors, similarity_scale=0.5, anchors_without_positives=without_positives)
    expected = reference_supcon(batch, classes, anchors, queue, queue_classes, queue_anchors, 0.3, 0.5,
                                without_positives)
    assert float(got) == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_supcon_gradient_reaches_batch_only_and_is_finite():
    generator = torch.Generator().manual_seed(0)
    batch = normalised(6, 4, generator).float().requires_grad_(True)
    queue = normalised(5, 4, generator).float().requires_grad_(True)  # must be treated as detached
    loss = supervised_contrastive_loss(batch, torch.tensor([0, 0, 1, 1, 2, 2]), queue_embeddings=queue,
                                       queue_classes=torch.tensor([0, 1, 2, 0, 1]), queue_anchors=True)
    loss.backward()
    assert torch.isfinite(batch.grad).all() and batch.grad.abs().sum() > 0
    assert queue.grad is None


def test_supcon_without_any_positive_is_zero_and_differentiable():
    batch = torch.nn.functional.normalize(torch.randn(3, 4), dim=1).requires_grad_(True)
    loss = supervised_contrastive_loss(batch, torch.tensor([0, 1, 2]))
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert torch.isfinite(batch.grad).all()
    single = supervised_contrastive_loss(batch[:1], torch.tensor([0]), anchors_without_positives="zero")
    assert float(single.detach()) == 0.0


def test_supcon_pulls_positives_together():
    torch.manual_seed(0)
    embeddings = torch.randn(8, 3, requires_grad=True)
    classes = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    optimiser = torch.optim.SGD([embeddings], lr=0.5)
    for _ in range(50):
        loss = supervised_contrastive_loss(torch.nn.functional.normalize(embeddings, dim=1), classes, temperature=0.5)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    unit = torch.nn.functional.normalize(embeddings.detach(), dim=1)
    similarity = unit @ unit.T
    same = (classes[:, None] == classes[None, :]) & ~torch.eye(8, dtype=torch.bool)
    different = classes[:, None] != classes[None, :]
    assert similarity[same].mean() > 0.8 and similarity[different].mean() < -0.3


def test_supcon_rejects_bad_arguments():
    with pytest.raises(ValueError, match="anchors_without_positives"):
        supervised_contrastive_loss(torch.zeros(2, 3), torch.tensor([0, 1]), anchors_without_positives="drop")
    with pytest.raises(ValueError, match=r"\(N, E\)"):
        supervised_contrastive_loss(torch.zeros(2, 3), torch.tensor([0, 1, 2]))


# ---------------------------------------------------------------------------- the queue


def rows(start, count, dim=2):
    values = torch.arange(start, start + count, dtype=torch.float32)
    return values[:, None].repeat(1, dim), values.long()


@pytest.mark.parametrize("capacity,batch", [(8, 4), (8, 3), (5, 7), (1, 2), (6, 6)])
def test_queue_is_fifo_with_its_capacity(capacity, batch):
    queue = EmbeddingQueue(capacity, dim=2)
    assert len(queue) == 0 and queue.contents()[0].shape == (0, 2)  # starts empty, never random-filled
    pushed = []
    for step in range(5):
        count = batch if step < 4 else max(1, batch - 2)  # a partial last batch
        embeddings, classes = rows(len(pushed), count)
        queue.enqueue(embeddings, classes)
        pushed += classes.tolist()
        expected = pushed[-capacity:]
        kept, kept_classes = queue.contents(ordered=True)
        assert len(queue) == len(expected)
        assert kept_classes.tolist() == expected
        assert kept[:, 0].tolist() == [float(v) for v in expected]
        unordered = queue.contents()[1].tolist()
        assert sorted(unordered) == sorted(expected)


def test_queue_holds_no_autograd_history_and_stays_out_of_state_dict():
    queue = EmbeddingQueue(4, dim=3)
    source = torch.randn(3, 3, requires_grad=True)
    queue.enqueue(source * 2.0, torch.tensor([0, 1, 2]))
    embeddings, _ = queue.contents()
    assert not embeddings.requires_grad and embeddings.grad_fn is None
    assert torch.allclose(embeddings, (source * 2.0).detach())
    assert queue.state_dict() == {}


def test_queue_with_zero_capacity_and_bad_shapes():
    queue = EmbeddingQueue(0, dim=2)
    queue.enqueue(*rows(0, 3))
    assert len(queue) == 0
    with pytest.raises(ValueError, match="enqueue expects"):
        EmbeddingQueue(3, dim=2).enqueue(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))


def test_queue_contents_stay_valid_for_backward_after_enqueue():
    queue = EmbeddingQueue(4, dim=3)
    queue.enqueue(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))
    batch = torch.nn.functional.normalize(torch.randn(4, 3), dim=1).requires_grad_(True)
    queued, queued_classes = queue.contents()
    loss = supervised_contrastive_loss(batch, torch.tensor([0, 1, 0, 1]), queue_embeddings=queued,
                                       queue_classes=queued_classes)
    queue.enqueue(batch, torch.tensor([0, 1, 0, 1]))  # the usual order: loss, enqueue, backward
    loss.backward()
    assert torch.isfinite(batch.grad).all()


def masked_supcon(batch, classes, anchors, queue, queue_classes, queue_anchors, temperature, scale):
    """The loss with every (anchor, contrast) logit and an explicit positives mask, in autograd ("skip")."""
    contrast = torch.cat([batch, queue.detach()])
    contrast_classes = torch.cat([classes, queue_classes])
    rows = torch.arange(len(batch))[anchors] if anchors is not None else torch.arange(len(batch))
    if queue_anchors:
        rows = torch.cat([rows, torch.arange(len(batch), len(contrast))])
    logits = contrast[rows] @ contrast.T * (scale / temperature)
    not_self = torch.ones_like(logits, dtype=torch.bool)
    not_self[torch.arange(len(rows)), rows] = False
    positives = (contrast_classes[rows, None] == contrast_classes[None, :]) & not_self
    log_prob = logits - torch.logsumexp(logits.masked_fill(~not_self, float("-inf")), dim=1, keepdim=True)
    counts = positives.sum(1)
    per_anchor = -(log_prob * positives).sum(1)[counts > 0] / counts[counts > 0]
    return per_anchor.mean()


@pytest.mark.parametrize("queue_anchors", [False, True])
def test_supcon_gradient_equals_the_masked_formulas(queue_anchors):
    generator = torch.Generator().manual_seed(7)
    batch = normalised(10, 6, generator).requires_grad_(True)
    classes = torch.tensor([0, 1, 0, 2, 1, 3, 0, 2, 4, 1])
    anchors = torch.tensor([1, 1, 0, 1, 0, 1, 1, 0, 1, 1], dtype=torch.bool)
    queue, queue_classes = normalised(7, 6, generator), torch.tensor([1, 2, 5, 0, 0, 4, 3])
    got = supervised_contrastive_loss(batch, classes, temperature=0.2, anchors=anchors, queue_embeddings=queue,
                                      queue_classes=queue_classes, queue_anchors=queue_anchors,
                                      similarity_scale=0.5)
    (got_grad,) = torch.autograd.grad(got, batch)
    expected = masked_supcon(batch, classes, anchors, queue, queue_classes, queue_anchors, 0.2, 0.5)
    (expected_grad,) = torch.autograd.grad(expected, batch)
    # The loss computes its softmax in float32 (also under autocast): float32 tolerances.
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert torch.allclose(got_grad, expected_grad, rtol=1e-5, atol=1e-6)


def _class_sums_over_the_concatenation(embeddings, classes, queue, queue_classes):
    """The per-class row sums as one index_add over [batch; queue] (how the loss first computed them)."""
    contrast = torch.cat([embeddings, queue])
    _, index = torch.unique(torch.cat([classes, queue_classes]), return_inverse=True)
    sums = torch.zeros(int(index.max()) + 1, contrast.shape[1])
    return sums.index_add_(0, index, contrast.float())  # in place on fresh zeros: what index_add computes


@pytest.mark.parametrize("queue_anchors", [False, True])
def test_class_sums_without_the_concatenation_change_no_bit(queue_anchors, monkeypatch):
    """The loss adds the batch's rows, then the queue's, into the class sums: loss and gradient equal the
    one-index_add-over-the-concatenation form bit for bit (the same additions in the same order)."""
    torch.manual_seed(5)
    embeddings = torch.nn.functional.normalize(torch.randn(96, 32), dim=1).requires_grad_(True)
    classes = torch.randint(0, 9, (96,))
    queue = torch.nn.functional.normalize(torch.randn(700, 32), dim=1)
    queue_classes = torch.randint(-3, 9, (700,))  # some queue classes the batch lacks
    anchors = torch.rand(96) > 0.3
    kwargs = {"anchors": anchors, "queue_embeddings": queue, "queue_classes": queue_classes,
              "queue_anchors": queue_anchors}
    loss = supervised_contrastive_loss(embeddings, classes, **kwargs)
    (grad,) = torch.autograd.grad(loss, embeddings)

    real_index_add = torch.Tensor.index_add
    calls = []

    def one_index_add(self, dim, index, source):  # the first call gets the whole concatenation, the second none
        calls.append(source.shape[0])
        if len(calls) == 1:
            return _class_sums_over_the_concatenation(source, classes, queue, queue_classes)
        return self

    monkeypatch.setattr(torch.Tensor, "index_add", one_index_add)
    plain_loss = supervised_contrastive_loss(embeddings, classes, **kwargs)
    monkeypatch.setattr(torch.Tensor, "index_add", real_index_add)
    (plain_grad,) = torch.autograd.grad(plain_loss, embeddings)
    assert calls == [96, 700]
    assert torch.equal(loss, plain_loss) and torch.equal(grad, plain_grad)
