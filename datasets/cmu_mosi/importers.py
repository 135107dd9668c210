"""CMU-MOSI from MMSA pickles: negative / non-negative sentiment, single-label (q=2)."""

from __future__ import annotations

import numpy as np

from mmerbench.errors import DataError
from mmerbench.data.importing import (
    SplitSource, as_array, get_key, load_pickle_file, require_file, sources_sha256, write_canonical,
)
from mmerbench_datasets._formats import mmsa
from mmerbench_datasets._formats.cmu_labels import check_sentiment_scores

LABEL_NAMES = ("negative", "non-negative")


def import_mosi(output_path, name, dtype, source):
    path = require_file(source, "--source (MMSA aligned_50.pkl / unaligned_50.pkl of MOSI)")
    splits = mmsa.split_dicts(load_pickle_file(path, "--source"), path)
    out = {}
    for split_name, split in splits.items():
        where = f"{path}: {split_name}"
        features = mmsa.features(split, where)
        n = len(features["text"])
        score = as_array(get_key(split, "regression_labels", where, ("labels",)), f"{where}/regression_labels")
        if score.size != n:
            raise DataError(f"{where}/regression_labels: shape {score.shape}, expected one sentiment score per "
                            f"sample ({n},) or ({n}, 1): is this the labels array?")
        score = score.reshape(n).astype(np.float32)
        check_sentiment_scores(score, f"{where}/regression_labels")
        negative = score < 0
        labels = np.stack([negative, ~negative], axis=1).astype(np.uint8)
        out[split_name] = SplitSource(features, labels, mmsa.lengths(split, features, where),
                                      mmsa.ids(split, n, where), {"sentiment": score[:, None]})
    return write_canonical(output_path, name=name, dtype=dtype, label_names=LABEL_NAMES, splits=out,
                           single_label=True, source_sha256=sources_sha256([path]),
                           attrs={"source_format": "mmsa-pkl"})
