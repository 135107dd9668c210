"""Robustness tables for the leaderboard: one per protocol, rows = method configurations.

Cells are mean ± sample std over seeds of one metric (miF1 by default) on
each condition ``test@...`` of the job records; curves over a level get the
summaries of :mod:`mmerbench.evaluation.robustness`.
"""

from __future__ import annotations

import numpy as np

from mmerbench.evaluation.robustness import NOISE_CONDITION, RATE_CONDITION, effective_robustness, relative_robustness
from mmerbench.reporting.escaping import markdown_cell, markdown_line
from mmerbench.reporting.rows import build_rows


def _conditions(records, dataset) -> list[str]:
    names = []
    for record in records:
        if record.get("dataset") == dataset and record.get("status") == "ok":
            names += [k for k in (record.get("metrics") or {}) if k.startswith("test@") and k not in names]
    return names


def _curves(names):
    """{family title: [(level, condition name), ...] sorted by level} for rate and noise conditions."""
    families: dict[str, list] = {}
    for name in names:
        rate, noise = RATE_CONDITION.match(name), NOISE_CONDITION.match(name)
        if rate:
            families.setdefault("missing rate", []).append((float(rate.group(1)), name))
        elif noise:
            families.setdefault(f"noise on {noise.group(2)}", []).append((float(noise.group(1)), name))
    return {title: sorted(points) for title, points in families.items()}


def _cell(values: list[float], digits: int = 3) -> str:
    if not values:
        return ""
    text = f"{np.mean(values):.{digits}f}"
    return text + (f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else "")


def robustness_markdown(records, dataset: str, metric: str = "mif1", reference: str = "br") -> str:
    """The robustness section of a dataset's leaderboard ("" when no job has conditions)."""
    from tabulate import tabulate

    names = _conditions(records, dataset)
    if not names:
        return ""
    clean = {row.label: row for row in build_rows(records, dataset, "test")}
    by_condition = {name: {row.label: row for row in build_rows(records, dataset, name)} for name in names}
    labels = sorted(clean)
    shown = {label: markdown_cell(label) for label in clean}  # record text, escaped for markdown
    parts = [f"## Robustness (test {metric}, mean ± std over seeds)"]
    combos = [n for n in names if not RATE_CONDITION.match(n) and not NOISE_CONDITION.match(n)]
    if combos:
        ordered = [n for n in combos if n != "test@missing-mean"] + [n for n in combos if n == "test@missing-mean"]
        table = [[shown[label]] + [_cell(by_condition[n].get(label).values.get(metric, [])) if label in by_condition[n]
                            else "" for n in ordered] for label in labels]
        headers = ["method"] + [n.removeprefix("test@").replace("missing-mean", "mean") for n in ordered]
        parts += ["", "Modalities present at test time (`--protocol missing`):", "",
                  tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)]
    reference_label = next((label for label in labels if clean[label].method == reference), None)
    for title, points in _curves(names).items():
        levels = [0.0] + [level for level, _ in points]
        table = []
        curves = {}
        for label in labels:
            means = [clean[label].mean(metric)]
            means += [by_condition[n][label].mean(metric) if label in by_condition[n] else None for _, n in points]
            curves[label] = means
        for label in labels:
            means = curves[label]
            complete = all(v is not None for v in means)
            row = [shown[label]] + [_cell(clean[label].values.get(metric, []))]
            row += [_cell(by_condition[n][label].values.get(metric, [])) if label in by_condition[n] else ""
                    for _, n in points]
            row.append(f"{relative_robustness(levels, means):.3f}" if complete else "")
            reference_curve = curves.get(reference_label)
            usable = complete and reference_curve is not None and all(v is not None for v in reference_curve)
            row.append(f"{effective_robustness(means, reference_curve):+.3f}" if usable else "")
            table.append(row)
        headers = ["method", "clean"] + [f"{level:g}" for level, _ in points] + ["relative", "effective"]
        parts += ["", f"{title[0].upper()}{title[1:]} (level: {'drop rate' if title == 'missing rate' else 'noise scale, in training std'}):",
                  "", tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)]
    note = (f"Relative robustness: area under the {metric}-vs-level curve divided by the largest level. "
            f"Effective robustness: mean gap to the reference method's curve shifted to the same clean score "
            f"(reference: {reference}" + ("" if reference_label else ", absent from this table, so not computed") + ").")
    errors = sorted({(r["method"], c) for r in records if r.get("dataset") == dataset
                     for c in (r.get("condition_errors") or {})})
    parts += ["", note]
    if errors:
        parts.append("Conditions without scores (see `condition_errors` in `mmerbench results`): "
                     + markdown_line("; ".join(f"{m} {c.removeprefix('test@')}" for m, c in errors)) + ".")
    return "\n".join(parts)
