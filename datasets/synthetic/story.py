"""The generative story of the synthetic MMER data, in numpy only.

One sample, told in the order the code follows:

1. Latent emotion intensities come from a correlated Gaussian (happy opposed
   to sad and anger, anger going with disgust); an emotion is present when
   its latent value passes a threshold set for MOSEI-like frequencies. Every
   sample has at least one emotion and at most three.
2. An utterance has a valid length on a shared time axis (in text steps);
   audio and vision may run at a higher frame rate (the unaligned variant),
   so their lengths, cue windows and noise correlation are stretched by the
   frame ratio.
3. Each modality gets temporally correlated (AR(1)) background noise, scaled
   by a per-sample, per-modality noise level drawn from a skewed (log-normal)
   distribution: the true aleatoric uncertainty, kept in ``meta["noise"]``.
4. Each present emotion is expressed once, at a random moment; each modality
   shows it with its own probability (text more reliable than audio, audio
   than vision) as that (emotion, modality)'s fixed signature, scaled by the
   intensity, under a smooth bump a few steps wide. Mean pooling over time
   dilutes such a window; attention over time can find it.
5. Absent emotions sometimes leave weak confuser windows, so that crude
   pooling mixes emotions up.
6. Modalities may be dropped per sample (length 0, zero features), never all.

The ``synthetic-uncertain`` variant turns knobs of this story (every present
emotion cued in every modality at one fixed intensity, no confusers, one wider
noise level per sample) so that the noise level is what makes a sample hard;
with the knobs at their defaults the data are exactly the original story's.

Every sample draws its random numbers from its own stream, seeded by
``(seed, split, index)``, always in the same order and amount, so a sample
does not depend on how many samples are generated, how they are chunked, or
on ``missing_rate`` (the same utterances, with some modalities removed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmerbench_datasets.synthetic.single import draw_single_label

LABEL_NAMES = ("happy", "sad", "anger", "surprise", "disgust", "fear")
MODALITIES = ("text", "audio", "vision")

# Marginal probabilities used for the thresholds. They sit a little below
# MOSEI's frequencies (happy ~0.50, sad ~0.25, anger ~0.21, surprise ~0.10,
# disgust ~0.17, fear ~0.08) because samples with no emotion get their
# strongest one, which adds a few percent to each.
LATENT_PRESENCE = np.array([0.41, 0.22, 0.18, 0.085, 0.145, 0.068])

# Correlation of the latent intensities, in LABEL_NAMES order.
LATENT_CORRELATION = np.array([
    # happy   sad  anger  surpr  disg   fear
    [1.00, -0.45, -0.40, 0.15, -0.30, -0.15],  # happy
    [-0.45, 1.00, 0.25, 0.00, 0.15, 0.25],  # sad
    [-0.40, 0.25, 1.00, 0.05, 0.70, 0.10],  # anger
    [0.15, 0.00, 0.05, 1.00, 0.05, 0.20],  # surprise
    [-0.30, 0.15, 0.70, 0.05, 1.00, 0.10],  # disgust
    [-0.15, 0.25, 0.10, 0.20, 0.10, 1.00],  # fear
])

MAX_EMOTIONS = 3
# Probability that a present emotion shows in a modality (text > audio > vision).
CUE_PROBABILITY = {"text": 0.85, "audio": 0.65, "vision": 0.5}
# Probability that an absent emotion leaves a confuser window in a modality,
# and the confuser's amplitude relative to a full-intensity cue.
CONFUSER_PROBABILITY = 0.25
CONFUSER_AMPLITUDE = 0.4
# AR(1) correlation of the background noise per text step (vision moves slowest).
NOISE_CORRELATION = {"text": 0.3, "audio": 0.7, "vision": 0.8}
NOISE_LOG_SD = 0.5  # spread of the log-normal noise level (median = noise_scale)
MIN_LENGTH_FRACTION = 0.4  # shortest utterance, as a fraction of the text steps


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    # The standard library's inverse normal CDF: scipy.stats takes seconds to import.
    from statistics import NormalDist

    return np.array([NormalDist().inv_cdf(float(x)) for x in p])


_THRESHOLDS = _norm_ppf(1.0 - LATENT_PRESENCE)
_LATENT_FACTOR = np.linalg.cholesky(LATENT_CORRELATION)
# Salts that keep the signature streams and the per-sample streams apart.
_SIGNATURE_STREAM, _SAMPLE_STREAM = 7919, 104729


@dataclass(frozen=True)
class Story:
    """Everything fixed for one dataset: its shape and the knobs of the story."""

    seed: int
    steps: dict[str, int]  # modality -> padded steps; steps["text"] is the shared time axis
    dims: dict[str, int]
    missing_rate: float = 0.0
    noise_scale: float = 1.0
    # A full-intensity cue's peak along its signature, in units of the median
    # noise level: the per-step signal-to-noise ratio that attention can use.
    cue_strength: float = 6.0
    cue_steps: int = 3  # width of a cue window, in text steps
    # One class per sample (``single.py``: IEMOCAP-like classes) instead of correlated label sets.
    single_label: bool = False
    # Knobs of the synthetic-uncertain variant; these defaults are the original story (and its data).
    noise_log_sd: float = NOISE_LOG_SD  # spread of the log-normal noise level
    always_cued: bool = False  # every present emotion shows in every (present) modality
    fixed_intensity: float = 0.0  # > 0: every present emotion has this intensity instead of a drawn one
    confuser_probability: float = CONFUSER_PROBABILITY  # chance that an absent emotion leaves a confuser window
    shared_noise: bool = False  # one noise level per sample for all its modalities

    def __post_init__(self):
        for what, mapping in (("steps", self.steps), ("dims", self.dims)):
            if set(mapping) != set(MODALITIES):
                raise ValueError(f"{what} must give exactly the modalities {MODALITIES}, got {sorted(mapping)}")

    @property
    def modalities(self) -> tuple[str, ...]:
        # Always this order, whatever order the dicts come in: it fixes each sample's stream layout.
        return MODALITIES

    @property
    def base_steps(self) -> int:
        return self.steps["text"]

    def frame_ratio(self, modality: str) -> float:
        return self.steps[modality] / self.base_steps


def signatures(story: Story) -> dict[str, np.ndarray]:
    """modality -> (q, D) unit-norm cue patterns, fixed by the dataset seed."""
    out = {}
    for index, modality in enumerate(MODALITIES):
        rng = np.random.default_rng([story.seed, _SIGNATURE_STREAM, index])
        pattern = rng.standard_normal((len(LABEL_NAMES), story.dims[modality]))
        out[modality] = pattern / np.linalg.norm(pattern, axis=1, keepdims=True)
    return out


def sample_rng(seed: int, split_index: int, sample_index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SAMPLE_STREAM, split_index, sample_index])


def draw_labels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(labels (q,) uint8, intensities (q,) in [0.6, 1.4] for present emotions, else 0)."""
    latent = _LATENT_FACTOR @ rng.standard_normal(len(LABEL_NAMES))
    excess = latent - _THRESHOLDS
    present = excess > 0
    if not present.any():
        present[np.argmax(excess)] = True
    if present.sum() > MAX_EMOTIONS:
        keep = np.argsort(-excess)[:MAX_EMOTIONS]
        present[:] = False
        present[keep] = True
    intensity = np.where(present, 0.6 + 0.8 * np.clip(excess / 1.5, 0.0, 1.0), 0.0)
    return present.astype(np.uint8), intensity


def generate_chunk(story: Story, signature: dict[str, np.ndarray], split_index: int, indices: range) -> dict:
    """Samples ``indices`` of one split: features (n, T_m, D_m) float32, lengths, labels, meta."""
    n, q, modalities = len(indices), len(LABEL_NAMES), story.modalities
    white = {m: np.empty((n, story.steps[m], story.dims[m]), dtype=np.float32) for m in modalities}
    lengths = {m: np.zeros(n, dtype=np.int64) for m in modalities}
    labels = np.zeros((n, q), dtype=np.uint8)
    intensity = np.zeros((n, q), dtype=np.float32)
    noise = np.zeros((n, len(modalities)), dtype=np.float32)
    cued = np.zeros((n, q, len(modalities)), dtype=np.float32)
    windows = []  # (row, modality, first frame, width, emotion, amplitude)

    for row, sample_index in enumerate(indices):
        rng = sample_rng(story.seed, split_index, sample_index)
        labels[row], intensity[row] = draw_single_label(rng) if story.single_label else draw_labels(rng)
        if story.fixed_intensity > 0:
            intensity[row] = np.where(labels[row] > 0, story.fixed_intensity, 0.0)
        base_length = int(rng.integers(_min_length(story), story.base_steps + 1))
        dropped = rng.random(len(modalities)) < story.missing_rate
        if dropped.all():
            dropped[rng.integers(len(modalities))] = False
        else:
            rng.integers(len(modalities))  # keep the stream's layout the same either way
        spread = rng.standard_normal(len(modalities))
        if story.shared_noise:  # one level for the whole sample (the same draws, so the stream layout holds)
            spread[:] = spread[0]
        noise[row] = story.noise_scale * np.exp(story.noise_log_sd * spread)
        # One expressive moment per emotion, shared by the modalities (with jitter).
        moment = rng.random(q)
        jitter = rng.uniform(-0.5, 0.5, size=(q, len(modalities)))
        shows = rng.random((q, len(modalities)))
        for k, m in enumerate(modalities):
            ratio = story.frame_ratio(m)
            length = 0 if dropped[k] else min(story.steps[m], max(1, int(round(base_length * ratio))))
            lengths[m][row] = length
            white[m][row] = rng.standard_normal((story.steps[m], story.dims[m]), dtype=np.float32)
            if length == 0:
                continue
            width = min(length, max(1, int(round(story.cue_steps * ratio))))
            for j in range(q):
                if labels[row, j]:
                    if not story.always_cued and shows[j, k] >= CUE_PROBABILITY.get(m, 0.5):
                        continue
                    amplitude = story.cue_strength * intensity[row, j]
                    cued[row, j, k] = 1.0
                else:
                    if shows[j, k] >= story.confuser_probability:
                        continue
                    amplitude = story.cue_strength * CONFUSER_AMPLITUDE
                start_base = moment[j] * max(base_length - story.cue_steps, 0) + jitter[j, k]
                start = int(np.clip(round(start_base * ratio), 0, length - width))
                windows.append((row, m, start, width, j, amplitude))

    features = {}
    for k, m in enumerate(modalities):
        x = _ar1(white[m], NOISE_CORRELATION.get(m, 0.5) ** (1.0 / story.frame_ratio(m)))
        x *= noise[:, k, None, None]
        features[m] = x
    for row, m, start, width, j, amplitude in windows:
        bump = np.sin(np.pi * (np.arange(width) + 0.5) / width).astype(np.float32)
        features[m][row, start : start + width] += (amplitude * bump)[:, None] * signature[m][j].astype(np.float32)
    for m in modalities:
        features[m][np.arange(story.steps[m])[None, :] >= lengths[m][:, None]] = 0.0
    return {
        "features": features,
        "lengths": lengths,
        "labels": labels,
        "meta": {"noise": noise, "intensity": intensity, "cued": cued},
    }


def _min_length(story: Story) -> int:
    return min(story.base_steps, max(story.cue_steps + 1, int(np.ceil(MIN_LENGTH_FRACTION * story.base_steps))))


def _ar1(white: np.ndarray, rho: float) -> np.ndarray:
    """Unit-variance AR(1) along axis 1 of (n, T, D) white noise, in place."""
    innovation = np.float32(np.sqrt(1.0 - rho * rho))
    rho = np.float32(rho)
    for t in range(1, white.shape[1]):
        white[:, t] = rho * white[:, t - 1] + innovation * white[:, t]
    return white
