"""Aggregate job records into tables: rows are method configurations, cells mean ± std.

A row is one method configuration: the method with its preset and its
non-default overrides in the label (``lddu (cpu) [use_queue=false]``). A
table is one dataset name. Cells are the mean and sample standard deviation
(ddof=1) over seeds, with n; for n = 1 no ± is shown.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from mmerbench.evaluation.metrics import EMPTY_LABEL_SET_RULE, LOWER_IS_BETTER
from mmerbench.reporting.escaping import cell as escape_cell, finite_json, markdown_line
from mmerbench.reporting.robustness_tables import (
    RobustnessTable, robustness_tables, table_latex, tables_csv, tables_markdown,
)
from mmerbench.reporting.rows import Row, build_rows, config_label, data_groups  # noqa: F401 (re-exported)

DEFAULT_METRICS = ("acc", "p", "r", "mif1", "maf1", "hamming", "subset_acc")
SINGLE_LABEL_METRICS = ("single_acc", "wf1")
METRIC_TITLES = {
    "acc": "Acc", "p": "P", "r": "R", "mif1": "miF1", "maf1": "maF1", "hamming": "HL",
    "subset_acc": "SubsetAcc", "single_acc": "Acc(1)", "wf1": "wF1",
    "ece": "ECE", "ece_label": "ECE(label)", "brier": "Brier", "nll": "NLL", "unc_auroc": "UncAUROC",
    "aurc": "AURC", "noise_spearman": "NoiseRho",
    "unc_auroc_entropy": "UncAUROC(H)", "aurc_entropy": "AURC(H)", "noise_spearman_entropy": "NoiseRho(H)",
}
UNCERTAINTY_METRICS = ("unc_auroc", "aurc", "noise_spearman")
FORMATS = ("markdown", "csv", "json", "latex")


def reported_family(dataset: str) -> str:
    """The reported CSVs' dataset name a table's rows are listed beside (whether they compare is
    :mod:`mmerbench.reporting.published_corpus`'s question)."""
    # cmu-mosei, cmu-mosei-mmsa, cmu-mosei-sdk-aligned, ... all list the papers' "cmu-mosei" rows.
    return "cmu-mosei" if dataset.startswith("cmu-mosei") else dataset


def reported_rows(dataset: str) -> list[Row]:
    """Rows copied from papers (mmerbench/reported/*.csv) whose dataset and setting match."""
    setting = "unaligned" if "unaligned" in dataset else "aligned"
    family = reported_family(dataset)
    rows = []
    folder = resources.files("mmerbench") / "reported"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".csv"):
            continue
        for line in csv.DictReader(io.StringIO(entry.read_text())):
            if line["dataset"] != family or (line["setting"] and line["setting"] != setting):
                continue
            if line["table"].lower().startswith("table 3"):
                continue  # ablations are not leaderboard rows
            row = Row(label=f"{line['method']} (reported)", method=line["method"], method_version="",
                      preset=None, overrides={}, reported=True, source=f"{line['source']}, {line['table']}",
                      annotations={"paper_table": line["table"], "paper_setting": line["setting"]})
            for metric in ("acc", "p", "r", "mif1"):
                if line.get(metric):
                    row.values[metric] = [float(line[metric])]
            rows.append(row)
    return rows


REPORTED_PR_NOTE = ("P and R above are as the source printed them. The LDDU, TAILOR and CARAT code computes them "
                    "with its arguments swapped, so in rows produced by that code the printed P is the true "
                    "recall and the printed R the true precision; compare them with `leaderboard --legacy-pr`.")


def no_reported_rows(dataset: str) -> str:
    """What --reported says for a dataset that no paper's table in mmerbench/reported/ covers."""
    covered = sorted({line["dataset"] for entry in (resources.files("mmerbench") / "reported").iterdir()
                      if entry.name.endswith(".csv") for line in csv.DictReader(io.StringIO(entry.read_text()))})
    return (f"No reported rows for {dataset}: the papers' tables shipped with mmerbench cover "
            f"{', '.join(covered) or 'no dataset'} (and its aligned/unaligned variants).")


def _legacy_swap(row: Row) -> Row:
    """The P/R pair as the TAILOR/CARAT/LDDU code printed it (arguments swapped)."""
    swapped = Row(**{**row.__dict__, "values": dict(row.values)})
    swapped.values["p"], swapped.values["r"] = row.values.get("r", []), row.values.get("p", [])
    return swapped


def _metrics_for(rows: list[Row], metrics) -> list[str]:
    if metrics:
        return list(metrics)
    chosen = list(DEFAULT_METRICS)
    if any(row.values.get("single_acc") for row in rows):
        chosen += list(SINGLE_LABEL_METRICS)
    return chosen


# Marks a best value from one seed beside rows averaged over more: it is bold, but says so.
# ("¹" for "one seed"; † and ‡ already mark significance and reported gaps)
SINGLE_SEED_MARK = {"markdown": "¹", "latex": "$^1$"}
SINGLE_SEED_NOTE = "¹ best value from a single seed (n = 1) beside rows averaged over more seeds"


def _numbered(rows: list[Row], metric: str) -> list[Row]:
    return [row for row in rows if not row.reported and row.mean(metric) is not None]


def _best(rows: list[Row], metric: str) -> float | None:
    """The best mean of a column, or None when fewer than two rows have a number there (nothing to beat)."""
    means = [row.mean(metric) for row in _numbered(rows, metric)]
    if len(means) < 2:
        return None
    return min(means) if base_metric(metric) in LOWER_IS_BETTER else max(means)


def _single_seed_beside_more(rows: list[Row], metric: str) -> bool:
    counts = {row.n for row in _numbered(rows, metric)}
    return 1 in counts and len(counts) > 1


def _cell(row: Row, metric: str, best: float | None, bold: tuple[str, str, str], digits: int,
          mark: str = "") -> str:
    mean = row.mean(metric)
    if mean is None:
        return ""
    text = f"{mean:.{digits}f}"
    std = row.std(metric)
    if std is not None:
        text += f"{bold[2]}{std:.{digits}f}"
    if metric in row.ci:
        text += " [{:.{d}f}, {:.{d}f}]".format(*row.ci[metric], d=digits)
    if best is not None and not row.reported and abs(mean - best) < 1e-12:
        text = f"{bold[0]}{text}{bold[1]}{mark}"
    return text


def base_metric(metric: str) -> str:
    """``test@vision_mif1`` -> ``mif1`` (a condition's metric); any other name is itself."""
    return metric.partition("_")[2] if metric.startswith("test@") else metric


def metric_title(metric: str) -> str:
    """A column title: ``miF1``, or ``miF1 (vision)`` for a condition's metric such as ``test@vision_mif1``."""
    if metric.startswith("test@"):
        condition, _, base = metric.partition("_")
        return f"{METRIC_TITLES.get(base, base)} ({condition.removeprefix('test@')})"
    return METRIC_TITLES.get(metric, metric)


def render(rows: list[Row], fmt: str = "markdown", metrics=None, digits: int = 3, legacy_pr: bool = False,
           title_suffix: dict[str, str] | None = None, caption: str | None = None, label: str | None = None,
           notes: list[str] = ()) -> str:
    from tabulate import tabulate

    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    metrics = _metrics_for(rows, metrics)
    if legacy_pr:
        rows = [_legacy_swap(row) for row in rows]
    if fmt == "json":
        return json.dumps(finite_json([
            {"label": r.label, "method": r.method, "method_version": r.method_version, "preset": r.preset,
             "overrides": r.overrides, "n": r.n, "seeds": r.seeds, "reported": r.reported, "source": r.source,
             "threshold_policy": r.threshold_policy, "thresholds": r.thresholds, "legacy_pr": legacy_pr,
             "data": r.data, "mark": r.mark, "ci": {m: list(r.ci[m]) for m in metrics if m in r.ci},
             **r.annotations,
             **{m: {"mean": r.mean(m), "std": r.std(m)} for m in metrics}}
            for r in rows]), indent=2, allow_nan=False)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["config", "method", "preset", "overrides", "n", "reported"]
                        + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
        for r in rows:
            overrides = json.dumps(r.overrides, sort_keys=True) if r.overrides else ""
            writer.writerow([escape_cell(text, "csv") for text in (r.label, r.method, r.preset or "", overrides)]
                            + [r.n, r.reported] + [
                "" if v is None else f"{v:.6f}" for m in metrics for v in (r.mean(m), r.std(m))])
        return out.getvalue()
    bold = ("**", "**", " ± ")  # (bold open, bold close, plus-minus) in markdown; latex: reporting/latex.py
    # the best of a column, and whether one seed stands beside more, within the rows on the same data only:
    # rows on different data are never compared (mmerbench.reporting.rows)
    best, mixed = {}, {}
    for group in data_groups(rows):
        for m in metrics:
            group_best, group_mixed = _best(group, m), _single_seed_beside_more(group, m)
            for r in group:
                best[id(r), m], mixed[id(r), m] = group_best, group_mixed
    titles = [metric_title(m) for m in metrics]
    if legacy_pr:
        titles = [f"{t} (legacy)" if m in ("p", "r") else t for m, t in zip(metrics, titles)]
    if title_suffix:  # e.g. reported P and R, which say "as printed"
        titles = [f"{t} {title_suffix[m]}" if m in title_suffix else t for m, t in zip(metrics, titles)]
    if fmt == "latex":
        return _latex_rows(rows, metrics, titles, best, mixed, digits, caption, label, notes)
    mark = SINGLE_SEED_MARK[fmt]
    table = [[f"{escape_cell(r.label, fmt)} {r.mark}".strip(), r.n if not r.reported else "reported"]
             + [_cell(r, m, best[id(r), m], bold, digits, mark if mixed[id(r), m] and r.n == 1 else "")
                for m in metrics]
             for r in rows]
    text = tabulate(table, headers=["method", "n"] + titles, tablefmt="github", disable_numparse=True)
    if any(mark in cell for line in table for cell in line[2:]):
        text += "\n\n" + SINGLE_SEED_NOTE
    return text


def _latex_rows(rows, metrics, titles, best, mixed, digits, caption, label, notes) -> str:
    """The rows as a booktabs table (:mod:`mmerbench.reporting.latex`)."""
    from mmerbench.reporting.latex import Cell, tabular

    def cell(row: Row, metric: str) -> Cell:
        mean = row.mean(metric)
        column_best = best[id(row), metric]  # within the row's data group
        is_best = column_best is not None and not row.reported and mean is not None \
            and abs(mean - column_best) < 1e-12
        return Cell(mean, row.std(metric), row.ci.get(metric), is_best,
                    "¹" if is_best and mixed[id(row), metric] and row.n == 1 else "")

    table = [[f"{r.label} {r.mark}".strip(), str(r.n) if not r.reported else "reported"]
             + [cell(r, m) for m in metrics] for r in rows]
    single = any(isinstance(c, Cell) and c.mark for line in table for c in line[2:])
    return tabular(["method", "n"] + titles, table, digits=digits, caption=caption, label=label,
                   notes=[*notes, *([SINGLE_SEED_NOTE] if single else [])])


def uncertainty_source_note(records: list[dict], dataset: str, metrics) -> list[str]:
    """Where the uncertainty columns come from: a method's own score, or the entropy of its probabilities."""
    shown = [m for m in (metrics or ()) if m.removesuffix("_entropy") in UNCERTAINTY_METRICS]
    if not shown:
        return []
    own = sorted({r["method"] for r in records if r.get("dataset") == dataset and r.get("status") == "ok"
                  and r.get("uncertainty_source") == "own"})
    names = ", ".join(METRIC_TITLES.get(m, m) for m in shown if not m.endswith("_entropy"))
    text = (f"{names}: computed from the method's own uncertainty (`predict_uncertainty`) where it has one "
            f"({', '.join(own) if own else 'no method here'}), else from the Bernoulli entropy of its "
            "probabilities, per label (see the README's uncertainty scores).")
    if any(m.endswith("_entropy") for m in shown):
        text += (" (H) columns: the entropy baseline of the same fitted model, filled only for methods with "
                 "their own score, so the two can be read side by side.")
    return [text]


def provenance(records: list[dict], dataset: str, metrics=None) -> str:
    from mmerbench.reporting.reproduce import dataset_line, presets_line, reproduce_command, threads_line
    from mmerbench.reporting.versions import plugins_line, protocols_line, versions_line

    ok = [r for r in records if r.get("dataset") == dataset and r.get("status") == "ok"]
    if not ok:
        return ""
    file_fingerprints = sorted({r.get("dataset_file_fingerprint") or r["dataset_fingerprint"] for r in ok})
    fingerprints = sorted({r["dataset_fingerprint"] for r in ok})
    dataset_versions = sorted({str(r.get("dataset_version") or "1") for r in ok})
    resampled = any(r.get("valid_seed") is not None for r in ok)
    seeds = sorted({r["seed"] for r in ok})
    policies = sorted({r.get("threshold_policy", "") for r in ok})
    revisions = sorted({_revision_text(r) for r in ok})
    versions = ok[-1].get("versions", {})
    devices = sorted({str(r.get("device")) for r in ok})
    lines = [
        "Protocol: each configuration is fitted on train; the best epoch and early stopping use validation "
        "miF1; the decision threshold follows the policy below (chosen on validation, never on test); "
        "scores are on the test split. Acc is the Jaccard index per sample (empty union = 0); P, R, miF1 "
        "micro-averaged; maF1 macro-averaged; HL Hamming loss. Cells: mean ± sample std (ddof=1) over seeds. "
        + EMPTY_LABEL_SET_RULE,
        f"Threshold policy: {', '.join(policies)}",
        f"Seeds: {', '.join(map(str, seeds))}. {seed_meaning(resampled)}",
        f"Dataset: {dataset} version {', '.join(dataset_versions)}, file fingerprint {', '.join(file_fingerprints)} "
        f"(what `mmerbench data verify` prints), splits fingerprint {', '.join(fingerprints)} (the "
        "train/valid/test split the jobs used)",
        versions_line(ok),
        *([line] if (line := protocols_line(ok)) else []),
        plugins_line(ok),
        *([line] if (line := dataset_line(dataset)) else []),
        presets_line(ok),
        f"Devices: {', '.join(devices)}",
        *([line] if (line := threads_line(ok)) else []),
        "Packages: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"Git revision: {', '.join(revisions)}",
        f"Generated: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        "Reproduce a row: `mmerbench results --format json` gives each job's command line, e.g. "
        f"`{ok[0].get('command', '')}`",
    ]
    from mmerbench.reporting.tuning_notes import is_tuned, tuning_lines

    lines += tuning_lines(records, dataset)
    command = reproduce_command([r for r in ok if not is_tuned(r)])  # tuned rows: the tune command above
    if command:
        table = f"mmerbench leaderboard --dataset {dataset} --publish"
        if metrics:
            table += f" --metrics {','.join(metrics)}"
        lines.append(f"Reproduce the table: `{command}`, then `{table}` (add `--results DIR` to both to keep "
                     f"the run apart); compare seed by seed with `{dataset}-seeds.csv`, written beside this page")
    else:
        lines.append("Reproduce the table: its jobs were run with more than one set of options; re-run each "
                     "row's command above")
    return "\n".join(f"- {markdown_line(line)}" for line in lines)  # record text stays on its line, never HTML


def seed_meaning(resampled: bool) -> str:
    """What a seed varies, in words (README and leaderboard footer say the same)."""
    if resampled:
        return ("A seed sets each method's random_state (initialisation, batch order, dropout, ...) and re-draws "
                "the validation split carved from train (--resample-valid); the test split is fixed.")
    return ("A seed sets only each method's random_state (initialisation, batch order, dropout, ...); the data "
            "and the validation split are the same for every seed, so a deterministic method shows ± 0.000.")


def significance_footer(rows: list[Row], records: list[dict], results_dir=None, ci: bool = False,
                        metrics=None, test: str | None = None) -> list[str]:
    """Mark rows not significantly worse than the best (mmerbench.reporting.marks); the lines explaining it."""
    if results_dir is None:
        return []
    from mmerbench.reporting.marks import annotate_rows

    from mmerbench.evaluation.significance import DEFAULT_TEST

    return annotate_rows(rows, records, results_dir, ci=ci, metrics=_metrics_for(rows, metrics),
                         test=test or DEFAULT_TEST)


@dataclass
class Leaderboard:
    """One dataset's table, built once (:func:`build_leaderboard`) and rendered per format.

    ``rows`` are ours (marks and intervals annotated when the run's predictions are at hand); ``footer``
    explains the marks and the uncertainty columns; ``reported`` are the papers' rows, with the notes that
    compare them to ours; ``robustness_tables`` are the robustness tables (none without conditions), with
    per-column marks and intervals when the run's predictions are at hand.
    """

    dataset: str
    records: list[dict]
    rows: list[Row]
    metrics: list[str] | None = None
    legacy_pr: bool = False
    footer: list[str] = field(default_factory=list)
    with_reported: bool = False
    reported: list[Row] = field(default_factory=list)
    reported_notes: list[str] = field(default_factory=list)
    robustness_tables: list[RobustnessTable] = field(default_factory=list)
    robustness_metric: str = "mif1"
    gap_refusal: str | None = None  # why no reported-vs-reproduced gap is shown (None: the gaps are shown)


def build_leaderboard(records: list[dict], dataset: str, *, with_reported: bool = False, legacy_pr: bool = False,
                      metrics=None, results_dir=None, ci: bool = False, robustness_options=None,
                      significance_test: str | None = None, current_only: bool = False) -> Leaderboard:
    """The one place a table is assembled: rows, marks, notes, reported rows and robustness.

    ``significance_test`` names the test of the † marks (mmerbench.evaluation.significance.TESTS; default the
    two-level seeds-and-samples bootstrap). ``current_only`` (published pages): only jobs of the installed
    method versions, the others named in the footer (mmerbench.reporting.current_versions)."""
    left_out = []
    if current_only:
        from mmerbench.reporting.current_versions import current_records

        records, left_out = current_records(records, dataset)
    rows = build_rows(records, dataset)
    footer = significance_footer(rows, records, results_dir, ci, metrics, significance_test) + left_out
    footer += uncertainty_source_note(records, dataset, metrics)
    reported = reported_rows(dataset) if with_reported else []
    notes, refusal = [], None
    if reported:
        from mmerbench.reporting.published_corpus import gap_refusal, load_summary
        from mmerbench.reporting.reported_gap import annotate_reported

        summary, load_error = load_summary(records, dataset)
        refusal = gap_refusal(reported_family(dataset), dataset, summary, load_error)
        notes = annotate_reported([] if refusal else rows, reported, legacy_pr)
        if refusal:  # the note on what the gap means would describe a table that is not there
            notes = [note for note in notes if not note.startswith("Gap = ")]
            for row in reported:
                row.annotations["gap_refusal"] = refusal
    return Leaderboard(dataset=dataset, records=records, rows=rows, metrics=list(metrics) if metrics else None,
                       legacy_pr=legacy_pr, footer=footer, with_reported=with_reported, reported=reported,
                       reported_notes=notes, gap_refusal=refusal,
                       robustness_tables=robustness_tables(records, dataset, results_dir=results_dir, ci=ci,
                                                           **(robustness_options or {})),
                       robustness_metric=(robustness_options or {}).get("metric", "mif1"))


def reported_markdown(board: Leaderboard, level: str = "##") -> list[str]:
    """The papers' rows beside ours, with the gap table, the P/R note and the sources (markdown lines)."""
    if not board.reported:
        return [f"{level} Reported in papers", "", no_reported_rows(board.dataset)]
    from mmerbench.reporting.reported_gap import gap_table, gaps, reported_table

    return [f"{level} Reported in papers (not reproduced here)", "",
            reported_table(board.reported),
            "", REPORTED_PR_NOTE,
            *(["", board.gap_refusal] if board.gap_refusal else
              ["", f"{level}# Gap: ours − reported", "", gap_table(gaps(board.rows, board.reported, board.legacy_pr))]),
            *[part for note in board.reported_notes for part in ("", note)],
            "", "Sources: " + "; ".join(sorted({r.source for r in board.reported})) +
            ". Caveats: the LDDU, TAILOR and CARAT code swapped P and R when printing; LDDU's released "
            "code selects its epoch on the test set; features differ between papers."]


TABLES = ("all", "main", "robustness")


def render_board(board: Leaderboard, fmt: str = "markdown", caption: str | None = None,
                 label: str | None = None, tables: str = "all") -> str:
    """A table in one format: markdown (the whole page, as published), csv or json (rows), latex (booktabs
    tables: the rows, then each robustness table; the footer as comments, or below the table in a ``table``
    float when a caption or label is given)."""
    if fmt == "markdown":
        return board_markdown(board)
    notes = board.footer + board.reported_notes
    if tables == "robustness":
        if fmt == "csv":
            return tables_csv(board.robustness_tables)
        if fmt == "latex":
            return "\n\n".join(table_latex(table, caption, label) for table in board.robustness_tables)
        raise ValueError("--table robustness is shown as markdown, csv or latex (json has the records: "
                         "`mmerbench results --format json`)")
    if fmt == "latex":
        parts = [render(board.rows + board.reported, "latex", board.metrics, legacy_pr=board.legacy_pr,
                        caption=caption, label=label, notes=notes)]
        if tables == "all":
            parts += [table_latex(table, caption, label) for table in board.robustness_tables]
        return "\n\n".join(parts)
    return render(board.rows + board.reported, fmt, board.metrics, legacy_pr=board.legacy_pr)


def rows_markdown(board: Leaderboard) -> list[str]:
    """Our rows as markdown: one table, or one table per version of the data when the jobs ran on several."""
    groups = data_groups(board.rows)
    if len(groups) < 2:
        return [render(board.rows, "markdown", board.metrics, legacy_pr=board.legacy_pr)]
    parts = [f"These jobs ran on {len(groups)} different versions of {board.dataset}'s data: one table each, "
             "never compared, averaged or marked across them."]
    for group in groups:
        parts += ["", f"## Data: {markdown_line(group[0].data)}", "",
                  render(group, "markdown", board.metrics, legacy_pr=board.legacy_pr)]
    return parts


def board_markdown(board: Leaderboard) -> str:
    parts = [f"# {markdown_line(board.dataset)}", "", *rows_markdown(board)]
    for line in board.footer:
        parts += ["", markdown_line(line)]
    if board.with_reported:
        parts += ["", *reported_markdown(board)]
    if board.robustness_tables:
        parts += ["", tables_markdown(board.robustness_tables, board.robustness_metric)]
    parts += ["", "## Provenance", "", provenance(board.records, board.dataset, board.metrics)]
    return "\n".join(parts) + "\n"


def leaderboard_markdown(records: list[dict], dataset: str, **options) -> str:
    """The published page of one dataset (see :func:`build_leaderboard` for the options)."""
    return board_markdown(build_leaderboard(records, dataset, **options))


def publish(records: list[dict], dataset: str, directory: str | Path = "leaderboards", **options) -> Path:
    """Write ``<dataset>.md`` and, beside it, ``<dataset>-seeds.csv`` (the per-seed numbers of its cells)."""
    from mmerbench.names import check_name, contained
    from mmerbench.reporting.seed_table import write_seed_table

    check_name("dataset", dataset, "leaderboard --publish")  # the dataset name comes from the store
    Path(directory).mkdir(parents=True, exist_ok=True)
    path = contained(directory, f"{dataset}.md")
    board = build_leaderboard(records, dataset, current_only=True, **options)
    seeds_text = io.StringIO()
    write_seed_table(board.records, dataset, _metrics_for(board.rows, board.metrics), seeds_text, board.robustness_metric)
    write_text_atomically(path, board_markdown(board))
    write_text_atomically(contained(directory, f"{dataset}-seeds.csv"), seeds_text.getvalue())
    return path


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file; on a full disk nothing is left behind and the error says where."""
    from mmerbench.errors import MMERBenchError

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MMERBenchError(f"cannot write {path}: {exc.strerror or exc}; nothing was written there "
                             "(free space or choose another --output-dir)") from None


def _revision_text(record: dict) -> str:
    """The record's git revision; a "-dirty" one names the tracked files that differed from it (when the
    record kept them: records from before they were kept say only "-dirty")."""
    revision = str(record.get("git_revision") or "not recorded (installed copy not built from git)")
    changed = record.get("git_changed_files")
    if revision.endswith("-dirty") and isinstance(changed, list) and changed:
        revision += " (changed: " + ", ".join(str(path) for path in changed) + ")"
    return revision
