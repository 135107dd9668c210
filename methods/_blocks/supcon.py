"""Supervised contrastive loss (Khosla et al., 2020) with a FIFO queue of past embeddings.

Used by LDDU (contrastive disentangled distributions) and CARAT. The loss is
general: rows are embeddings with integer class ids; rows of the same class
are positives. Which rows act as anchors is the caller's choice:

- ``anchors``: a boolean mask over the batch rows (None: every batch row);
- ``queue_anchors=True``: every queue row is an anchor too (what LDDU's and
  CARAT's released code do; it costs a (batch + queue)^2 similarity matrix,
  against batch_anchors x (batch + queue) otherwise).

For an anchor a with contrast set C(a) (every batch and queue row except a
itself) and positives P(a) = {p in C(a): class(p) = class(a)}:

    loss_a = -1/|P(a)| * sum_{p in P(a)} log( exp(s_ap / t) / sum_{c in C(a)} exp(s_ac / t) )

with s = similarity_scale * (e_a . e_c). The loss is the mean of loss_a over
anchors that have a positive (``anchors_without_positives="skip"``), or over
all anchors counting those as 0 (``"zero"``, the released codes' behaviour).
Embeddings are used as given: normalise them before calling.

Queue rows are detached copies of past batches: they carry no gradient and no
autograd history; the queue starts empty (never filled with random vectors),
takes any capacity and any number of rows per call (partial batches included),
and overwrites its oldest rows first.
"""

from __future__ import annotations

import torch
from torch import nn

ANCHOR_POLICIES = ("skip", "zero")


class EmbeddingQueue(nn.Module):
    """A FIFO ring buffer of detached (embedding, class id) rows.

    Buffers are non-persistent: the queue is training state, not part of the
    model's weights, so it stays out of ``state_dict`` (and best-epoch copies).
    """

    def __init__(self, capacity: int, dim: int):
        super().__init__()
        if int(capacity) < 0:
            raise ValueError(f"queue capacity must be >= 0, got {capacity}")
        self.capacity, self.dim = int(capacity), int(dim)
        self.register_buffer("embeddings", torch.zeros(self.capacity, self.dim), persistent=False)
        self.register_buffer("classes", torch.zeros(self.capacity, dtype=torch.long), persistent=False)
        self.size = 0  # rows filled so far (<= capacity)
        self.next = 0  # row the next enqueued embedding goes to

    def __len__(self) -> int:
        return self.size

    @torch.no_grad()
    def enqueue(self, embeddings: torch.Tensor, classes: torch.Tensor) -> None:
        """Append (n, dim) rows with (n,) class ids; the oldest rows make room."""
        if embeddings.dim() != 2 or embeddings.shape[1] != self.dim or classes.shape != embeddings.shape[:1]:
            raise ValueError(
                f"enqueue expects (n, {self.dim}) embeddings and (n,) classes; "
                f"got {tuple(embeddings.shape)} and {tuple(classes.shape)}"
            )
        if self.capacity == 0 or embeddings.shape[0] == 0:
            return
        embeddings, classes = embeddings.detach(), classes.detach()
        if embeddings.shape[0] > self.capacity:  # only the newest rows can survive
            embeddings, classes = embeddings[-self.capacity:], classes[-self.capacity:]
        count = embeddings.shape[0]
        slots = (self.next + torch.arange(count, device=self.embeddings.device)) % self.capacity
        # Out of place: tensors handed out by contents() may still be saved for
        # backward (the loss uses the queue before the batch is enqueued).
        self.embeddings = self.embeddings.index_copy(0, slots, embeddings.to(self.embeddings.dtype))
        self.classes = self.classes.index_copy(0, slots, classes.to(torch.long))
        self.next = (self.next + count) % self.capacity
        self.size = min(self.capacity, self.size + count)

    def contents(self, ordered: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The filled rows: ((size, dim), (size,)); oldest first when ``ordered``.

        The loss does not care about order, so by default a full queue is
        returned as is (no copy).
        """
        if self.size < self.capacity:
            return self.embeddings[: self.size], self.classes[: self.size]
        if not ordered or self.next == 0:
            return self.embeddings, self.classes
        order = (self.next + torch.arange(self.capacity, device=self.embeddings.device)) % self.capacity
        return self.embeddings[order], self.classes[order]


def supervised_contrastive_loss(
    embeddings: torch.Tensor,
    classes: torch.Tensor,
    *,
    temperature: float = 0.07,
    anchors: torch.Tensor | None = None,
    queue_embeddings: torch.Tensor | None = None,
    queue_classes: torch.Tensor | None = None,
    queue_anchors: bool = False,
    similarity_scale: float = 1.0,
    anchors_without_positives: str = "skip",
) -> torch.Tensor:
    """SupCon over a batch (N, E) with class ids (N,), optionally against a queue (K, E).

    See the module docstring for the formula and the anchor options. Returns a
    scalar; 0 (still attached to the graph) when no anchor has a positive.
    """
    if anchors_without_positives not in ANCHOR_POLICIES:
        raise ValueError(f"anchors_without_positives={anchors_without_positives!r}: use one of {ANCHOR_POLICIES}")
    if embeddings.dim() != 2 or classes.shape != embeddings.shape[:1]:
        raise ValueError(f"expected (N, E) embeddings and (N,) classes; got {tuple(embeddings.shape)}, {tuple(classes.shape)}")
    n = embeddings.shape[0]
    has_queue = queue_embeddings is not None and queue_embeddings.shape[0] > 0
    if has_queue:
        queue_embeddings = queue_embeddings.detach().to(embeddings.dtype)
        contrast_classes = torch.cat([classes, queue_classes.to(classes.dtype)])  # (N + K,)
    else:
        contrast_classes = classes
    total = contrast_classes.shape[0]

    # Anchor rows, as positions in the contrast set (batch rows come first).
    batch_rows = torch.arange(n, device=embeddings.device)
    anchor_rows = batch_rows if anchors is None else batch_rows[anchors.to(torch.bool)]
    anchor_embeddings = embeddings[anchor_rows]
    if queue_anchors and has_queue:
        anchor_rows = torch.cat([anchor_rows, torch.arange(n, total, device=embeddings.device)])
        anchor_embeddings = torch.cat([anchor_embeddings, queue_embeddings])
    if anchor_rows.numel() == 0:
        return embeddings.sum() * 0.0

    # Similarities to batch and queue rows are two products, so that backward
    # never computes a gradient for the (detached) queue rows.
    scale = similarity_scale / temperature
    logits = anchor_embeddings @ embeddings.T  # (A, N)
    if has_queue:
        logits = torch.cat([logits, anchor_embeddings @ queue_embeddings.T], dim=1)  # (A, N + K)
    # The softmax in float32 even under autocast. Scaled in place: the product (or the cat) above is a
    # fresh tensor that backward does not keep, and with every queue row an anchor a copy costs 350 MB.
    logits = logits.float().mul_(scale)
    # An anchor never contrasts with itself. In place (the product above keeps
    # nothing for backward that this would spoil): with every queue row an
    # anchor, (A, N + K) is ~9344^2 entries, and each extra copy costs 350 MB.
    # A large finite value rather than -inf: an anchor with nothing to contrast
    # with (a batch of one, no queue) must give 0, not a NaN gradient.
    logits[torch.arange(anchor_rows.numel(), device=logits.device), anchor_rows] = -1e9
    log_normaliser = torch.logsumexp(logits, dim=1)  # (A,)

    # -log p(a, p) averaged over a's positives = logsumexp_c(logits_ac) - mean_p logits_ap.
    # sum_p logits_ap = scale * e_a . (sum of a's class's rows - e_a): the same
    # number and gradient as summing the logits over a positives mask, without
    # building the (A, N + K) mask.
    class_ids, class_index = torch.unique(contrast_classes, return_inverse=True)  # (C,), (N + K,)
    class_sums = torch.zeros(class_ids.numel(), embeddings.shape[1], device=embeddings.device, dtype=torch.float32)
    class_sums = class_sums.index_add(0, class_index[:n], embeddings.float())  # (C, E)
    if has_queue:
        # The queue's rows after the batch's, in row order: each class's sum adds the same numbers in the
        # same order as one index_add over [batch; queue] would, without that (N + K, E) copy, and
        # backward gathers gradient rows for the N batch rows only (the queue is detached).
        class_sums = class_sums.index_add(0, class_index[n:], queue_embeddings.float())
    anchor_class = class_index[anchor_rows]  # (A,)
    anchors_float = anchor_embeddings.float()
    positive_logits = scale * (anchors_float * (class_sums[anchor_class] - anchors_float)).sum(1)  # (A,)
    positive_counts = torch.bincount(class_index, minlength=class_ids.numel())[anchor_class] - 1  # (A,)
    has_positive = positive_counts > 0
    per_anchor = torch.where(has_positive, log_normaliser - positive_logits / positive_counts.clamp_min(1),
                             torch.zeros_like(log_normaliser))  # (A,)
    if anchors_without_positives == "zero":
        return per_anchor.mean()
    if not bool(has_positive.any()):
        return embeddings.sum() * 0.0
    return per_anchor[has_positive].mean()
