"""``mmerbench results --format csv``: one row per job, or one row per (job, split, label) with --per-label.

Configurations can differ by more than their key shows, so every resolved
hyperparameter gets a column (``param.NAME``), as does every method override
(``override.NAME``) and dataset parameter (``dataset_param.NAME``). A value that
is not a number, a string or a boolean is written as JSON.
"""

from __future__ import annotations

import csv
import json
from typing import IO

JOB_COLUMNS = ["key", "method", "method_version", "dataset", "dataset_fingerprint", "dataset_file_fingerprint",
               "valid_seed", "seed", "status", "preset", "threshold_policy", "threshold", "fit_seconds",
               "predict_seconds", "peak_rss_mb", "device", "git_revision", "error", "command"]
PER_LABEL_COLUMNS = ["key", "method", "preset", "dataset", "seed", "split", "label", "p", "r", "f1", "support"]
REALISED = ("complete", "none", "dropped")  # condition_info shares: every modality, none, modalities dropped
PREFIXED = (("param.", "params"), ("override.", "overrides"), ("dataset_param.", "dataset_params"))


def _cell(value):
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return "" if value is None else value


def write_records_csv(records: list[dict], stream: IO[str]) -> None:
    metric_names = sorted({m for r in records for m in (r.get("metrics", {}).get("test") or {})})
    prefixed = [(prefix, field, sorted({name for r in records for name in (r.get(field) or {})}))
                for prefix, field in PREFIXED]
    # Robustness conditions (test@...) after the plain splits, each with its own metrics.
    conditions = sorted({c for r in records for c in r.get("metrics", {}) if c.startswith("test@")})
    extra = [(c, m) for c in conditions
             for m in sorted({m for r in records for m in (r.get("metrics", {}).get(c) or {})})]
    # What each missingness condition came to (condition_info: realised shares), beside its scores.
    realised = [(c, k) for c in sorted({c for r in records for c, i in (r.get("condition_info") or {}).items()
                                        if "complete" in i}) for k in REALISED]
    writer = csv.writer(stream)
    writer.writerow(JOB_COLUMNS + [prefix + name for prefix, _, names in prefixed for name in names]
                    + [f"test_{m}" for m in metric_names] + [f"valid_{m}" for m in metric_names]
                    + [f"{c}_{m}" for c, m in extra] + [f"{c}_realised_{k}" for c, k in realised])
    for r in records:
        writer.writerow([_cell(r.get(c)) for c in JOB_COLUMNS]
                        + [_cell((r.get(field) or {}).get(name)) for _, field, names in prefixed for name in names]
                        + [_cell(r.get("metrics", {}).get(s, {}).get(m)) for s in ("test", "valid")
                           for m in metric_names]
                        + [_cell((r.get("metrics", {}).get(c) or {}).get(m)) for c, m in extra]
                        + [_cell(((r.get("condition_info") or {}).get(c) or {}).get(k)) for c, k in realised])


def write_per_label_csv(records: list[dict], stream: IO[str]) -> None:
    """Long format: per-label precision, recall, F1 and support of every finished job, valid and test."""
    writer = csv.writer(stream)
    writer.writerow(PER_LABEL_COLUMNS)
    for r in records:
        for split, labels in (r.get("per_label") or {}).items():
            for label, scores in labels.items():
                writer.writerow([_cell(r.get("key")), r.get("method"), _cell(r.get("preset")), r.get("dataset"),
                                 r.get("seed"), split, label] + [_cell(scores.get(k)) for k in ("p", "r", "f1",
                                                                                                 "support")])
