"""CMU-MOSEI importers: MMS2S ``.pt``, MulT unaligned pickle, MMSA pickles with ``tgt``."""

from __future__ import annotations

import csv
import ast
from pathlib import Path

import numpy as np

from mmerbench.errors import DataError
from mmerbench.data.importing import (
    MOSEI_EMOTIONS, SplitSource, as_array, get_key, load_pickle_file, load_torch_or_pickle, require_file,
    sources_sha256, tgt_to_multihot, write_canonical,
)
from mmerbench_datasets._formats import mmsa
from mmerbench_datasets._formats.cmu_labels import check_sentiment_scores


def _tgt_labels(split: dict, where: str) -> np.ndarray:
    return tgt_to_multihot(get_key(split, "tgt", where), f"{where}/tgt")


def import_mms2s(output_path, name, dtype, source):
    """cmu-mosei: the aligned MMS2S ``train_valid_test.pt``."""
    path = require_file(source, "--source (train_valid_test.pt)")
    splits = mmsa.split_dicts(load_torch_or_pickle(path, "--source (train_valid_test.pt)"), path)
    out = {}
    for split_name, split in splits.items():
        where = f"{path}: {split_name}"
        features = mmsa.features(split, where)
        out[split_name] = SplitSource(features, _tgt_labels(split, where), mmsa.lengths(split, features, where),
                                      mmsa.ids(split, len(features["text"]), where))
    return write_canonical(output_path, name=name, dtype=dtype, label_names=MOSEI_EMOTIONS, splits=out,
                           source_sha256=sources_sha256([path]), attrs={"source_format": "mms2s-pt"})


def import_mult_unaligned(output_path, name, dtype, source, labels_from):
    """cmu-mosei-unaligned: MulT's ``mosei_senti_data_noalign.pkl`` + emotion labels from the aligned ``.pt``."""
    path = require_file(source, "--source (mosei_senti_data_noalign.pkl)")
    label_path = require_file(labels_from, "--labels-from (train_valid_test.pt)")
    features_data = mmsa.split_dicts(load_pickle_file(path, "--source (mosei_senti_data_noalign.pkl)"), path)
    label_data = mmsa.split_dicts(load_torch_or_pickle(label_path, "--labels-from (train_valid_test.pt)"), label_path)
    out = {}
    for split_name, split in features_data.items():
        where, label_where = f"{path}: {split_name}", f"{label_path}: {split_name}"
        features = mmsa.features(split, where)
        labels = _tgt_labels(label_data[split_name], label_where)
        n = len(features["text"])
        if labels.shape[0] != n:
            raise DataError(f"{where} has {n} samples but {label_where}/tgt has {labels.shape[0]}: "
                            "the two files must list the same samples in the same order")
        ids = mmsa.ids(split, n, where)
        label_ids = mmsa.ids(label_data[split_name], labels.shape[0], label_where)
        if ids is not None and label_ids is not None and not np.array_equal(ids, label_ids):
            row = int(np.flatnonzero(ids != label_ids)[0])
            raise DataError(f"{where}: sample {row} is {ids[row]!r} but {label_where} has {label_ids[row]!r}")
        meta = {}
        if "labels" in split:
            sentiment = as_array(split["labels"], f"{where}/labels").reshape(n, -1)[:, :1]
            check_sentiment_scores(sentiment, f"{where}/labels")
            meta["sentiment"] = sentiment.astype(np.float32)
        out[split_name] = SplitSource(features, labels, mmsa.lengths(split, features, where), ids, meta)
    return write_canonical(output_path, name=name, dtype=dtype, label_names=MOSEI_EMOTIONS, splits=out,
                           source_sha256=sources_sha256([path, label_path]),
                           attrs={"source_format": "mult-noalign-pkl"})


def _tgt_from_csv(path: Path) -> dict[str, list]:
    """LDDU's ``mmsa.csv``: one row per sample with columns ``mode`` and ``tgt`` (a Python list literal)."""
    out: dict[str, list] = {"train": [], "valid": [], "test": []}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"mode", "tgt"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: columns {sorted(missing)} missing; found {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            if row["mode"] not in out:
                raise DataError(f"{path}: line {line}: mode {row['mode']!r} is not train, valid or test")
            try:
                out[row["mode"]].append(ast.literal_eval(row["tgt"]))
            except (ValueError, SyntaxError):
                raise DataError(f"{path}: line {line}: tgt {row['tgt']!r} is not a list of integers") from None
    return out


def import_mmsa(output_path, name, dtype, source, tgt_csv=None):
    """cmu-mosei-mmsa(-unaligned): MMSA ``aligned_50.pkl`` / ``unaligned_50.pkl`` with a ``tgt`` list per split."""
    path = require_file(source, "--source (MMSA aligned_50.pkl / unaligned_50.pkl)")
    csv_path = None if tgt_csv is None else require_file(tgt_csv, "--tgt-csv")
    splits = mmsa.split_dicts(load_pickle_file(path, "--source (MMSA pickle)"), path)
    injected = _tgt_from_csv(csv_path) if csv_path else {}
    out = {}
    for split_name, split in splits.items():
        where = f"{path}: {split_name}"
        features = mmsa.features(split, where)
        n = len(features["text"])
        if injected:
            labels = tgt_to_multihot(injected[split_name], f"{csv_path}: {split_name}")
        elif "tgt" in split:
            labels = _tgt_labels(split, where)
        else:
            raise DataError(f"{where}: key 'tgt' is missing (MMSA pickles carry sentiment only); inject the "
                            "emotion token lists as in the LDDU repository or pass --tgt-csv mmsa.csv")
        if labels.shape[0] != n:
            raise DataError(f"{where}: {n} samples but {labels.shape[0]} tgt lists")
        meta = {}
        if "regression_labels" in split:
            meta["sentiment"] = as_array(split["regression_labels"], f"{where}/regression_labels").reshape(n, 1)
            check_sentiment_scores(meta["sentiment"], f"{where}/regression_labels")
        out[split_name] = SplitSource(features, labels, mmsa.lengths(split, features, where),
                                      mmsa.ids(split, n, where), meta)
    return write_canonical(output_path, name=name, dtype=dtype, label_names=MOSEI_EMOTIONS, splits=out,
                           source_sha256=sources_sha256([path, csv_path]), attrs={"source_format": "mmsa-pkl"})
