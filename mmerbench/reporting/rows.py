"""Rows of a leaderboard: one method configuration on one dataset, its values over seeds.

A row is one method configuration: the method with its preset and its
non-default overrides in the label (``lddu (cpu) [use_queue=false]``). Cells
are built from the row's values: the mean and sample standard deviation
(ddof=1) over seeds, with n; for n = 1 no ± is shown.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field



@dataclass
class Row:
    label: str
    method: str
    method_version: str
    preset: str | None
    overrides: dict
    values: dict[str, list[float]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    threshold_policy: str = ""
    thresholds: list = field(default_factory=list)
    reported: bool = False
    source: str = ""
    keys: list = field(default_factory=list)  # job keys, so significance can read their predictions
    mark: str = ""  # significance mark shown after the label (mmerbench.reporting.marks)
    ci: dict = field(default_factory=dict)  # metric -> (low, high) 95% bootstrap interval
    annotations: dict = field(default_factory=dict)  # extra JSON fields (significance, gap, ...)

    @property
    def n(self) -> int:
        return len(self.seeds) if not self.reported else 1

    def mean(self, metric: str) -> float | None:
        values = self.values.get(metric) or []
        return statistics.fmean(values) if values else None

    def std(self, metric: str) -> float | None:
        values = self.values.get(metric) or []
        return statistics.stdev(values) if len(values) > 1 else None


def tuned_text(tuning: dict) -> str:
    """``tuned 16`` (TPE, sampler seed 0: the defaults), else ``tuned 16 random seed 3``."""
    text = f"tuned {tuning.get('trials')}"
    if (tuning.get("sampler"), tuning.get("sampler_seed")) != ("tpe", 0):
        text += f" {tuning.get('sampler')} seed {tuning.get('sampler_seed')}"
    return text


def config_label(record: dict) -> str:
    """``lddu (cpu) [use_queue=false]``; a configuration chosen by ``mmerbench tune`` reads
    ``lddu (cpu, tuned 16)`` (its chosen values are in the footer and the JSON, not the label)."""
    label = record["method"]
    tuning = record.get("tuning") or {}
    inside = [record["preset"]] if record.get("preset") else []
    if tuning.get("role") == "tuned":
        inside.append(tuned_text(tuning))
    if inside:
        label += f" ({', '.join(inside)})"
    overrides = {k: v for k, v in (record.get("overrides") or {}).items()
                 if k not in _tuned_names(tuning)}
    if overrides:
        label += " [" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(overrides.items())) + "]"
    policy = record.get("threshold_policy")
    if policy and policy != "valid":
        label += f" {{threshold={policy}}}"
    return label


def _tuned_names(tuning: dict) -> set[str]:
    if tuning.get("role") != "tuned":
        return set()
    return {name.partition(".")[0] for name in tuning.get("params") or {}}


def build_rows(records: list[dict], dataset: str, split: str = "test") -> list[Row]:
    rows: dict[tuple, Row] = {}
    for record in records:
        if record.get("dataset") != dataset or record.get("status") != "ok":
            continue
        key = (record["method"], record["method_version"], config_label(record))
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(
                label=config_label(record), method=record["method"], method_version=record["method_version"],
                preset=record.get("preset"), overrides=record.get("overrides") or {},
                threshold_policy=record.get("threshold_policy", ""),
            )
        row.seeds.append(record["seed"])
        row.keys.append(record["key"])
        row.thresholds.append(record.get("threshold"))
        for metric, value in (record.get("metrics", {}).get(split) or {}).items():
            if isinstance(value, (int, float)):
                row.values.setdefault(metric, []).append(float(value))
    versions: dict[str, set] = {}
    for method, version, _ in rows:
        versions.setdefault(method, set()).add(version)
    for (method, version, _), row in rows.items():
        if len(versions[method]) > 1:
            row.label += f" v{version}"
    return sorted(rows.values(), key=lambda r: r.label)
