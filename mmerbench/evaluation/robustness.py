"""Robustness tables for the leaderboard: one per protocol, rows = method configurations.

Cells are mean ± sample std over seeds of one metric (miF1 by default) on
each condition ``test@...`` of the job records. Curves over an imperfection
level (missing rate, noise scale) also get MultiBench's two summaries
(Liang et al., 2021), computed on the mean curve, with the clean test split
as level 0:

- relative robustness: the area under the metric-vs-level curve (trapezoids),
  divided by the largest level, i.e. the curve's mean height over the range
  (MultiBench sums trapezoids of fixed width 0.1 instead; dividing by the
  range keeps the number in the metric's own units whatever the levels);
- effective robustness: how far the curve stays above a reference method's
  curve shifted to start at the same clean score, averaged over the levels
  above 0 (MultiBench uses its late-fusion baseline as the reference; here it
  is ``reference``, br by default). Positive = degrades more gracefully than
  the reference.
"""

from __future__ import annotations

import re

import numpy as np

NOISE_CONDITION = re.compile(r"^test@noise=([^:]+):(.+)$")
RATE_CONDITION = re.compile(r"^test@missing-rate=(.+)$")


def relative_robustness(levels, values) -> float:
    """Area under ``values`` over ``levels`` (which start at 0), divided by the largest level."""
    levels, values = np.asarray(levels, dtype=float), np.asarray(values, dtype=float)
    if len(levels) < 2 or levels[-1] <= levels[0]:
        return float(values.mean())
    area = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(levels)))
    return area / float(levels[-1] - levels[0])


def effective_robustness(values, reference_values) -> float:
    """Mean over the levels above 0 of f(x) - (f_ref(x) + f(0) - f_ref(0))."""
    values, reference = np.asarray(values, dtype=float), np.asarray(reference_values, dtype=float)
    shifted = reference + (values[0] - reference[0])
    return float(np.mean((values - shifted)[1:]))


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

    from mmerbench.leaderboard import build_rows

    names = _conditions(records, dataset)
    if not names:
        return ""
    clean = {row.label: row for row in build_rows(records, dataset, "test")}
    by_condition = {name: {row.label: row for row in build_rows(records, dataset, name)} for name in names}
    labels = sorted(clean)
    parts = [f"## Robustness (test {metric}, mean ± std over seeds)"]
    combos = [n for n in names if not RATE_CONDITION.match(n) and not NOISE_CONDITION.match(n)]
    if combos:
        ordered = [n for n in combos if n != "test@missing-mean"] + [n for n in combos if n == "test@missing-mean"]
        table = [[label] + [_cell(by_condition[n].get(label).values.get(metric, [])) if label in by_condition[n]
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
            row = [label] + [_cell(clean[label].values.get(metric, []))]
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
                     + "; ".join(f"{m} {c.removeprefix('test@')}" for m, c in errors) + ".")
    return "\n".join(parts)
