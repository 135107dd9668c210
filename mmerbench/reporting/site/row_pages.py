"""What a row's page shows: each seed's job (scores, threshold, timings, memory), the settings it ran with,
its provenance, the commands that re-create it, its per-label scores and its curves.

All of it is read from the row's job records as stored; means over seeds are
the leaderboard row's own (``row.mean``).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from mmerbench.reporting.site import sources

SEED_METRICS = ("acc", "p", "r", "mif1", "maf1", "hamming", "subset_acc", "single_acc", "wf1", "ece", "brier",
                "unc_auroc")
TIMINGS = (("fit_seconds", "fit (s)"), ("predict_seconds", "predict (s)"), ("protocol_seconds", "protocols (s)"),
           ("peak_rss_mb", "peak memory (MB)"))


def _number(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _json(value) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def seed_table(records: list[dict]) -> dict:
    titles = sources.metric_titles()
    metrics = [m for m in SEED_METRICS if any(m in (r.get("metrics", {}).get("test") or {}) for r in records)]
    body = []
    for record in sorted(records, key=lambda r: r["seed"]):
        test = record.get("metrics", {}).get("test") or {}
        threshold = record.get("threshold")
        body.append([str(record["seed"]), _json(threshold) if isinstance(threshold, list) else _number(threshold, 2)]
                    + [_number(test.get(m)) for m in metrics]
                    + [_number(record.get(name), 1) for name, _ in TIMINGS]
                    + [str(record.get("device", "")), str(record.get("threads", "")), record["key"]])
    headers = (["seed", "threshold"] + [titles.get(m, m) for m in metrics] + [title for _, title in TIMINGS]
               + ["device", "threads", "job key"])
    return {"headers": headers, "rows": body}


def settings(records: list[dict]) -> list[tuple[str, str]]:
    """(hyperparameter, value) as resolved for the jobs; a value that differs by seed lists each seed's."""
    names = list(dict.fromkeys(name for r in records for name in (r.get("params") or {})))
    out = []
    for name in names:
        values = {r["seed"]: _json((r.get("params") or {}).get(name)) for r in records}
        if len(set(values.values())) == 1:
            out.append((name, next(iter(values.values()))))
        else:
            out.append((name, "; ".join(f"seed {seed}: {value}" for seed, value in sorted(values.items()))))
    return out


def provenance(records: list[dict]) -> list[tuple[str, str]]:
    def distinct(field: str) -> str:
        return ", ".join(sorted({_json(r.get(field)) for r in records if r.get(field) not in (None, "")})) or "—"

    versions = records[-1].get("versions") or {}
    return [
        ("method version", distinct("method_version")),
        ("preset", distinct("preset")),
        ("overrides", distinct("overrides")),
        ("threshold policy", distinct("threshold_policy")),
        ("dataset file fingerprint", distinct("dataset_file_fingerprint")),
        ("dataset splits fingerprint", distinct("dataset_fingerprint")),
        ("dataset parameters", distinct("dataset_params")),
        ("robustness protocols", ", ".join(sorted({p for r in records for p in (r.get("protocols") or [])})) or "—"),
        ("uncertainty score", distinct("uncertainty_source")),
        ("git revision", distinct("git_revision")),
        ("executor", distinct("executor")),
        ("finished", distinct("finished_at")),
        ("packages", ", ".join(f"{name} {version}" for name, version in versions.items()) or "—"),
    ]


def per_label(records: list[dict]) -> dict:
    scores = sources.per_label_scores(records)
    names = ("p", "r", "f1", "support")
    rows = []
    for label, values in scores.items():
        rows.append([label] + [_mean_std(values.get(name, []), 0 if name == "support" else 3) for name in names])
    return {"headers": ["label", "P", "R", "F1", "support"], "rows": rows}


def _mean_std(values: list[float], digits: int) -> str:
    if not values:
        return ""
    text = f"{statistics.fmean(values):.{digits}f}"
    if len(values) > 1 and digits:
        text += f" ± {statistics.stdev(values):.{digits}f}"
    return text


def row_context(row, records: list[dict], figure_folder: Path, page: str) -> dict:
    stem = page.removesuffix(".html")
    figures = []
    for title, draw, name in (("training curves", sources.training_curve_figure, "training"),
                              ("reliability diagram", sources.reliability_figure, "reliability")):
        path = draw(row.label, records, figure_folder / f"{stem}-{name}.png")
        if path is not None:
            figures.append((title, f"../figures/rows/{path.name}"))
    condition_errors = sorted({f"seed {r['seed']}, {condition}: {message}" for r in records
                               for condition, message in (r.get("condition_errors") or {}).items()})
    return {
        "seed_table": seed_table(records), "settings": settings(records), "provenance": provenance(records),
        "per_label": per_label(records), "figures": figures, "condition_errors": condition_errors,
        "reproduce": sources.reproduce_command(records),
        "commands": [(r["seed"], r.get("command", "")) for r in sorted(records, key=lambda r: r["seed"])],
        "significance": row.annotations.get("significance"),
        "notes": sorted({note for r in records for note in (r.get("notes") or []) if "cached at" not in note}),
    }
