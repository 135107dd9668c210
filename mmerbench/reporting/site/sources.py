"""Everything the site takes from the rest of mmerbench, in one place.

The site shows the published leaderboards' own numbers and words: rows, cells,
significance marks, robustness tables and the provenance footer come from the
leaderboard code, figures from ``mmerbench.reporting.plots``. Nothing here
computes a leaderboard number itself; when a core module moves, only the
imports of this file change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_records(results_dir: Path) -> list[dict]:
    """Every readable job record of a results store (read-only; a malformed row is skipped with a warning)."""
    from mmerbench.store.results import ResultStore

    with ResultStore(results_dir, create=False, read_only=True) as store:
        return store.records()


def job_predictions(results_dir: Path, key: str) -> dict[str, np.ndarray]:
    """The arrays a job stored in ``predictions/<key>.npz`` (test_proba, test_labels, ...)."""
    from mmerbench.reporting.figure_data import load_predictions

    return load_predictions(results_dir, key)


def thresholded(proba: np.ndarray, threshold, single_label: bool) -> np.ndarray:
    """{0, 1} predictions exactly as the job scored them (its own threshold; argmax on single-label data)."""
    from mmerbench.evaluation.metrics import threshold_predictions

    return threshold_predictions(proba, 0.5 if threshold is None else threshold, single_label)


# ------------------------------------------------------------------ leaderboard rows and their text


def current_records(records: list[dict]) -> list[dict]:
    """The jobs of the installed method versions (a published site shows only what they re-create)."""
    from mmerbench.reporting.current_versions import current_records as current

    return current(records)[0]


def leaderboard_rows(records: list[dict], dataset: str, results_dir: Path) -> tuple[list, list[str]]:
    """The dataset's rows with significance marks set, and the footer lines explaining the marks (the same
    builder as `mmerbench leaderboard` and the published markdown)."""
    from mmerbench.reporting.leaderboard import build_leaderboard

    # no metrics given: no uncertainty note; a published site shows only what the installed methods re-create
    board = build_leaderboard(records, dataset, results_dir=results_dir, current_only=True)
    return board.rows, board.footer


def rows_for_split(records: list[dict], dataset: str, split: str) -> list:
    """Rows built from another split's metrics (a robustness condition such as ``test@text``)."""
    from mmerbench.reporting.leaderboard import build_rows

    return build_rows(records, dataset, split)


def markdown_table(rows: list, metrics: list[str]) -> str:
    """The rows as the published markdown renders them (same cells, bold best values, marks)."""
    from mmerbench.reporting.leaderboard import render

    return render(rows, "markdown", metrics)


def uncertainty_note(records: list[dict], dataset: str, metrics: list[str]) -> list[str]:
    from mmerbench.reporting.leaderboard import uncertainty_source_note

    return uncertainty_source_note(records, dataset, metrics)


def robustness_markdown(records: list[dict], dataset: str, metric: str, reference: str) -> str:
    """The robustness section of the published leaderboard, as markdown ("" without conditions)."""
    from mmerbench.reporting.robustness_tables import robustness_markdown as markdown

    return markdown(records, dataset, metric=metric, reference=reference)


def provenance_footer(records: list[dict], dataset: str) -> str:
    """The published leaderboard's provenance footer (markdown bullet list)."""
    from mmerbench.reporting.leaderboard import provenance

    return provenance(records, dataset)


def reproduce_command(records: list[dict]) -> str | None:
    """One `mmerbench run` command re-creating these jobs, or None when they came from several option sets."""
    from mmerbench.reporting.reproduce import reproduce_command as command

    return command(records)


def metric_titles() -> dict[str, str]:
    from mmerbench.reporting.leaderboard import METRIC_TITLES

    return dict(METRIC_TITLES)


def metric_groups() -> dict[str, tuple[str, ...]]:
    """The leaderboard's metric families: the default (accuracy) columns, the single-label ones it adds when
    a row has them, and the calibration and uncertainty scores every job stores."""
    from mmerbench.reporting.leaderboard import DEFAULT_METRICS, SINGLE_LABEL_METRICS, UNCERTAINTY_METRICS

    calibration = ("ece", "ece_label", "brier", "nll")
    uncertainty = tuple(m for name in UNCERTAINTY_METRICS for m in (name, f"{name}_entropy"))
    return {"accuracy": DEFAULT_METRICS, "single_label": SINGLE_LABEL_METRICS, "calibration": calibration + uncertainty}


def lower_is_better() -> frozenset[str]:
    from mmerbench.evaluation.metrics import LOWER_IS_BETTER

    return frozenset(LOWER_IS_BETTER)


def slug(text: str) -> str:
    """A file-name-safe form of a row label or dataset name (as `mmerbench report` names its figures)."""
    from mmerbench.reporting.report import slug as report_slug

    return report_slug(text)


# ------------------------------------------------------------------ figures


def robustness_figures(records_by_row: dict[str, list[dict]], dataset: str, folder: Path,
                       metric: str = "mif1") -> list[tuple[str, Path]]:
    """(title, png) of the modality-combination bars, the missing-rate curve and the noise curves."""
    from mmerbench.reporting import figure_data, plots

    conditions = figure_data.condition_scores(records_by_row, metric)
    drawn = []
    combos = figure_data.combination_table(conditions)
    if combos:
        title = f"{dataset}: {metric} per available modality combination"
        drawn.append((title, plots.grouped_bars(combos, title, "modalities present", metric,
                                                folder / "modality-combinations.png")))
    rates = figure_data.rate_curves(conditions)
    if rates:
        title = f"{dataset}: {metric} against the missing rate"
        drawn.append((title, plots.score_curves(rates, title, "share of modalities dropped per sample", metric,
                                                folder / "missing-rate.png")))
    for target, curves in figure_data.noise_curves(conditions).items():
        title = f"{dataset}: {metric} against Gaussian noise on {target}"
        drawn.append((title, plots.score_curves(curves, title, "noise scale (x the feature's training std)", metric,
                                                folder / f"noise-{slug(target)}.png")))
    return drawn


def training_curve_figure(label: str, records: list[dict], path: Path) -> Path | None:
    """The row's per-epoch training loss and validation miF1 (one line per seed), or None without curves."""
    from mmerbench.reporting import figure_data, plots

    curves = figure_data.training_curves({label: records})
    if not curves:
        return None
    return plots.training_curves(curves, f"{label}: training curves", path)


def per_label_scores(records: list[dict]) -> dict[str, dict[str, list[float]]]:
    """{label: {p|r|f1|support: [value per seed]}} from the records' stored test per-label scores."""
    out: dict[str, dict[str, list[float]]] = {}
    for record in records:
        for label, scores in ((record.get("per_label") or {}).get("test") or {}).items():
            for name, value in (scores or {}).items():
                if isinstance(value, (int, float)):
                    out.setdefault(label, {}).setdefault(name, []).append(float(value))
    return out


def rank_analysis(records: list[dict], datasets: list[str]):
    """Friedman / Nemenyi over datasets on each row's mean miF1 (``mmerbench report``'s analysis)."""
    from mmerbench.evaluation.ranking import rank_analysis as analyse
    from mmerbench.reporting.leaderboard import build_rows

    scores = {d: {row.label: row.mean("mif1") for row in build_rows(records, d) if row.mean("mif1") is not None}
              for d in datasets}
    return analyse(scores)


def critical_difference_figure(analysis, path: Path) -> Path:
    from mmerbench.reporting import plots

    return plots.critical_difference(analysis.mean_ranks, analysis.nemenyi_p, analysis.critical_difference,
                                     "Nemenyi critical difference (miF1 ranks over datasets)", path)


def reliability_figure(label: str, records: list[dict], path: Path) -> Path | None:
    """The row's reliability diagram on the test split (seeds pooled), or None without reliability data."""
    from mmerbench.reporting import figure_data, plots

    diagram = figure_data.pooled_reliability([(r.get("reliability") or {}).get("test") for r in records])
    if diagram is None:
        return None
    return plots.reliability_diagram(diagram, f"{label}: reliability (test split, seeds pooled)", path)
