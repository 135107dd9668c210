"""Robustness tables for the leaderboard: one per protocol, rows = method configurations.

Cells are mean ± sample std over seeds of one metric (miF1 by default) on
each condition ``test@...`` of the job records; curves over a level get the
summaries of :mod:`mmerbench.evaluation.robustness`. The tables are built once
(:func:`robustness_tables`) and rendered as markdown, LaTeX or CSV. Each table
names the ``--protocol`` texts it shows as the user wrote them, and under every
table of missingness conditions a note gives what the missingness came to (the
realised shares of complete samples, of samples with no modality and of
modalities dropped, recorded per job in ``condition_info``: :func:`realised_shares`).

With the run's stored predictions at hand (``results_dir``), each condition
column gets the main table's treatment: the row with the best score and those
not significantly worse than it are marked †, and with ``ci`` each cell shows a
95% interval. Both come from :func:`mmerbench.evaluation.significance.compare_to_best`,
the paired bootstrap over test samples with seeds pooled, on the condition's
stored {0, 1} predictions (``test@<condition>_pred`` in the job's predictions
file; jobs run before those were stored have none, and their column says so).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmerbench.data.protocol_specs import PROTOCOL_VERSION
from mmerbench.evaluation.metrics import LOWER_IS_BETTER
from mmerbench.evaluation.robustness import (NOISE_CONDITION, PATTERN_CONDITION, RATE_CONDITION, effective_robustness,
                                             relative_robustness)
from mmerbench.reporting.escaping import markdown_cell, markdown_line
from mmerbench.reporting.latex import Cell, tabular
from mmerbench.reporting.rows import Row, build_rows

MARK = "†"
MISSING_MEAN = "test@missing-mean"
PREDICTIONS_DIR = "predictions"  # as in mmerbench.store.results


@dataclass
class RobustnessTable:
    """One protocol's table: a title, the number columns' conditions, and rows of label + cells + summaries."""

    key: str  # "missing", "missing rate", "noise on audio", ...
    title: str
    columns: list[str]  # the column titles after "method"
    conditions: list[str | None]  # the condition of each column (None: a summary such as "relative")
    rows: list[list] = field(default_factory=list)  # [label, Cell | str, ...]
    notes: list[str] = field(default_factory=list)


def condition_names(records, dataset) -> list[str]:
    """The conditions of the table's jobs, in the order the protocols list them (as every job stores them)."""
    names = []
    for record in records:
        if record.get("dataset") == dataset and record.get("status") == "ok":
            names += [k for k in (record.get("metrics") or {}) if k.startswith("test@") and k not in names]
    return names


def modality_combinations(names) -> list[str]:
    """The ``--protocol missing`` conditions in table order (fewer modalities first, the mean last)."""
    combos = [n for n in names if not RATE_CONDITION.match(n) and not NOISE_CONDITION.match(n)
              and not PATTERN_CONDITION.match(n)]
    return [n for n in combos if n != MISSING_MEAN] + [n for n in combos if n == MISSING_MEAN]


def _evaluated_keys(records, dataset: str) -> set:
    """Keys of the dataset's jobs that some protocol condition was applied to (scored or refused)."""
    return {r.get("key") for r in records if r.get("dataset") == dataset
            and (r.get("condition_errors") or any(name.startswith("test@") for name in r.get("metrics") or {}))}


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


# --------------------------------------------------------------------------- realised missingness


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


# --------------------------------------------------------------------------- significance per column


def _condition_predictions(results_dir, record: dict, condition: str):
    """(labels, {0, 1} predictions) of one job on one condition, or None when they were not stored."""
    path = Path(results_dir) / PREDICTIONS_DIR / f"{record['key']}.npz"
    if not path.exists():
        return None
    name = "test_pred" if condition == "test" else f"{condition}_pred"
    with np.load(path, allow_pickle=False) as data:
        if "test_labels" not in data.files:
            return None
        labels = data["test_labels"]
        if name in data.files:
            return labels.astype(bool), data[name].astype(bool)
        if condition == "test" and "test_proba" in data.files:  # the clean column: the job's own threshold
            from mmerbench.reporting.marks import job_predictions

            return job_predictions(results_dir, record)
    return None


def column_significance(rows: list[Row], records: list[dict], results_dir, condition: str, metric: str,
                        ci: bool) -> tuple[dict[str, bool], dict[str, tuple[float, float]], str | None]:
    """(label -> not significantly worse than the column's best, label -> interval, why none) for one column."""
    from mmerbench.evaluation.significance import BOOTSTRAP_METRICS, RowSamples, compare_to_best

    if metric not in BOOTSTRAP_METRICS:
        return {}, {}, f"{metric} cannot be bootstrapped"
    by_key = {record["key"]: record for record in records}
    samples = []
    for row in rows:
        predictions, labels, seeds = [], None, []
        for key in row.keys:
            found = _condition_predictions(results_dir, by_key[key], condition)
            if found is None:
                break
            labels = found[0]
            predictions.append(found[1])
            seeds.append(by_key[key]["seed"])
        else:
            if predictions:
                samples.append(RowSamples(row.label, labels, predictions, seeds))
    if len(samples) < 2:
        return {}, {}, "predictions under the condition were not stored (jobs run before they were)"
    shape = samples[0].y_true.shape
    samples = [s for s in samples if s.y_true.shape == shape and np.array_equal(s.y_true, samples[0].y_true)]
    comparison = compare_to_best(samples, metric, interval_metrics=[metric] if ci else [])
    intervals = {label: values[metric] for label, values in comparison.intervals.items() if metric in values}
    return comparison.not_worse, intervals, None


# --------------------------------------------------------------------------- building the tables


def _cell(row: Row | None, metric: str, marks: dict, intervals: dict) -> Cell:
    if row is None:
        return Cell(None)
    values = row.values.get(metric, [])
    if not values:
        return Cell(None)
    return Cell(float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else None,
                intervals.get(row.label), mark=MARK if marks.get(row.label) else "")


def _bold_best(table: RobustnessTable, metric: str) -> None:
    """Bold the best mean of each condition column (of at least two numbers)."""
    for column, condition in enumerate(table.conditions, start=1):
        if condition is None:
            continue
        cells = [row[column] for row in table.rows if isinstance(row[column], Cell) and row[column].mean is not None]
        if len(cells) < 2:
            continue
        pick = min if metric in LOWER_IS_BETTER else max
        best = pick(cell.mean for cell in cells)
        for cell in cells:
            cell.best = abs(cell.mean - best) < 1e-12


def robustness_tables(records, dataset: str, metric: str = "mif1", reference: str = "br", *,
                      results_dir=None, ci: bool = False) -> list[RobustnessTable]:
    """The robustness tables of a dataset ([] when no job has conditions)."""
    names = condition_names(records, dataset)
    if not names:
        return []
    clean_rows = build_rows(records, dataset, "test")
    clean = {row.label: row for row in clean_rows}
    by_condition = {name: {row.label: row for row in build_rows(records, dataset, name)} for name in names}
    evaluated = _evaluated_keys(records, dataset)
    # A row none of whose jobs was run with a --protocol (e.g. tuned rows, run without one) would be a row of
    # blanks beside rows whose conditions were refused; it is named in a note instead.
    labels = sorted(label for label, row in clean.items() if evaluated.intersection(row.keys))
    not_evaluated = sorted(set(clean) - set(labels))
    unmarked: dict[str, str] = {}

    def significance(condition: str):
        if results_dir is None or condition == MISSING_MEAN:  # the mean of seven columns has no predictions
            return {}, {}
        rows = list(by_condition[condition].values()) if condition != "test" else clean_rows
        marks, intervals, why = column_significance(rows, records, results_dir, condition, metric, ci)
        if why:
            unmarked[condition] = why
        return marks, intervals

    tables = []
    combos = modality_combinations(names)
    if combos:
        table = RobustnessTable("missing", "Modalities present at test time (`--protocol missing`)",
                                [n.removeprefix("test@").replace("missing-mean", "mean") for n in combos], combos)
        columns = {n: significance(n) for n in combos}
        for label in labels:
            table.rows.append([label] + [_cell(by_condition[n].get(label), metric, *columns[n]) for n in combos])
        tables.append(table)
    patterns = [n for n in names if PATTERN_CONDITION.match(n)]
    if patterns:  # one condition per spec (per-modality rates, a modality absent from the whole split)
        headers = [f"`{n.removeprefix('test@')}`" for n in patterns]
        table = RobustnessTable("patterns", "Missingness patterns (each column a `--protocol` as written)",
                                ["clean"] + headers, ["test"] + patterns)
        columns = {n: significance(n) for n in ["test"] + patterns}
        for label in labels:
            table.rows.append([label, _cell(clean[label], metric, *columns["test"])]
                              + [_cell(by_condition[n].get(label), metric, *columns[n]) for n in patterns])
        note = realised_note(records, dataset, list(zip(headers, patterns)))
        table.notes = [note] if note else []
        tables.append(table)
    reference_label = next((label for label in labels if clean[label].method == reference), None)
    for title, points in _curves(names).items():
        conditions = ["test"] + [n for _, n in points]
        levels = [0.0] + [level for level, _ in points]
        rate_curve = title.startswith("missing rate")
        kind = ("nominal drop rate of each modality of each sample, at least one kept" if rate_curve
                else "noise scale, in training std")
        texts = ", ".join(f"`{text}`" for text in _protocol_texts(records, dataset, [n for _, n in points]))
        table = RobustnessTable(title, f"{title[0].upper()}{title[1:]} ({texts + '; ' if texts else ''}level: {kind})",
                                ["clean"] + [f"{level:g}" for level, _ in points] + ["relative", "effective"],
                                conditions + [None, None])
        columns = {n: significance(n) for n in conditions}
        curves = {label: [clean[label].mean(metric)] + [by_condition[n][label].mean(metric)
                                                        if label in by_condition[n] else None for _, n in points]
                  for label in labels}
        reference_curve = curves.get(reference_label)
        for label in labels:
            means = curves[label]
            complete = all(v is not None for v in means)
            usable = complete and reference_curve is not None and all(v is not None for v in reference_curve)
            cells = [_cell(clean[label], metric, *columns["test"])]
            cells += [_cell(by_condition[n].get(label), metric, *columns[n]) for _, n in points]
            table.rows.append([label, *cells, f"{relative_robustness(levels, means):.3f}" if complete else "",
                               f"{effective_robustness(means, reference_curve):+.3f}" if usable else ""])
        note = realised_note(records, dataset, [(f"{lvl:g}", n) for lvl, n in points]) if rate_curve else ""
        table.notes = [note] if note else []
        tables.append(table)
    for table in tables:
        _bold_best(table, metric)
    notes = [f"Relative robustness: area under the {metric}-vs-level curve divided by the largest level. "
             f"Effective robustness: mean gap to the reference method's curve shifted to the same clean score "
             f"(reference: {reference}" + ("" if reference_label else ", absent from this table, so not computed")
             + ")."]
    if results_dir is not None:
        notes.append(f"{MARK} per column: the best {metric} under that condition, or not significantly worse than it "
                     "at α = 0.05 (paired bootstrap over the test samples, seeds pooled, Holm-corrected, as in the "
                     "main table)" + ("; [low, high]: its 95% bootstrap interval" if ci else "") + ".")
        if unmarked:
            notes.append("No marks in " + ", ".join(c.removeprefix("test@") for c in unmarked) + ": "
                         + "; ".join(sorted(set(unmarked.values()))) + ".")
    older = sorted({r["method"] for r in records if r.get("dataset") == dataset and r.get("status") == "ok"
                    and int(r.get("protocol_version") or 1) < PROTOCOL_VERSION
                    and any(RATE_CONDITION.match(c) for c in (r.get("metrics") or {}))})
    if older:
        notes.append(f"Missing-rate scores under an older protocol rule (before version {PROTOCOL_VERSION}, which "
                     "never scores a method on a condition that can remove a modality it requires): "
                     f"{', '.join(older)}; `mmerbench evaluate --results DIR --protocol SPEC` scores their "
                     "conditions again.")
    if not_evaluated:
        notes.append("Rows run without a robustness protocol (not in these tables): "
                     + markdown_line(", ".join(not_evaluated)) + ".")
    errors = sorted({(r["method"], c) for r in records if r.get("dataset") == dataset
                     for c in (r.get("condition_errors") or {})})
    if errors:
        notes.append("Conditions without scores (see `condition_errors` in `mmerbench results`): "
                     + markdown_line("; ".join(f"{m} {c.removeprefix('test@')}" for m, c in errors)) + ".")
    if tables:
        tables[-1].notes = tables[-1].notes + notes
    return tables


# --------------------------------------------------------------------------- rendering


def _markdown_cell(cell, digits: int = 3) -> str:
    if not isinstance(cell, Cell):
        return cell
    if cell.mean is None:
        return ""
    text = f"{cell.mean:.{digits}f}" + (f" ± {cell.std:.{digits}f}" if cell.std is not None else "")
    if cell.ci is not None:
        text += " [{:.{d}f}, {:.{d}f}]".format(*cell.ci, d=digits)
    return text + cell.mark  # markdown keeps plain numbers (the site parses them); bold is LaTeX's


def tables_markdown(tables: list[RobustnessTable], metric: str = "mif1") -> str:
    """The robustness section of a leaderboard page ("" without tables)."""
    from tabulate import tabulate

    if not tables:
        return ""
    parts = [f"## Robustness (test {metric}, mean ± std over seeds)"]
    for table in tables:
        rows = [[markdown_cell(row[0])] + [_markdown_cell(cell) for cell in row[1:]] for row in table.rows]
        parts += ["", f"{table.title}:", "",
                  tabulate(rows, headers=["method"] + table.columns, tablefmt="github", disable_numparse=True)]
    notes = [note for table in tables for note in table.notes]
    parts += ["", *notes[:1]] + notes[1:]
    return "\n".join(parts)


def table_latex(table: RobustnessTable, caption: str | None = None, label: str | None = None) -> str:
    """One robustness table as booktabs LaTeX (a float when the main table has a caption or label)."""
    return tabular(["method"] + table.columns, table.rows,
                   caption=None if caption is None and label is None else f"{caption or 'Robustness'}: {table.title}",
                   label=f"{label}-{table.key.replace(' ', '-')}" if label else None, notes=table.notes)


def tables_csv(tables: list[RobustnessTable]) -> str:
    """The robustness tables in long form, one CSV: one line per table, method and column."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["table", "method", "column", "condition", "mean", "std", "ci_low", "ci_high", "best",
                     "not_significantly_worse", "value"])
    for table in tables:
        _write_csv_rows(writer, table)
    return out.getvalue()


def _write_csv_rows(writer, table: RobustnessTable) -> None:
    for row in table.rows:
        for column, condition, cell in zip(table.columns, table.conditions, row[1:]):
            if isinstance(cell, Cell):
                if cell.mean is None:
                    continue
                low, high = cell.ci if cell.ci else ("", "")
                writer.writerow([table.key, row[0], column, condition, f"{cell.mean:.6f}",
                                 "" if cell.std is None else f"{cell.std:.6f}", low, high, cell.best,
                                 bool(cell.mark), ""])
            elif cell:
                writer.writerow([table.key, row[0], column, "", "", "", "", "", "", "", cell])


def robustness_markdown(records, dataset: str, metric: str = "mif1", reference: str = "br", *,
                        results_dir=None, ci: bool = False) -> str:
    """The robustness section of a dataset's leaderboard ("" when no job has conditions)."""
    return tables_markdown(robustness_tables(records, dataset, metric, reference, results_dir=results_dir, ci=ci),
                           metric)
