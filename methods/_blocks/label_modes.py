"""Single-label (softmax) and multi-label (per-label sigmoid) heads, for methods that offer both.

A method with a ``label_mode`` hyperparameter ("auto" | "single" | "multi")
resolves it against the training data with :func:`resolve_label_mode`:
"auto" follows the dataset (``single_label``); "single" on multi-label data
and "multi" on single-label data are refused with a message saying why and
what to use. The softmax cannot represent a set of emotions; single-label
data are scored by the argmax, which the softmax objective trains and a
per-label sigmoid does not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmerbench.errors import UsageError

LABEL_MODES = ("auto", "single", "multi")


def resolve_label_mode(method: str, label_mode: str, single_label_data: bool) -> str:
    """'single' or 'multi' for this data, or a UsageError naming the method and the choice."""
    if label_mode not in LABEL_MODES:
        raise UsageError(f"{method}.label_mode={label_mode!r} is not valid: use one of {', '.join(LABEL_MODES)}")
    if label_mode == "auto":
        return "single" if single_label_data else "multi"
    if label_mode == "single" and not single_label_data:
        raise UsageError(
            f"{method}.label_mode='single' (softmax over classes) needs single-label data, but the training "
            "data are multi-label (samples may have several emotions); use label_mode='auto' or 'multi'"
        )
    if label_mode == "multi" and single_label_data:
        raise UsageError(
            f"{method}.label_mode='multi' (a sigmoid per label) is for multi-label data, but the training data "
            "are single-label (one class per sample, scored by the argmax); use label_mode='auto' or 'single'"
        )
    return label_mode


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor, mode: str) -> torch.Tensor:
    """(B, q) logits and {0,1} labels -> (B,) loss: cross-entropy ('single') or mean BCE over labels ('multi')."""
    logits = logits.float()
    if mode == "single":
        return F.cross_entropy(logits, labels.argmax(dim=1), reduction="none")
    return F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none").mean(dim=1)


def probabilities(logits: torch.Tensor, mode: str) -> torch.Tensor:
    """(B, q) logits -> (B, q) probabilities: softmax over classes or a sigmoid per label."""
    logits = logits.float()
    return torch.softmax(logits, dim=1) if mode == "single" else torch.sigmoid(logits)
