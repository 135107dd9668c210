"""Rows of a leaderboard: one method configuration on one dataset, its values over seeds.

A row is one method configuration: the method with its preset and its
non-default overrides in the label (``lddu (cpu) [use_queue=false]``). Cells
are built from the row's values: the mean and sample standard deviation
(ddof=1) over seeds, with n; for n = 1 no ± is shown.

A row never mixes data: jobs are grouped by the data they ran on too (the
dataset's parameters and fingerprint, see :func:`data_identity`). When a
dataset name holds jobs on more than one version of its data, each row's
``data`` names its version by the parameters that differ
(``n_test=200, n_train=300``; the fingerprint when the parameters are the
same), the label says it, and tables compare, bold and mark rows only within
one version (:func:`data_groups`).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field



OUTSIDE_ORIGIN = "outside"  # mmerbench.execution.job_files.OUTSIDE: a collected record no run planned
OUTSIDE_MARK = " (outside: not from a planned run)"


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
    data: str = ""  # which version of the dataset's data, when the table holds several ("" otherwise)
    data_identity: tuple = ()  # what makes two jobs' data the same (see data_identity)

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


def data_identity(record: dict) -> tuple:
    """What makes two jobs' data the same: the dataset's parameters and the fingerprint of its data.

    The fingerprint of the splits changes per seed under ``--resample-valid`` (each seed re-draws the
    validation split from the same data), so such jobs are identified by the fingerprint of the data as
    stored and the fact that their validation split was re-drawn; other jobs by both fingerprints.
    """
    params = json.dumps(record.get("dataset_params") or {}, sort_keys=True, default=repr)
    file_fingerprint = record.get("dataset_file_fingerprint") or ""
    if record.get("valid_seed") is not None:
        return params, file_fingerprint or record.get("dataset_fingerprint", ""), "validation re-drawn per seed"
    return params, file_fingerprint, record.get("dataset_fingerprint", "")


def data_names(records: list[dict]) -> dict[tuple, str]:
    """{data identity: short name} for the versions of one dataset's data; "" when there is only one."""
    params_of: dict[tuple, dict] = {}
    for record in records:
        params_of.setdefault(data_identity(record), record.get("dataset_params") or {})
    if len(params_of) < 2:
        return {identity: "" for identity in params_of}
    keys = sorted({k for params in params_of.values() for k in params})
    differing = [k for k in keys if len({json.dumps(p.get(k), sort_keys=True, default=repr)
                                         for p in params_of.values()}) > 1]
    names = {}
    for identity, params in params_of.items():
        name = ", ".join(f"{k}={json.dumps(params.get(k), default=repr)}" for k in differing)
        names[identity] = name
    by_name: dict[str, list[tuple]] = {}
    for identity, name in names.items():
        by_name.setdefault(name, []).append(identity)
    for name, identities in by_name.items():
        if len(identities) > 1:  # the same parameters on different data: the fingerprints tell them apart
            for identity in identities:
                fingerprint = (identity[2] if identity[2] != "validation re-drawn per seed" else identity[1])[:8]
                suffix = "; validation re-drawn" if identity[2] == "validation re-drawn per seed" else ""
                names[identity] = ", ".join(filter(None, [name, f"fingerprint {fingerprint}{suffix}"]))
    return names


def data_groups(rows: list[Row]) -> list[list[Row]]:
    """Rows that ran on the same data, group by group (a table compares rows only within a group)."""
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.data_identity, []).append(row)
    return list(groups.values())


def build_rows(records: list[dict], dataset: str, split: str = "test") -> list[Row]:
    rows: dict[tuple, Row] = {}
    finished = [r for r in records if r.get("dataset") == dataset and r.get("status") == "ok"]
    names = data_names(finished)
    for record in finished:
        identity = data_identity(record)
        # A record no driver planned (gathered from jobs/ by `collect`) is its own row, marked as such.
        outside = record.get("origin") == OUTSIDE_ORIGIN
        label = config_label(record) + (OUTSIDE_MARK if outside else "")
        key = (record["method"], record["method_version"], label, identity)
        row = rows.get(key)
        if row is None:
            row = rows[key] = Row(
                label=label, method=record["method"], method_version=record["method_version"],
                preset=record.get("preset"), overrides=record.get("overrides") or {},
                threshold_policy=record.get("threshold_policy", ""), data=names[identity], data_identity=identity,
            )
        row.seeds.append(record["seed"])
        row.keys.append(record["key"])
        row.thresholds.append(record.get("threshold"))
        for metric, value in (record.get("metrics", {}).get(split) or {}).items():
            if isinstance(value, (int, float)):
                row.values.setdefault(metric, []).append(float(value))
        if split == "test":  # each condition's scores as CONDITION_METRIC, e.g. test@vision_mif1 (--metrics)
            for condition, scores in (record.get("metrics") or {}).items():
                if condition.startswith("test@") and isinstance(scores, dict):
                    for metric, value in scores.items():
                        if isinstance(value, (int, float)):
                            row.values.setdefault(f"{condition}_{metric}", []).append(float(value))
    versions: dict[str, set] = {}
    for method, version, _, _ in rows:
        versions.setdefault(method, set()).add(version)
    for (method, version, _, _), row in rows.items():
        if len(versions[method]) > 1:
            row.label += f" v{version}"
        if row.data:  # said in the label, so that csv, json and figures keep the versions apart too
            row.label += f" ⟨data: {row.data}⟩"
    return sorted(rows.values(), key=lambda r: (r.data, r.label))
