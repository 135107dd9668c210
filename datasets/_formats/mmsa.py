"""Split dictionaries of the MOSEI/MOSI feature pickles (MMS2S ``.pt``, MulT, MMSA).

All three store ``{"train": {...}, "valid": {...}, "test": {...}}``; they
differ in key names:

- MMS2S ``train_valid_test.pt``: ``src-text`` / ``src-audio`` / ``src-visual``
  (arrays or lists of (T, D) arrays) and ``tgt`` token lists;
- MulT ``*_data_noalign.pkl``: ``text`` / ``audio`` / ``vision``, ``labels``
  (N, 1, 1) sentiment, optional ``id`` (N, 3);
- MMSA ``aligned_50.pkl`` / ``unaligned_50.pkl``: ``text`` (BERT 768),
  ``audio``, ``vision``, ``audio_lengths`` / ``vision_lengths`` (unaligned),
  ``text_bert`` (N, 3, T: ids, mask, segments), ``regression_labels``,
  ``id``; LDDU's setup adds a ``tgt`` list per split.
"""

from __future__ import annotations

import numpy as np

from mmerbench.errors import DataError
from mmerbench.data.importing import RowSource, as_array, get_key

SPLITS = ("train", "valid", "test")
MODALITY_KEYS = {  # canonical name -> accepted keys, in order of preference
    "text": ("text", "src-text"),
    "audio": ("audio", "src-audio"),
    "vision": ("vision", "src-visual", "visual"),
}


def split_dicts(data, path) -> dict[str, dict]:
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a dict with keys 'train', 'valid', 'test', found {type(data).__name__}")
    return {split: get_key(data, split, f"{path}", ("dev",) if split == "valid" else ()) for split in SPLITS}


# Arrays with one entry per sample, besides the features: they vote on how many samples a split has.
PER_SAMPLE_KEYS = ("text_lengths", "audio_lengths", "vision_lengths", "text_bert", "raw_text", "id", "tgt",
                   "labels", "regression_labels", "classification_labels")


def features(split: dict, where: str) -> dict[str, RowSource]:
    out, keys_used = {}, {}
    for name, keys in MODALITY_KEYS.items():
        key = next((k for k in keys if isinstance(split, dict) and k in split), keys[0])
        out[name] = RowSource(get_key(split, keys[0], where, keys[1:]), f"{where}/{key}")
        keys_used[name] = key
    check_sample_counts(split, {keys_used[m]: len(source) for m, source in out.items()}, where)
    return out


def check_sample_counts(split: dict, feature_counts: dict[str, int], where: str) -> None:
    """Every per-sample array of a split has the same length; a disagreeing one is named as the culprit.

    A truncated feature array (20 audio rows for 30 samples) would otherwise surface later as a wrong
    shape of something else (the lengths, the labels), blaming the array that is right.
    """
    counts = dict(feature_counts)
    for key in PER_SAMPLE_KEYS:
        value = split.get(key)
        if value is not None and hasattr(value, "__len__"):
            counts[key] = len(value)
    sizes = sorted(set(counts.values()), key=lambda size: -list(counts.values()).count(size))
    if len(sizes) <= 1:
        return
    majority = sizes[0]
    if list(counts.values()).count(majority) == 1:  # no majority: say every count
        listed = ", ".join(f"{key} {size}" for key, size in counts.items())
        raise DataError(f"{where}: the per-sample arrays disagree on the number of samples ({listed}); "
                        "they must all have one entry per sample")
    agree = [key for key, size in counts.items() if size == majority]
    key, size = next((k, n) for k, n in counts.items() if n != majority)
    raise DataError(f"{where}/{key} has {size} samples, but the other per-sample arrays ({', '.join(agree)}) have "
                    f"{majority}: {key} is truncated or belongs to another file")


def lengths(split: dict, sources: dict[str, RowSource], where: str) -> dict[str, np.ndarray]:
    """Valid steps where the file records them (MMSA), else T for every sample."""
    out = {}
    for name, source in sources.items():
        n, steps = source.shape[0], source.shape[1]
        value = None
        if f"{name}_lengths" in split:
            value = as_array(split[f"{name}_lengths"], f"{where}/{name}_lengths").reshape(-1)
        elif name == "text" and "text_bert" in split:
            bert = as_array(split["text_bert"], f"{where}/text_bert")
            if bert.ndim == 3 and bert.shape[1] == 3:
                value = bert[:, 1, :].sum(axis=1)  # the attention mask row
        if value is None:
            continue
        if value.shape != (n,):
            raise DataError(f"{where}: {name} lengths have shape {value.shape}, expected ({n},)")
        out[name] = np.clip(value.astype(np.int64), 0, steps)
    return out


def ids(split: dict, n: int, where: str) -> np.ndarray | None:
    """Sample ids: MMSA's 'video$_$clip' strings, or MulT's (video, start, end) rows joined by '_'."""
    if "id" not in split:
        return None
    raw = np.asarray(split["id"])
    if raw.shape[0] != n:
        raise DataError(f"{where}/id: {raw.shape[0]} ids for {n} samples")

    def text(value):
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    if raw.ndim == 1:
        return np.array([text(v) for v in raw.tolist()])
    return np.array(["_".join(text(v) for v in row) for row in raw.reshape(n, -1).tolist()])
