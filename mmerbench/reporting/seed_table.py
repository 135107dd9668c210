"""The per-seed numbers behind a published table: ``leaderboards/<dataset>-seeds.csv``.

A published cell is a mean ± std over seeds, rounded to 3 decimals; re-creating a
table is checked seed by seed against this file, written beside the page by
``leaderboard --publish``: one line per job with its row's label, seed, job
key and thread count, and every number the page shows (each metric of the
table, and each robustness condition's metric) at full precision.
"""

from __future__ import annotations

import csv
from typing import IO

from mmerbench.reporting.rows import config_label

ID_COLUMNS = ["row", "method", "method_version", "preset", "seed", "key", "threads"]


def seed_columns(records: list[dict], metrics, robustness_metric: str = "mif1") -> list[str]:
    """The table's metrics, then ``CONDITION_METRIC`` for each robustness condition (``test@vision_mif1``)."""
    conditions = []
    for record in records:
        conditions += [c for c in record.get("metrics") or {} if c.startswith("test@") and c not in conditions]
    return list(metrics) + [f"{c}_{robustness_metric}" for c in conditions]


def _value(record: dict, column: str):
    condition, _, metric = column.partition("_") if column.startswith("test@") else ("test", "", column)
    value = ((record.get("metrics") or {}).get(condition) or {}).get(metric)
    return "" if value is None else repr(float(value))


def write_seed_table(records: list[dict], dataset: str, metrics, stream: IO[str],
                     robustness_metric: str = "mif1") -> None:
    ok = sorted((r for r in records if r.get("dataset") == dataset and r.get("status") == "ok"),
                key=lambda r: (config_label(r), r["seed"]))
    columns = seed_columns(ok, metrics, robustness_metric)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(ID_COLUMNS + columns)
    for record in ok:
        writer.writerow([config_label(record), record["method"], record.get("method_version", ""),
                         record.get("preset") or "", record["seed"], record["key"], record.get("threads", "")]
                        + [_value(record, column) for column in columns])
