"""Fixed-length feature vectors for classical learners: pool each modality over time.

Each modality is pooled over its valid steps only (padding never enters the
mean), then the modalities are concatenated in the split's modality order. A
modality missing for a sample (length 0) contributes zeros, so the vector
keeps its layout. Rows are read in chunks, so an HDF5-backed split of MOSEI
size never has to sit in memory as sequences.
"""

from __future__ import annotations

import numpy as np

from mmerbench.data import Split
from mmerbench.errors import UsageError

POOLINGS = ("mean", "mean+std")
CHUNK_ROWS = 256  # bounds the float64 copy of a chunk (256 x 500 steps x 74 dims = 76 MB)


def check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise UsageError(f"pooling={pooling!r} is not valid: use one of {', '.join(POOLINGS)}")


def pool_sequences(x: np.ndarray, lengths: np.ndarray, pooling: str = "mean") -> np.ndarray:
    """(N, T, D) right-padded sequences with (N,) valid lengths -> (N, D) or (N, 2D)."""
    check_pooling(pooling)
    lengths = np.asarray(lengths, dtype=np.int64)
    valid = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]  # (N, T, 1)
    x = np.asarray(x, dtype=np.float64) * valid  # (N, T, D); padding may hold stale values
    count = np.maximum(lengths, 1)[:, None].astype(np.float64)  # (N, 1); a missing modality gives 0 / 1
    mean = x.sum(axis=1) / count  # (N, D)
    if pooling == "mean":
        return mean
    centred = (x - mean[:, None, :]) * valid  # (N, T, D)
    std = np.sqrt((centred**2).sum(axis=1) / count)  # (N, D), population std; 0 for one step
    return np.concatenate([mean, std], axis=1)


def pooled_features(split: Split, pooling: str = "mean", modalities: list[str] | None = None) -> np.ndarray:
    """(N, sum of pooled modality widths) float64 features of a whole split.

    ``modalities`` fixes the concatenation order (default: the split's own), so a
    split listing the same modalities in another order gives the same layout.
    """
    check_pooling(pooling)
    modalities = list(split.modalities if modalities is None else modalities)
    width = sum(split.modality_dims[m] * (2 if pooling == "mean+std" else 1) for m in modalities)
    out = np.zeros((len(split), width), dtype=np.float64)
    for start in range(0, len(split), CHUNK_ROWS):
        rows = np.arange(start, min(start + CHUNK_ROWS, len(split)))
        chunk = split.take(rows)
        out[rows] = np.concatenate(
            [pool_sequences(chunk.features[m], chunk.lengths[m], pooling) for m in modalities], axis=1
        )
    return out
