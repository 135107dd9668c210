"""The single-label variant of the synthetic story (``synthetic-single``): one emotion per sample.

IEMOCAP-like: six classes with IEMOCAP's six-way class names and roughly its
class frequencies (the 7433 utterances of the common 6-class setup: happy 648,
sad 1084, neutral 1708, angry 1103, excited 1041, frustrated 1849). Everything
after the label draw is the multi-label story of ``story.py`` unchanged: the
one present class shows in each modality with that modality's probability as
its signature in a short window, absent classes leave weak confusers, and the
background noise level is the recorded aleatoric uncertainty. Neutral is a
class like the others (it has its own signature), as it is in IEMOCAP.
"""

from __future__ import annotations

import numpy as np

SINGLE_LABEL_NAMES = ("happy", "sad", "neutral", "angry", "excited", "frustrated")
CLASS_COUNTS = np.array([648, 1084, 1708, 1103, 1041, 1849], dtype=np.float64)
CLASS_FREQUENCY = CLASS_COUNTS / CLASS_COUNTS.sum()
_CUMULATIVE = np.cumsum(CLASS_FREQUENCY)


def draw_single_label(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot labels (q,) uint8, intensities (q,): in [0.6, 1.4] for the class, else 0).

    Two draws per sample, always: the class (inverse CDF of one uniform) and
    its intensity (uniform over the multi-label story's intensity range).
    """
    q = len(SINGLE_LABEL_NAMES)
    label = int(min(np.searchsorted(_CUMULATIVE, rng.random(), side="right"), q - 1))
    strength = 0.6 + 0.8 * rng.random()
    labels = np.zeros(q, dtype=np.uint8)
    labels[label] = 1
    intensity = np.zeros(q, dtype=np.float64)
    intensity[label] = strength
    return labels, intensity
