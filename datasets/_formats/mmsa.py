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


def features(split: dict, where: str) -> dict[str, RowSource]:
    out = {}
    for name, keys in MODALITY_KEYS.items():
        out[name] = RowSource(get_key(split, keys[0], where, keys[1:]), f"{where}/{keys[0]}")
    return out


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
