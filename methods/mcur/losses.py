"""MCUR's two training mechanisms, as functions of tensors.

MCB-CL (modality-combination-based and category-based contrastive learning).
Every term is the supervised contrastive loss (Khosla et al., 2020) with
graded positives: for an anchor a with positive weights w_ab (b != a),

    loss_a = - sum_b w_ab log( exp(z_a.z_b / t) / sum_{c != a} exp(z_a.z_c / t) ) / sum_b w_ab

anchors without a positive are left out of the mean. Which views are
positives is the part the paper's public abstract and summaries leave open;
``contrastive_positives`` names the readings:

- "joint": positives agree in emotion category AND were seen through the
  same modality combination (the abstract's sentence read literally: "samples
  with the same emotion category and the same available modalities");
  everything else, the same sample or the same emotion under another
  combination included, is a negative;
- "dual": two terms, averaged -- one contrast over modality combinations
  (positives share the combination, whatever their emotions) and one over
  emotion categories (positives share the category, whatever their
  combination): the "dual contrastive learning over both modality
  combinations and emotion categories" of a secondary summary;
- "category": one term whose positives share the category across
  combinations (the same sample's other views included): the reading aimed at
  consistency across combinations, the paper's stated goal.

Category agreement (``category_agreement``) for multi-label data, where "the
same emotion" is not defined by the paper:

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
CONTRASTIVE_POSITIVES = ("joint", "dual", "category")
UNCERTAINTIES = ("entropy", "disagreement")
WEIGHTINGS = ("emphasise", "suppress", "none")


def category_weights(labels: torch.Tensor, agreement: str) -> torch.Tensor:
    """labels (V, q) {0,1} -> (V, V) category agreement in [0, 1] (diagonal included)."""
    labels = labels.float()
    if agreement == "label-set":
        return (labels.unsqueeze(1) == labels.unsqueeze(0)).all(dim=-1).float()
    if agreement == "per-label":
        shared = labels @ labels.T  # (V, V): |Y_a & Y_b|
        return shared / labels.sum(dim=1, keepdim=True).clamp_min(1.0)
    raise ValueError(f"agreement={agreement!r}: use one of {CATEGORY_AGREEMENTS}")


def same_combination(combinations: torch.Tensor) -> torch.Tensor:
    """combination ids (V,) -> (V, V) 1 where two views share the modality combination."""
    return (combinations.unsqueeze(1) == combinations.unsqueeze(0)).float()


def _off_diagonal(weights: torch.Tensor) -> torch.Tensor:
    return weights.fill_diagonal_(0.0)


def positive_weights(labels: torch.Tensor, combinations: torch.Tensor, agreement: str) -> torch.Tensor:
    """The "joint" positives: (V, V) weights, category agreement times same combination, 0 on the diagonal."""
    return _off_diagonal(category_weights(labels, agreement) * same_combination(combinations))


def contrastive_terms(labels: torch.Tensor, combinations: torch.Tensor, agreement: str,
                      positives: str) -> list[torch.Tensor]:
    """The positive-weight matrices of one reading; the MCB-CL loss is the mean of their SupCon terms."""
    if positives == "joint":
        return [positive_weights(labels, combinations, agreement)]
    if positives == "dual":
        return [_off_diagonal(same_combination(combinations)), _off_diagonal(category_weights(labels, agreement))]
    if positives == "category":
        return [_off_diagonal(category_weights(labels, agreement))]
    raise ValueError(f"positives={positives!r}: use one of {CONTRASTIVE_POSITIVES}")


def mcb_contrastive_loss(z: torch.Tensor, labels: torch.Tensor, combinations: torch.Tensor, agreement: str,
                         positives: str, temperature: float) -> torch.Tensor:
    """z (V, p) unit rows of the views -> scalar: the mean over the reading's terms."""
    terms = [graded_supervised_contrastive(z, weights, temperature)
             for weights in contrastive_terms(labels, combinations, agreement, positives)]
    return torch.stack(terms).mean()


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


VIEW_WEIGHTINGS = ("equal", "per-sample", "full-half")


def view_weights(sample_of_view: torch.Tensor, is_full_view: torch.Tensor, weighting: str) -> torch.Tensor:
    """Each view's share of the classification loss: (V,) sample index, (V,) bool -> (V,) weights, mean 1.

    "equal": every view counts once, so a sample with all three modalities
    weighs 7 times one with a single modality, and its full view is 1/7 of it;
    "per-sample": a sample's views share one unit (each sample counts alike,
    however many combinations it has); "full-half": the view through all the
    sample's modalities takes half of the sample's unit and its partial views
    share the other half (a sample with one view gives it the whole unit).
    """
    ones = torch.ones_like(sample_of_view, dtype=torch.float32)
    if weighting == "equal":
        return ones
    if weighting not in VIEW_WEIGHTINGS:
        raise ValueError(f"weighting={weighting!r}: use one of {VIEW_WEIGHTINGS}")
    n = int(sample_of_view.max()) + 1 if sample_of_view.numel() else 0
    views_per_sample = torch.zeros(n, device=ones.device).index_add_(0, sample_of_view, ones)[sample_of_view]
    if weighting == "per-sample":
        weights = 1.0 / views_per_sample
    else:
        partial = 0.5 / (views_per_sample - 1).clamp_min(1.0)
        weights = torch.where(is_full_view, torch.where(views_per_sample > 1, 0.5, 1.0), partial)
    return weights * weights.numel() / weights.sum()
