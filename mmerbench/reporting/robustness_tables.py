"""Robustness tables for the leaderboard: one per protocol, rows = method configurations.

Cells are mean ± sample std over seeds of one metric (miF1 by default) on
each condition ``test@...`` of the job records; curves over a level get the
summaries of :mod:`mmerbench.evaluation.robustness`. Each table names the
``--protocol`` texts it shows as the user wrote them, and under every table of
missingness conditions a note gives what the missingness came to (the realised
shares of complete samples, of samples with no modality and of modalities
dropped, recorded per job in ``condition_info``: :func:`realised_shares`).
"""

from __future__ import annotations

import numpy as np

from mmerbench.data.protocol_specs import PROTOCOL_VERSION
from mmerbench.evaluation.robustness import (NOISE_CONDITION, PATTERN_CONDITION, RATE_CONDITION, effective_robustness,
                                             relative_robustness)
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
            seeds = int(rate.group(2) or 1)
            title = "missing rate" + (f", {seeds} drop patterns averaged" if seeds > 1 else "")
            families.setdefault(title, []).append((float(rate.group(1)), name))
        elif noise:
            families.setdefault(f"noise on {noise.group(2)}", []).append((float(noise.group(1)), name))
    return {title: sorted(points) for title, points in families.items()}


def _is_combination(name: str) -> bool:
    return not (RATE_CONDITION.match(name) or NOISE_CONDITION.match(name) or PATTERN_CONDITION.match(name))


def _info(records, dataset: str, name: str) -> list[tuple[int, dict]]:
    """(seed, condition_info) of ``name``, one per seed: the pattern of a seed is the same for every method."""
    seen: dict[int, dict] = {}
    for record in records:
        if record.get("dataset") == dataset and record.get("status") == "ok":
            info = (record.get("condition_info") or {}).get(name)
            if info and record.get("seed") not in seen:
                seen[record.get("seed")] = info
    return sorted(seen.items(), key=lambda item: str(item[0]))


def _protocol_texts(records, dataset: str, names) -> list[str]:
    """The ``--protocol`` texts, as written, that made these conditions (for records that recorded it)."""
    texts = []
    for name in names:
        for _, info in _info(records, dataset, name):
            if info.get("protocol") and info["protocol"] not in texts:
                texts.append(info["protocol"])
    return texts


def realised_shares(records, dataset: str, name: str) -> dict | None:
    """The realised missingness of condition ``name`` on ``dataset``: the mean over seeds of each job's
    ``condition_info`` shares (``complete``, ``none``, ``dropped``, ``dropped_by_modality``, and
    ``seeds``: how many seeds it is the mean of); None when no record has them (stored before they were)."""
    infos = [info for _, info in _info(records, dataset, name) if "complete" in info]
    if not infos:
        return None
    out = {key: float(np.mean([i[key] for i in infos])) for key in ("complete", "none", "dropped")}
    modalities = list(infos[0].get("dropped_by_modality") or {})
    out["dropped_by_modality"] = {m: float(np.mean([i["dropped_by_modality"][m] for i in infos])) for m in modalities}
    out["seeds"] = len(infos)
    return out


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def realised_note(records, dataset: str, points: list[tuple[str, str]]) -> str:
    """One note under a table of missingness conditions: what each (column header, condition) came to."""
    parts = []
    for header, name in points:
        shares = realised_shares(records, dataset, name)
        if shares is None:
            continue
        each = ", ".join(f"{m} {_percent(v)}" for m, v in shares["dropped_by_modality"].items())
        parts.append(f"{header}: {_percent(shares['complete'])} of samples with every modality, "
                     f"{_percent(shares['none'])} with none, {_percent(shares['dropped'])} of modalities dropped "
                     f"({each})")
    if not parts:
        return ""
    return ("Realised missingness (mean over seeds of each seed's drop pattern, the same for every method): "
            + "; ".join(parts) + ".")


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
    parts = [f"## Robustness (test {metric}, mean ± std over seeds)"]
    combos = [n for n in names if _is_combination(n)]
    if combos:
        ordered = [n for n in combos if n != "test@missing-mean"] + [n for n in combos if n == "test@missing-mean"]
        table = [[label] + [_cell(by_condition[n].get(label).values.get(metric, [])) if label in by_condition[n]
                            else "" for n in ordered] for label in labels]
        headers = ["method"] + [n.removeprefix("test@").replace("missing-mean", "mean") for n in ordered]
        parts += ["", "Modalities present at test time (`--protocol missing`):", "",
                  tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)]
    patterns = [n for n in names if PATTERN_CONDITION.match(n)]
    if patterns:  # one condition per spec (per-modality rates, a modality absent from the whole split)
        table = [[label, _cell(clean[label].values.get(metric, []))]
                 + [_cell(by_condition[n][label].values.get(metric, [])) if label in by_condition[n] else ""
                    for n in patterns] for label in labels]
        headers = ["method", "clean"] + [f"`{n.removeprefix('test@')}`" for n in patterns]
        parts += ["", "Missingness patterns (each column a `--protocol` as written):", "",
                  tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)]
        note = realised_note(records, dataset, [(f"`{n.removeprefix('test@')}`", n) for n in patterns])
        parts += ["", note] if note else []
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
        rate_curve = title.startswith("missing rate")
        texts = ", ".join(f"`{t}`" for t in _protocol_texts(records, dataset, [n for _, n in points]))
        level = ("nominal drop rate of each modality of each sample, at least one kept" if rate_curve
                 else "noise scale, in training std")
        parts += ["", f"{title[0].upper()}{title[1:]} ({texts + '; ' if texts else ''}level: {level}):",
                  "", tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)]
        note = realised_note(records, dataset, [(f"{lvl:g}", n) for lvl, n in points]) if rate_curve else ""
        parts += ["", note] if note else []
    note = (f"Relative robustness: area under the {metric}-vs-level curve divided by the largest level. "
            f"Effective robustness: mean gap to the reference method's curve shifted to the same clean score "
            f"(reference: {reference}" + ("" if reference_label else ", absent from this table, so not computed") + ").")
    errors = sorted({(r["method"], c) for r in records if r.get("dataset") == dataset
                     for c in (r.get("condition_errors") or {})})
    parts += ["", note]
    older = sorted({r["method"] for r in records if r.get("dataset") == dataset and r.get("status") == "ok"
                    and int(r.get("protocol_version") or 1) < PROTOCOL_VERSION
                    and any(RATE_CONDITION.match(c) for c in (r.get("metrics") or {}))})
    if older:
        parts.append(f"Missing-rate scores under an older protocol rule (before version {PROTOCOL_VERSION}, which never "
                     f"scores a method on a condition that can remove a modality it requires): {', '.join(older)}; "
                     "`mmerbench evaluate --results DIR --protocol SPEC` scores their conditions again.")
    if errors:
        parts.append("Conditions without scores (see `condition_errors` in `mmerbench results`): "
                     + "; ".join(f"{m} {c.removeprefix('test@')}" for m, c in errors) + ".")
    return "\n".join(parts)
