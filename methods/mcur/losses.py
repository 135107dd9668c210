"""MCUR's two training mechanisms, as functions of tensors.

MCB-CL (modality-combination-based and category-based contrastive learning):
views whose samples agree in emotion category AND were seen through the same
modality combination are positives; every other view in the batch is a
negative (so the same sample under another combination is a negative, as the
rule says). For an anchor a with positive weights w_ab (b != a):

    loss_a = - sum_b w_ab log( exp(z_a.z_b / t) / sum_{c != a} exp(z_a.z_c / t) ) / sum_b w_ab

the supervised contrastive loss (Khosla et al., 2020) with graded positives;
anchors without a positive are left out of the mean. Category agreement
(``category_agreement``) for multi-label data, where "the same emotion" is
not defined by the paper:

- "label-set": w_ab = 1 when the two label sets are identical, else 0 (the
  literal reading: the same emotion category);
- "per-label": w_ab = |Y_a & Y_b| / |Y_a|, the fraction of the anchor's
  emotions the other sample shares -- the average over the anchor's emotions
  of a per-emotion positive indicator (one SupCon per present emotion).
On single-label data both are the single-label rule (same class).

SUGR (sample-wise uncertainty-guided regularisation): a weight per view from
its predictive uncertainty re-weights the classification loss.
Uncertainty (``uncertainty``), detached, in [0, 1]:
- "entropy": the normalised entropy of the prediction: softmax entropy /
  log q (single-label), mean Bernoulli entropy / log 2 over labels
  (multi-label);
- "disagreement": how far the view's prediction is from the mean prediction
  of the sample's views (total variation for the softmax, mean absolute
  difference for per-label sigmoids), i.e. how much the modality
  combination changes the answer.
Weights (``uncertainty_weighting``), normalised to mean 1 over the batch's
views so the loss scale and the learning rate keep their meaning:
- "emphasise": w = V softmax(u / tau): uncertain views (hard samples,
  weak combinations) count more;
- "suppress":  w = V softmax(-u / tau): uncertain views (likely noisy)
  count less;
- "none": w = 1 (the ablation without SUGR).
"""

from __future__ import annotations

import math

import torch

CATEGORY_AGREEMENTS = ("label-set", "per-label")
UNCERTAINTIES = ("entropy", "disagreement")
WEIGHTINGS = ("emphasise", "suppress", "none")


def positive_weights(labels: torch.Tensor, combinations: torch.Tensor, agreement: str) -> torch.Tensor:
    """labels (V, q) {0,1}, combination ids (V,) -> (V, V) positive weights, 0 on the diagonal."""
    labels = labels.float()
    same_combination = combinations.unsqueeze(1) == combinations.unsqueeze(0)  # (V, V)
    if agreement == "label-set":
        category = (labels.unsqueeze(1) == labels.unsqueeze(0)).all(dim=-1).float()
    elif agreement == "per-label":
        shared = labels @ labels.T  # (V, V): |Y_a & Y_b|
        category = shared / labels.sum(dim=1, keepdim=True).clamp_min(1.0)
    else:
        raise ValueError(f"agreement={agreement!r}: use one of {CATEGORY_AGREEMENTS}")
    weights = category * same_combination.float()
    weights.fill_diagonal_(0.0)
    return weights


def graded_supervised_contrastive(z: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """z (V, p) unit rows, weights (V, V) -> scalar; 0 (attached) when no anchor has a positive."""
    logits = (z.float() @ z.float().T) / float(temperature)  # (V, V)
    not_self = ~torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    # A large finite value rather than -inf: a single view must give 0, not NaN.
    log_normaliser = torch.logsumexp(logits.masked_fill(~not_self, -1e9), dim=1)  # (V,)
    total = weights.sum(dim=1)  # (V,)
    has_positive = total > 0
    if not bool(has_positive.any()):
        return z.sum() * 0.0
    mean_positive_logit = (weights * logits).sum(dim=1) / total.clamp_min(1e-12)
    return (log_normaliser - mean_positive_logit)[has_positive].mean()


def predictive_uncertainty(proba: torch.Tensor, mode: str, kind: str, sample_of_view: torch.Tensor) -> torch.Tensor:
    """proba (V, q) of the views, each view's sample index (V,) -> (V,) uncertainty in [0, 1], detached."""
    proba = proba.detach().float().clamp(1e-7, 1 - 1e-7)
    q = proba.shape[1]
    if kind == "entropy":
        if mode == "single":
            return -(proba * proba.log()).sum(dim=1) / math.log(max(q, 2))
        entropy = -(proba * proba.log() + (1 - proba) * (1 - proba).log())
        return entropy.mean(dim=1) / math.log(2.0)
    if kind == "disagreement":
        n = int(sample_of_view.max()) + 1 if sample_of_view.numel() else 0
        sums = torch.zeros(n, q, device=proba.device).index_add_(0, sample_of_view, proba)
        counts = torch.zeros(n, device=proba.device).index_add_(0, sample_of_view, torch.ones_like(proba[:, 0]))
        mean = (sums / counts.clamp_min(1).unsqueeze(1))[sample_of_view]  # (V, q)
        gap = (proba - mean).abs()
        return 0.5 * gap.sum(dim=1) if mode == "single" else gap.mean(dim=1)
    raise ValueError(f"uncertainty={kind!r}: use one of {UNCERTAINTIES}")


def uncertainty_weights(uncertainty: torch.Tensor, weighting: str, temperature: float) -> torch.Tensor:
    """(V,) uncertainty -> (V,) non-negative weights with mean 1 (detached)."""
    if weighting == "none":
        return torch.ones_like(uncertainty)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r}: use one of {WEIGHTINGS}")
    sign = 1.0 if weighting == "emphasise" else -1.0
    return uncertainty.numel() * torch.softmax(sign * uncertainty / float(temperature), dim=0)
