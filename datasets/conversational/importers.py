"""IEMOCAP and MELD: the utterance-level feature pickles of the conversational-ER literature.

A sample is one utterance; each modality is a single step (its vector). The
tuple layouts (declare-lab conv-emotion, MMGCN):

- IEMOCAP_features.pkl, 9 items: videoIDs, videoSpeakers, videoLabels, videoText, videoAudio,
  videoVisual, videoSentence, trainVid, testVid;
- MELD_features_raw.pkl, 9 items: videoIDs, videoSpeakers, videoLabels (emotion), videoText,
  videoAudio, videoSentence, trainVid, testVid, sentiment labels (no visual);
- MMGCN's MELD pickle, 10 items: as above with videoVisual after videoAudio.

Each ``video*`` item maps a dialogue id to a per-utterance list. There is no
validation split: one is carved from train at load time (``valid_fraction``).
"""

from __future__ import annotations

import numpy as np

from mmerbench.errors import DataError
from mmerbench.data.importing import (
    RowSource, SplitSource, class_indices_to_onehot, load_pickle_file, require_file, sources_sha256,
    write_canonical,
)

IEMOCAP_6 = ("happy", "sad", "neutral", "angry", "excited", "frustrated")
# The usual 4-class IEMOCAP: excited merged into happy, frustrated dropped.
IEMOCAP_6_TO_4 = {0: 0, 1: 1, 2: 2, 3: 3, 4: 0}
IEMOCAP_4 = ("happy", "sad", "neutral", "angry")
MELD_7 = ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")


def _unpack(data, path, dataset):
    if not isinstance(data, (tuple, list)):
        raise DataError(f"{path}: expected a tuple of dicts (videoIDs, videoSpeakers, videoLabels, ...), "
                        f"found {type(data).__name__}")
    if dataset == "iemocap" and len(data) >= 9:
        return {"ids": data[0], "labels": data[2], "text": data[3], "audio": data[4], "vision": data[5],
                "train": data[7], "test": data[8]}
    if dataset == "meld" and len(data) == 9:
        return {"ids": data[0], "labels": data[2], "text": data[3], "audio": data[4],
                "train": data[6], "test": data[7]}
    if dataset == "meld" and len(data) >= 10:
        return {"ids": data[0], "labels": data[2], "text": data[3], "audio": data[4], "vision": data[5],
                "train": data[7], "test": data[8]}
    raise DataError(f"{path}: a tuple of {len(data)} items does not match the {dataset} layouts "
                    "(see `mmerbench data import " + dataset + " --help`)")


def _split(parts, dialogues, path, split, class_map, q):
    where = f"{path}: {split}"
    rows, ids, classes = {m: [] for m in ("text", "audio", "vision") if m in parts}, [], []
    for dialogue in sorted(dialogues, key=str):
        for table in ("labels", *rows):
            if dialogue not in parts[table]:
                raise DataError(f"{where}: dialogue {dialogue!r} is missing from the {table} dict")
        labels = np.asarray(parts["labels"][dialogue]).reshape(-1)
        utterance_ids = list(parts["ids"].get(dialogue, range(len(labels))))
        for m in rows:
            if len(parts[m][dialogue]) != len(labels):
                raise DataError(f"{where}: dialogue {dialogue!r} has {len(labels)} labels but "
                                f"{len(parts[m][dialogue])} {m} vectors")
        for k, label in enumerate(labels.tolist()):
            label = int(label)
            if class_map is not None:
                if label not in class_map:
                    continue  # classes the 4-class variant leaves out
                label = class_map[label]
            classes.append(label)
            ids.append(f"{dialogue}/{utterance_ids[k] if k < len(utterance_ids) else k}")
            for m in rows:
                rows[m].append(np.asarray(parts[m][dialogue][k], dtype=np.float32).reshape(-1))
    if not classes:
        raise DataError(f"{where}: no utterances")
    features = {m: RowSource(v, f"{where}/{m}", vectors=True) for m, v in rows.items()}
    return SplitSource(features, class_indices_to_onehot(classes, q, f"{where}/labels"), ids=np.array(ids))


def _import(output_path, name, dtype, source, dataset, label_names, class_map=None):
    path = require_file(source, f"--source ({dataset} feature pickle)")
    parts = _unpack(load_pickle_file(path, "--source"), path, dataset)
    splits = {split: _split(parts, parts[split], path, split, class_map, len(label_names))
              for split in ("train", "test")}
    return write_canonical(output_path, name=name, dtype=dtype, label_names=label_names, splits=splits,
                           single_label=True, source_sha256=sources_sha256([path]),
                           attrs={"source_format": f"{dataset}-features-pkl"})


def import_iemocap(output_path, name, dtype, source):
    return _import(output_path, name, dtype, source, "iemocap", IEMOCAP_6)


def import_iemocap_4class(output_path, name, dtype, source):
    return _import(output_path, name, dtype, source, "iemocap", IEMOCAP_4, IEMOCAP_6_TO_4)


def import_meld(output_path, name, dtype, source):
    return _import(output_path, name, dtype, source, "meld", MELD_7)
