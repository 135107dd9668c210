"""LDDU's loss terms: BCE, contrastive rows for the distributions, ordinal calibration (L_ocl), r_i.

The SupCon loss itself and its queue are the shared block
``mmerbench_methods._blocks.supcon``; here is only what is LDDU's own.
"""

from __future__ import annotations

import torch

CALIBRATION_SIGNALS = ("D", "S", "R")
REPRESENTATIONS = ("mu+sigma", "mu", "sigma")


def binary_cross_entropy(probabilities: torch.Tensor, targets: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean BCE on probabilities, in float32 (safe under autocast, which refuses F.binary_cross_entropy)."""
    p = probabilities.float().clamp(eps, 1.0 - eps)
    t = targets.float()
    return -(t * torch.log(p) + (1.0 - t) * torch.log1p(-p)).mean()


def distribution_rows(mu: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor, representation: str = "mu+sigma"
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each (sample, modality, label) distribution as one contrastive row.

    mu, sigma: (B, M, q, latent); labels: (B, q) in {0, 1}.
    Returns rows (B*M*q, E) = [mu/|mu| ; sigma/|sigma|] (or one half, for the
    ablations), class ids (B*M*q,) = ((present * M) + modality) * q + label,
    i.e. 2*M*q classes (36 for MOSEI), and present (B*M*q,) bool.
    Rows of the same class share modality, label and presence.
    """
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation={representation!r}: use one of {REPRESENTATIONS}")
    batch, m, q, _ = mu.shape
    parts = []
    if representation in ("mu+sigma", "mu"):
        parts.append(torch.nn.functional.normalize(mu.float(), dim=-1))
    if representation in ("mu+sigma", "sigma"):
        parts.append(torch.nn.functional.normalize(sigma.float(), dim=-1))
    rows = torch.cat(parts, dim=-1).reshape(batch * m * q, -1)
    present = (labels > 0.5).unsqueeze(1).expand(batch, m, q)  # (B, M, q)
    modality = torch.arange(m, device=mu.device).view(1, m, 1)
    label = torch.arange(q, device=mu.device).view(1, 1, q)
    classes = (present.long() * m + modality) * q + label  # (B, M, q)
    return rows, classes.reshape(-1), present.reshape(-1)


def symmetric_kl(scores_a: torch.Tensor, scores_b: torch.Tensor) -> torch.Tensor:
    """KL(P_a || P_b) + KL(P_b || P_a) with P_x = softmax of x over all its entries."""
    log_a = torch.log_softmax(scores_a.reshape(-1).float(), dim=0)
    log_b = torch.log_softmax(scores_b.reshape(-1).float(), dim=0)
    return (log_a.exp() * (log_a - log_b)).sum() + (log_b.exp() * (log_b - log_a)).sum()


def reference_code_calibration_loss(y_dir: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The released code's calibration term (``CRLDis``), reproduced exactly.

    y_dir (B, q); sigma (B, M, q, latent). With n = B * q entries:
    P_S = softmax of ||sigma_ij|| (norm over modalities and latent) over all n
    entries; P_D = softmax of y_dir *per sample over its labels* (the code
    calls ``F.softmax`` without ``dim`` on a 2-D tensor, which PyTorch
    resolves to dim 1), flattened, so it sums to B, not 1; each KL is
    ``kl_div(..., reduction="batchmean")`` on the flattened (n,) input, i.e.
    the pointwise sum divided by n; the two directions are averaged:

        (sum P_D (log P_D - log P_S) + sum P_S (log P_S - log P_D)) / (2 n)
    """
    norms = sigma.float().pow(2).sum(dim=(1, 3)).sqrt().reshape(-1)  # (B*q,), sample-major
    log_p_sigma = torch.log_softmax(norms, dim=0)
    log_p_dir = torch.log_softmax(y_dir.float(), dim=1).reshape(-1)
    n = norms.numel()
    forward = (log_p_dir.exp() * (log_p_dir - log_p_sigma)).sum() / n
    backward = (log_p_sigma.exp() * (log_p_sigma - log_p_dir)).sum() / n
    return (forward + backward) / 2.0


def gaussian_kl(mu: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over the latent axis, averaged over (sample, modality, label).

    The anchor on sigma's scale (``weight_kl``): without it nothing fixes
    ||sigma||, and S = 1 / ||sigma|| can drift by orders of magnitude. The
    released code has this term with weight 0.
    """
    mu, log_variance = mu.float(), log_variance.float()
    return 0.5 * (mu.pow(2) + log_variance.exp() - 1.0 - log_variance).sum(dim=-1).mean()


def parse_pairs(pairs) -> list[tuple[str, str]]:
    """``["DR", "SR"]`` -> [("D", "R"), ("S", "R")], checked."""
    parsed = []
    for pair in pairs:
        text = str(pair).upper()
        if len(text) != 2 or text[0] == text[1] or any(c not in CALIBRATION_SIGNALS for c in text):
            raise ValueError(
                f"calibration pair {pair!r} is not valid: use two different letters of D (1 - distance of "
                "y_dir to the truth), S (1 / |sigma|), R (past correctness), e.g. ['DR', 'SR']"
            )
        parsed.append((text[0], text[1]))
    return parsed


def calibration_signals(y_dir: torch.Tensor, labels: torch.Tensor, sigma: torch.Tensor,
                        correctness: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The three (B, q) signals of the ordinal calibration loss.

    D = 1 - |y_dir - y| (how close the info classifier is to the truth),
    S = 1 / ||sigma|| with sigma concatenated over modalities (low variance =
    confident), R = r (the fraction of past epochs in which the info
    classifier was right), or absent while there is no history yet.
    """
    signals = {
        "D": 1.0 - (y_dir.float() - labels.float()).abs(),
        "S": 1.0 / sigma.float().pow(2).sum(dim=(1, 3)).sqrt().clamp_min(1e-6),  # (B, M, q, l) -> (B, q)
    }
    if correctness is not None:
        signals["R"] = correctness.float()
    return signals


def ordinal_calibration_loss(signals: dict[str, torch.Tensor], pairs: list[tuple[str, str]]) -> torch.Tensor:
    """L_ocl = sum over pairs (a, b) of KL(P_a||P_b) + KL(P_b||P_a), P over the batch's (sample, label) entries.

    A pair whose signal is missing (R before the first epoch has ended) is skipped.
    """
    reference = next(iter(signals.values()))
    total = reference.new_zeros((), dtype=torch.float32)
    for a, b in pairs:
        if a in signals and b in signals:
            total = total + symmetric_kl(signals[a], signals[b])
    return total


class CorrectnessHistory:
    """r_ij: the fraction of finished epochs in which the info classifier got (sample i, label j) right.

    ``record`` is called on each training batch with the samples' positions in
    the training split; ``end_epoch`` folds the epoch's records into the
    history. A sample seen twice in one epoch counts once (its last record).
    """

    def __init__(self, n_samples: int, n_labels: int, device: torch.device | str = "cpu"):
        self.correct = torch.zeros(n_samples, n_labels, device=device)  # epochs right, per entry
        self.epochs = torch.zeros(n_samples, device=device)  # finished epochs that saw the sample
        self._epoch_correct = torch.zeros(n_samples, n_labels, device=device)
        self._epoch_seen = torch.zeros(n_samples, dtype=torch.bool, device=device)

    @torch.no_grad()
    def record(self, index: torch.Tensor, y_dir: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5) -> None:
        right = ((y_dir.detach() > threshold) == (labels > 0.5)).float()
        self._epoch_correct[index] = right
        self._epoch_seen[index] = True

    def end_epoch(self) -> None:
        seen = self._epoch_seen
        self.correct[seen] += self._epoch_correct[seen]
        self.epochs[seen] += 1
        self._epoch_correct.zero_()
        self._epoch_seen.zero_()

    def rate(self, index: torch.Tensor) -> torch.Tensor | None:
        """(B, q) r for these samples, or None when one of them has no finished epoch yet."""
        epochs = self.epochs[index]
        if bool((epochs == 0).any()):
            return None
        return self.correct[index] / epochs.unsqueeze(1)
