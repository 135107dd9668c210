"""M3ED importer: CARAT's dialogue pickle, or the MMS2S-layout ``.pt`` CARAT derives from it."""

from __future__ import annotations

import numpy as np

from mmerbench.errors import DataError
from mmerbench.data.importing import (
    RowSource, SplitSource, get_key, load_torch_or_pickle, require_file, sources_sha256, tgt_to_multihot,
    write_canonical,
)

EMOTIONS = ("Happy", "Neutral", "Sad", "Disgust", "Anger", "Fear", "Surprise")
DIMS = {"text": 768, "audio": 342, "vision": 1024}
# Positions in CARAT's pickle (utils/m3ed_reader.py): 2 labels, 3 text, 4 visual, 5 audio, 7/8/9 split ids.
LABELS, TEXT, VISUAL, AUDIO, TRAIN, VALID, TEST = 2, 3, 4, 5, 7, 8, 9


class _Dialogues:
    """Rows = dialogues: the first T utterance vectors of each, right-padded."""

    def __init__(self, per_dialogue: list, steps: int, dim: int, where: str):
        self.items, self.where = per_dialogue, where
        self.shape = (len(per_dialogue), steps, dim)

    def __len__(self):
        return self.shape[0]

    def rows(self, start, stop):
        out = np.zeros((stop - start, self.shape[1], self.shape[2]), dtype=np.float32)
        for row, i in enumerate(range(start, stop)):
            item = np.asarray(self.items[i], dtype=np.float32)
            if item.ndim == 1:
                item = item[None, :]
            if item.ndim != 2 or item.shape[1] != self.shape[2]:
                raise DataError(f"{self.where}: dialogue {i} has features of shape {item.shape}, "
                                f"expected (utterances, {self.shape[2]})")
            out[row, : min(len(item), self.shape[1])] = item[: self.shape[1]]
        return out


def _from_pickle(data, path, max_steps):
    if not isinstance(data, (tuple, list)) or len(data) < 10:
        raise DataError(f"{path}: expected CARAT's M3ED pickle, a tuple of at least 10 items "
                        f"(labels at 2, text 3, visual 4, audio 5, train/val/test ids 7/8/9), "
                        f"found {type(data).__name__} of length {len(data) if hasattr(data, '__len__') else '?'}")
    labels, sources = data[LABELS], {"text": data[TEXT], "audio": data[AUDIO], "vision": data[VISUAL]}
    out = {}
    for split, position in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        ids = [str(i) for i in data[position]]
        where = f"{path}: {split}"
        multi_hot = np.zeros((len(ids), len(EMOTIONS)), dtype=np.uint8)
        utterances = np.zeros(len(ids), dtype=np.int64)
        for row, dialogue in enumerate(data[position]):
            classes = np.asarray(get_key(labels, dialogue, f"{path}: item {LABELS} (labels)")).reshape(-1)
            if classes.size and ((classes < 0) | (classes >= len(EMOTIONS))).any():
                raise DataError(f"{where}: dialogue {dialogue!r} has label {int(classes.max())}; "
                                f"valid 0..{len(EMOTIONS) - 1} ({', '.join(EMOTIONS)})")
            multi_hot[row, classes.astype(np.int64)] = 1
            utterances[row] = len(classes)
        features, lengths = {}, {}
        steps = max_steps or int(utterances.max(initial=1))
        for m, table in sources.items():
            per_dialogue = [get_key(table, d, f"{path}: {m} features") for d in data[position]]
            for d, item, count in zip(data[position], per_dialogue, utterances):
                if len(item) != count:
                    raise DataError(f"{where}: dialogue {d!r} has {count} labels but {len(item)} {m} vectors")
            features[m] = _Dialogues(per_dialogue, steps, DIMS[m] if not per_dialogue else
                                     np.asarray(per_dialogue[0]).shape[-1], f"{where}/{m}")
            lengths[m] = np.minimum(utterances, steps)
        out[split] = SplitSource(features, multi_hot, lengths, np.array(ids))
    return out


def _from_pt(data, path):
    out = {}
    for split in ("train", "valid", "test"):
        part = get_key(data, split, str(path))
        where = f"{path}: {split}"
        features = {m: RowSource(get_key(part, key, where), f"{where}/{key}")
                    for m, key in (("text", "src-text"), ("audio", "src-audio"), ("vision", "src-visual"))}
        labels = tgt_to_multihot(get_key(part, "tgt", where), f"{where}/tgt", q=len(EMOTIONS))
        lengths = {}
        if "len_list" in part:
            counts = np.asarray(part["len_list"], dtype=np.int64)
            lengths = {m: np.minimum(counts, s.shape[1]) for m, s in features.items()}
        out[split] = SplitSource(features, labels, lengths)
    return out


def import_m3ed(output_path, name, dtype, source, max_steps=60):
    path = require_file(source, "--source (CARAT's M3ED pickle or m3ed_data_60.pt)")
    data = load_torch_or_pickle(path, "--source")
    splits = _from_pt(data, path) if isinstance(data, dict) else _from_pickle(data, path, max_steps)
    return write_canonical(output_path, name=name, dtype=dtype, label_names=EMOTIONS, splits=splits,
                           source_sha256=sources_sha256([path]), attrs={"source_format": "carat-m3ed"})
