"""``table NAME``: any multi-label table, views as length-1 modalities; ``mulan-emotions``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mmerbench.data import carve_validation, make_split
from mmerbench.errors import DataError, UsageError
from mmerbench.data.importing import RowSource, SplitSource, require_file, sources_sha256, write_canonical
from mmerbench_datasets.table.readers import read_table


def parse_range(text: str, size: int, what: str) -> list[int]:
    start, _, stop = text.partition(":")
    try:
        a, b = int(start or 0), int(stop) if stop else size
    except ValueError:
        raise UsageError(f"{what} {text!r}: expected a range like '0:64'") from None
    if not 0 <= a < b <= size:
        raise UsageError(f"{what} {text!r}: range outside the {size} columns available")
    return list(range(a, b))


def label_indices(spec: str, names: list[str]) -> list[int]:
    """``last:K``, ``a:b`` (column positions) or comma-separated column names."""
    if spec.startswith("last:"):
        k = spec[5:]
        if not k.isdigit() or not 0 < int(k) < len(names):
            raise UsageError(f"--label-columns {spec!r}: K must be 1..{len(names) - 1}")
        return list(range(len(names) - int(k), len(names)))
    if re.fullmatch(r"\d*:\d*", spec):
        return parse_range(spec, len(names), "--label-columns")
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    missing = [w for w in wanted if w not in names]
    if missing:
        raise UsageError(f"--label-columns: no column named {missing[0]!r}; columns: {', '.join(names[:30])}")
    return [names.index(w) for w in wanted]


def parse_views(views: list[str] | None, n_features: int) -> dict[str, list[int]]:
    if not views:
        return {"features": list(range(n_features))}
    out = {}
    for view in views:
        name, sep, columns = view.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
            raise UsageError(f"--view {view!r}: expected NAME=a:b, e.g. timbre=0:64")
        if name in out:
            raise UsageError(f"--view {name!r} given twice")
        out[name] = parse_range(columns, n_features, f"--view {name}")
    return out


def _split_source(table, labels_at, views, path, label_names):
    """One file's rows as a split; an error about a row names its line in ``path``."""
    matrix = table.matrix
    labels = matrix[:, labels_at]
    missing_labels = np.isnan(labels)
    if missing_labels.any():
        row, col = np.argwhere(missing_labels)[0]
        raise DataError(f"{path}: {table.position(row)}: label column {label_names[col]!r} is empty or not a "
                        "number; labels must be 0 or 1")
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(f"{path}: {table.position(row)}: label column {label_names[col]!r} has value "
                        f"{labels[row, col]:g}; labels must be 0 or 1")
    features_at = [i for i in range(matrix.shape[1]) if i not in set(labels_at)]
    missing = np.isnan(matrix[:, features_at])
    if missing.any():  # named here, in the user's file, rather than later in the output file
        row, col = np.argwhere(missing)[0]
        raise DataError(f"{path}: {table.position(row)}: {int(missing.sum())} missing or NaN feature values, the "
                        f"first in column {table.names[features_at[col]]!r}; clean or impute them before importing")
    features = matrix[:, features_at].astype(np.float32)
    return SplitSource({v: RowSource(features[:, cols][:, None, :], f"{path}: view {v}") for v, cols in views.items()},
                       labels.astype(np.uint8))


def import_table(output_path, name, dtype, source=None, train=None, test=None, valid=None, label_columns=None,
                 view=None, label_names=None, test_fraction=0.25, seed=0, dataset_name=None):
    # Which options are required or go together (--source, or --train with --test; --label-columns) is
    # declared once, in plugin.py, and checked by `mmerbench data import` before this function is called.
    if source is not None and not 0 < test_fraction < 1:
        raise UsageError(f"--test-fraction {test_fraction:g}: must be between 0 and 1 (exclusive), e.g. 0.25")
    files = {"train": train, "test": test, "valid": valid} if source is None else {"source": source}
    paths = {k: require_file(v, f"--{k}") for k, v in files.items() if v is not None}
    tables = {k: read_table(p) for k, p in paths.items()}
    names = next(iter(tables.values())).names
    for k, table in tables.items():
        if table.names != names:
            raise DataError(f"{paths[k]}: columns differ from {next(iter(paths.values()))}")
    labels_at = label_indices(label_columns, names)
    chosen = [names[i] for i in labels_at]
    if label_names:
        chosen = [s.strip() for s in label_names.split(",")]
        if len(chosen) != len(labels_at):
            raise UsageError(f"--label-names gives {len(chosen)} names for {len(labels_at)} label columns")
    views = parse_views(view, len(names) - len(labels_at))
    splits = {k: _split_source(table, labels_at, views, paths[k], chosen) for k, table in tables.items()}
    if "source" in splits:
        splits = _carve_test(splits.pop("source"), test_fraction, seed)
    ordered = {k: splits[k] for k in ("train", "valid", "test") if k in splits}
    return write_canonical(output_path, name=name, dtype=dtype, label_names=chosen, splits=ordered,
                           source_sha256=sources_sha256(paths.values()),
                           attrs={"source_format": "table", "views": {v: [c[0], c[-1] + 1] for v, c in views.items()}})


def _carve_test(source: SplitSource, fraction: float, seed: int) -> dict[str, SplitSource]:
    """One file: a seeded, label-stratified test split (the validation rule of mmerbench.data)."""
    split = make_split({m: s.rows(0, len(s)) for m, s in source.features.items()}, source.labels)
    train, test = carve_validation(split, fraction, seed)
    return {k: SplitSource({m: RowSource(a, m) for m, a in s.features.items()}, s.labels)
            for k, s in (("train", train), ("test", test))}


def import_mulan_emotions(output_path, name, dtype, source):
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise DataError(f"--source {folder} is not a folder (expected the folder holding emotions-train.arff "
                        "and emotions-test.arff)")
    return import_table(output_path, name, dtype, train=folder / "emotions-train.arff",
                        test=folder / "emotions-test.arff", label_columns="last:6",
                        view=["timbre=0:64", "rhythm=64:72"])
