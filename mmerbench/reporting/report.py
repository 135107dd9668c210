"""``mmerbench report``: report.md with the leaderboard tables (significance marks) and PNG figures.

Everything comes from the results store: job records, ``predictions/<key>.npz``
and, for LDDU's latent t-SNE, the saved model (``mmerbench.saved_models``).
A figure whose data are absent (no reliability data, no robustness protocol,
no saved model, ...) is skipped with a line in report.md saying why.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from mmerbench.errors import MMERBenchError, UnknownNameError, UsageError
from mmerbench.evaluation.significance import format_p
from mmerbench.reporting import figure_data, plots
from mmerbench.reporting.escaping import markdown_cell, markdown_line

FIGURES_DIR = "figures"
TSNE_SAMPLES = 200  # test samples embedded by t-SNE: enough for clusters, seconds of CPU
TSNE_MAX_POINTS = 1500
TSNE_ITERATIONS = 500  # the layout of a few hundred points settles well before scikit-learn's default 1000


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "row"


@dataclass
class Report:
    path: Path
    figures: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class LineProgress:
    """Progress on stderr: a rich bar on a terminal, else one line per step."""

    def __init__(self, total: int, stream=None):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self._bar = None
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(file=self.stream), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("report", total=total)

    def __call__(self, message: str) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=message)
        else:
            print(f"[{self.done}/{self.total}] {message}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# ------------------------------------------------------------------ hooks the tests replace


def load_job_model(results_dir, key: str):
    """The fitted method saved with a job (issue 10's ``mmerbench.saved_models``)."""
    from mmerbench.execution.job_models import load_job_model as load

    return load(results_dir, key)


def _offers_latent_distributions(method_name: str) -> bool:
    from mmerbench.api import method_class

    try:
        return callable(getattr(method_class(method_name), "latent_distributions", None))
    except Exception:  # noqa: BLE001 - a method no longer installed has no figure, the report goes on
        return False


def load_dataset_of(record: dict):
    """The job's dataset, checked against the fingerprint the job recorded."""
    from mmerbench.execution.job_dataset import load_job_dataset

    return load_job_dataset(record)


def load_test_split(record: dict):
    """The job's test split, checked against the fingerprint the job recorded."""
    from mmerbench.execution.job_dataset import load_job_dataset

    dataset = load_job_dataset(record)
    return dataset.test, list(dataset.label_names), list(dataset.modalities)


# ------------------------------------------------------------------ the report


class _DatasetReport:
    def __init__(self, results_dir: Path, out_dir: Path, dataset: str, records: list[dict], step):
        from mmerbench.reporting.leaderboard import build_leaderboard

        self.results_dir, self.out_dir, self.dataset = results_dir, out_dir, dataset
        self.records, self.step = records, step
        # The same builder as `mmerbench leaderboard` and the published page: the same rows, marks and notes.
        self.board = build_leaderboard(records, dataset, with_reported=True, results_dir=results_dir)
        self.rows = self.board.rows
        by_key = {r["key"]: r for r in records}
        self.records_by_row = {row.label: [by_key[k] for k in row.keys] for row in self.rows}
        self.lines: list[str] = []
        self.figures: list[Path] = []
        self.skipped: list[str] = []
        self.folder = out_dir / FIGURES_DIR / slug(dataset)

    # -- helpers
    def _figure(self, title: str, draw, name: str, *args) -> None:
        path = draw(*args, self.folder / f"{name}.png")
        self.figures.append(path)
        alt = markdown_line(title).replace("[", "(").replace("]", ")")  # record text: never ends the link text
        self.lines += [f"![{alt}]({path.relative_to(self.out_dir).as_posix()})", ""]

    def _skip(self, what: str, why: str) -> None:
        self.skipped.append(f"{self.dataset}: {what}: {why}")
        self.lines += [f"- {markdown_line(what)}: skipped ({markdown_line(why)}).", ""]

    # -- sections
    def tables(self) -> None:
        from mmerbench.reporting.leaderboard import render, reported_markdown

        self.lines += [f"## {self.dataset}", "", "### Leaderboard (test split)", "", render(self.rows, "markdown"), ""]
        self.lines += [line for note in self.board.footer for line in (markdown_line(note), "")]
        self.significance_table()
        if self.board.reported:
            self.lines += [*reported_markdown(self.board, level="###"), ""]
        self.step(f"{self.dataset}: tables and significance")

    def significance_table(self) -> None:
        from tabulate import tabulate

        table = []
        for row in self.rows:
            info = row.annotations.get("significance")
            if not info:
                continue
            seeds = info.get("per_seed") or {}
            resamples = info.get("n_resamples")
            table.append([f"{markdown_cell(row.label)} {row.mark}".strip(), row.n, f"{row.mean('mif1'):.4f}",
                          "best" if info["is_best"] else format_p(info["bootstrap_p"], resamples),
                          "" if info["is_best"] else format_p(info["holm_p"], resamples),
                          format_p(seeds.get("mannwhitney_p")), format_p(seeds.get("welch_p")), seeds.get("note", "")])
        if table:
            headers = ["row", "n", "miF1", "bootstrap p", "Holm p", "per-seed Mann-Whitney p", "per-seed Welch t p", "note"]
            notes = {line[-1] for line in table if line[-1]}
            shared = len(notes) == 1 and all(line[-1] for line in table if line[3] != "best")
            if shared:  # one note said once below the table, not on every row
                table, headers = [line[:-1] for line in table], headers[:-1]
            self.lines += ["#### Against the best row (miF1)", "",
                           tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
            if shared:
                self.lines += [f"Note (every row): {next(iter(notes))}.", ""]

    def reliability(self) -> None:
        self.lines += ["### Reliability diagrams (test split)", ""]
        drawn = False
        for label, records in self.records_by_row.items():
            diagram = figure_data.pooled_reliability([(r.get("reliability") or {}).get("test") for r in records])
            if diagram is None:
                continue
            kind = "top-class confidence" if diagram.get("kind") == "top-class" else "all (sample, label) entries"
            self._figure(f"reliability {label}", plots.reliability_diagram, f"reliability-{slug(label)}",
                         diagram, f"{self.dataset}: {label} ({kind}, seeds pooled)")
            drawn = True
        if not drawn:
            self._skip("reliability diagrams", "no job record has reliability data in `record['reliability']`")
        self.step(f"{self.dataset}: reliability diagrams")

    def risk_coverage(self) -> None:
        self.lines += ["### Risk-coverage curves (test split)", ""]
        curves, problems = {}, []
        for label, records in self.records_by_row.items():
            per_seed, source = [], "entropy"
            for record in records:
                try:
                    arrays = figure_data.load_predictions(self.results_dir, record["key"])
                except OSError as exc:
                    problems.append(f"{label} seed {record['seed']}: {exc}")
                    self.step(f"{self.dataset}: risk-coverage {label} seed {record['seed']}")
                    continue
                own = arrays.get("test_uncertainty")
                source = "own" if own is not None else "entropy"
                threshold = 0.5 if record.get("threshold") is None else record["threshold"]
                single = "single_acc" in (record.get("metrics", {}).get("test") or {})
                per_seed.append(figure_data.risk_coverage(arrays["test_proba"], arrays["test_labels"], threshold,
                                                          own, single))
                self.step(f"{self.dataset}: risk-coverage {label} seed {record['seed']}")
            if per_seed and len({len(c) for c, _ in per_seed}) == 1:
                curves[f"{label} ({source})"] = (per_seed[0][0], np.mean([r for _, r in per_seed], axis=0))
        if curves:
            self._figure("risk-coverage", plots.risk_coverage_curves, "risk-coverage", curves,
                         f"{self.dataset}: risk-coverage (within-label ranking, seeds averaged)")
            self.lines += ["Uncertainty: the method's own (`own`) where it has one, else the Bernoulli entropy of its "
                           "probability (`entropy`); errors at the job's chosen threshold.", ""]
        else:
            self._skip("risk-coverage curves", "no stored test predictions")
        self.lines += [f"- {markdown_line(p)}" for p in problems] + ([""] if problems else [])

    def robustness(self) -> None:
        from mmerbench.reporting.robustness_tables import tables_markdown

        self.lines += ["### Robustness (test split, miF1)", ""]
        numbers = tables_markdown(self.board.robustness_tables, self.board.robustness_metric)
        if numbers:  # the tables beside the figures: a reader can quote a number without reading it off a plot
            self.lines += [numbers.split("\n", 1)[1].strip(), ""]
        conditions = figure_data.condition_scores(self.records_by_row)
        combos = figure_data.combination_table(conditions)
        if combos:
            self._figure("modality combinations", plots.grouped_bars, "modality-combinations", combos,
                         f"{self.dataset}: miF1 per available modality combination", "modalities present", "miF1")
        else:
            self._skip("modality-combination chart", "the `missing` protocol did not run")
        spread = figure_data.condition_spread(self.records_by_row)
        rates = figure_data.rate_curves(conditions, spread)
        if rates:
            realised = self._realised_shares(conditions)
            top = ("share of modalities really dropped", {r: f"{s:.2f}" for r, s in realised.items()}) \
                if realised else None
            self._figure("missing rate", partial(plots.score_curves, top_axis=top), "missing-rate", rates,
                         f"{self.dataset}: miF1 against the missing rate (± std over seeds)",
                         "missing rate: chance that each modality of a sample is dropped (one is always kept)",
                         "miF1")
            if realised:
                self.lines += ["Missing rate → share of the test split's modalities really dropped (a sample always "
                               "keeps one modality, so the share is below the rate): "
                               + ", ".join(f"{r:g} → {s:.3f}" for r, s in realised.items()) + ".", ""]
        else:
            self._skip("missing-rate curves", "the `missing-rate` protocol did not run")
        noise = figure_data.noise_curves(conditions, spread)
        for target, curves in noise.items():
            self._figure(f"noise on {target}", plots.score_curves, f"noise-{slug(target)}", curves,
                         f"{self.dataset}: miF1 against Gaussian noise on {target} (± std over seeds)",
                         "noise scale (x the feature's training std)", "miF1")
        if not noise:
            self._skip("noise curves", "the `noise` protocol did not run")
        errors = condition_errors_by_method([r for rs in self.records_by_row.values() for r in rs])
        if errors:
            self.lines += ["Conditions a method could not take:", ""] + [f"- {markdown_line(e)}" for e in errors] + [""]
        self.step(f"{self.dataset}: robustness figures")

    def _realised_shares(self, conditions: dict) -> dict[float, float]:
        """{missing rate: realised share of modalities dropped} on this dataset's test split, over the seeds of
        its jobs; {} when the data cannot be loaded (the figure then shows the nominal rate only)."""
        records = [r for rs in self.records_by_row.values() for r in rs]
        if not records:
            return {}
        try:
            dataset = load_dataset_of(records[0])
        except Exception as exc:  # noqa: BLE001 - the figure is still drawn, with a note
            self.lines += [f"- realised missing shares: not computed ({type(exc).__name__}: {exc}).", ""]
            return {}
        seeds = sorted({r["seed"] for r in records})
        out = {}
        for condition in conditions:
            kind, rate = figure_data.condition_kind(condition)
            if kind == "missing-rate":
                out[rate] = figure_data.realised_dropped_share(dataset, seeds, condition, rate)
        return dict(sorted(out.items()))

    def per_label(self) -> None:
        self.lines += ["### Per-label F1 (test split)", ""]
        values = figure_data.per_label_f1(self.records_by_row)
        if values:
            labels = list(dict.fromkeys(label for row in values.values() for label in row))
            by_label = {label: {row: scores.get(label, np.nan) for row, scores in values.items()} for label in labels}
            self._figure("per-label F1", plots.grouped_bars, "per-label-f1", by_label,
                         f"{self.dataset}: F1 per emotion (mean over seeds)", "emotion", "F1")
        else:
            self._skip("per-label F1", "no job record has per-label scores")
        self.step(f"{self.dataset}: per-label F1")

    def training(self) -> None:
        self.lines += ["### Training curves", ""]
        curves = figure_data.training_curves(self.records_by_row)
        if curves:
            self._figure("training curves", plots.training_curves, "training-curves", curves,
                         f"{self.dataset}: training curves of deep methods")
        else:
            self._skip("training curves", "no deep method recorded per-epoch curves")
        self.step(f"{self.dataset}: training curves")

    def latent_tsne(self) -> None:
        self.lines += ["### Latent distributions (t-SNE, as in the LDDU paper's Figure 4)", ""]
        # A capability, not a name: any method class that offers latent_distributions (LDDU among the built-ins).
        rows = {label: records for label, records in self.records_by_row.items()
                if _offers_latent_distributions(records[0]["method"])}
        if not rows:
            self._skip("latent t-SNE", "no job on this dataset is of a method that offers `latent_distributions`")
        for label, records in rows.items():
            record = min(records, key=lambda r: r["seed"])
            try:
                self._draw_tsne(label, record)
            except Exception as exc:  # noqa: BLE001 - one figure must not sink the report
                self._skip(f"latent t-SNE of {label}", f"{type(exc).__name__}: {exc}")
        self.step(f"{self.dataset}: latent t-SNE")

    def _draw_tsne(self, label: str, record: dict) -> None:
        try:
            method = load_job_model(self.results_dir, record["key"])
        except ImportError:
            return self._skip(f"latent t-SNE of {label}", "this installation cannot load saved models "
                              "(no `mmerbench.saved_models`)")
        if not hasattr(method, "latent_distributions"):
            return self._skip(f"latent t-SNE of {label}", "the saved model has no `latent_distributions`")
        split, label_names, modality_names = load_test_split(record)
        chosen = np.sort(np.random.default_rng(0).permutation(len(split))[:TSNE_SAMPLES])
        split = split.take(chosen)
        latent = method.latent_distributions(split)
        # the M and q axes are in the model's order, which it reports when it can
        modality_names = list(latent.get("modalities") or modality_names)
        label_names = list(latent.get("label_names") or label_names)
        points, label_index, modality_index = tsne_points(latent["mu"], latent["sigma"], np.asarray(split.labels))
        self._figure(f"t-SNE {label}", plots.latent_tsne, f"tsne-{slug(label)}", points, label_index, modality_index,
                     label_names, modality_names,
                     f"{self.dataset}: {label} seed {record['seed']}, latent (mu, sigma) of present emotions")

    def write(self) -> list[str]:
        self.tables()
        self.reliability()
        self.risk_coverage()
        self.robustness()
        self.per_label()
        self.training()
        self.latent_tsne()
        return self.lines


def condition_errors_by_method(records: list[dict]) -> list[str]:
    """One line per method: each condition it could not take with the reason, and the seeds it happened on
    (a reason shared by every seed is said once)."""
    by_method: dict[str, dict[str, dict[str, list[int]]]] = {}
    for record in records:
        for condition, reason in (record.get("condition_errors") or {}).items():
            seeds = by_method.setdefault(record["method"], {}).setdefault(condition, {}).setdefault(reason, [])
            seeds.append(record["seed"])
    lines = []
    for method, conditions in sorted(by_method.items()):
        all_seeds = sorted({r["seed"] for r in records if r["method"] == method})
        parts = []
        for condition, reasons in sorted(conditions.items()):
            for reason, seeds in sorted(reasons.items()):
                where = "" if sorted(seeds) == all_seeds else f" (seed {', '.join(map(str, sorted(seeds)))})"
                parts.append(f"{condition.removeprefix('test@')}{where}: {reason}")
        lines.append(f"{method} (seeds {', '.join(map(str, all_seeds))}): " + "; ".join(parts))
    return lines


def tsne_points(mu: np.ndarray, sigma: np.ndarray, labels: np.ndarray, seed: int = 0):
    """2-D t-SNE of each (sample, modality, present label) distribution as [mu/|mu|; sigma/|sigma|].

    The normalised pair is the representation LDDU's contrastive loss compares,
    so its clusters are the ones the loss shapes. ``mu`` and ``sigma`` are
    (N, M, q, d).
    """
    from sklearn.manifold import TSNE

    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    if mu.shape != sigma.shape or mu.ndim != 4:
        raise ValueError(f"latent mu {mu.shape} and sigma {sigma.shape} must both be (N, M, q, d)")
    n, m, q, _ = mu.shape
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # noqa: E731
    features = np.concatenate([unit(mu), unit(sigma)], axis=-1)  # (N, M, q, 2d)
    sample, modality, label = np.nonzero(np.broadcast_to(np.asarray(labels, dtype=bool)[:, None, :], (n, m, q)))
    if len(sample) > TSNE_MAX_POINTS:
        keep = np.sort(np.random.default_rng(seed).permutation(len(sample))[:TSNE_MAX_POINTS])
        sample, modality, label = sample[keep], modality[keep], label[keep]
    if len(sample) < 5:
        raise ValueError(f"only {len(sample)} present (sample, label) entries: too few for t-SNE")
    chosen = features[sample, modality, label]
    perplexity = float(min(30.0, (len(chosen) - 1) / 3))
    from threadpoolctl import threadpool_limits

    # One thread: t-SNE's OpenMP threads slowed it five-fold on a shared 2-core machine (63 s against 13 s for
    # 1080 points), and one thread keeps the embedding reproducible.
    with threadpool_limits(limits=1):
        embedded = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=TSNE_ITERATIONS,
                        random_state=seed).fit_transform(chosen)
    return embedded, label, modality


def _across_datasets(out_dir: Path, records: list[dict], datasets: list[str]) -> tuple[list[str], list[Path]]:
    from mmerbench.evaluation.ranking import rank_analysis
    from mmerbench.reporting.leaderboard import build_rows

    scores = {d: {row.label: row.mean("mif1") for row in build_rows(records, d) if row.mean("mif1") is not None}
              for d in datasets}
    analysis = rank_analysis(scores)
    lines = ["## Across datasets (miF1)", ""]
    if analysis.mean_ranks:
        lines += ["| row | mean rank | " + " | ".join(analysis.datasets) + " |",
                  "|---|---|" + "---|" * len(analysis.datasets)]
        for i, config in enumerate(analysis.configurations):
            lines.append(f"| {config} | {analysis.mean_ranks[config]:.2f} | "
                         + " | ".join(f"{v:.3f}" for v in analysis.scores[:, i]) + " |")
        lines.append("")
    figures = []
    if analysis.friedman_p is not None:
        lines += [f"Friedman test over {len(analysis.datasets)} datasets and {len(analysis.configurations)} rows: "
                  f"χ² = {analysis.friedman_statistic:.3f}, p = {analysis.friedman_p:.4g}. Nemenyi critical "
                  f"difference at α = 0.05: {analysis.critical_difference:.3f} in mean rank.", ""]
        path = plots.critical_difference(analysis.mean_ranks, analysis.nemenyi_p, analysis.critical_difference,
                                         "Nemenyi critical difference (miF1 ranks over datasets)",
                                         out_dir / FIGURES_DIR / "critical-difference.png")
        figures.append(path)
        lines += [f"![critical difference]({path.relative_to(out_dir).as_posix()})", ""]
    if analysis.note:
        lines += [analysis.note + ".", ""]
    return lines, figures


def write_report(results_dir, out_dir, dataset: str | None = None, progress=None) -> Report:
    """Write ``out_dir/report.md`` and its figures for one dataset or every dataset with finished jobs."""
    from mmerbench.store.results import ResultStore

    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory; choose a folder for the report")
    with ResultStore(results_dir, create=False, read_only=True) as store:
        records = store.records()
    available = sorted({r["dataset"] for r in records if r.get("status") == "ok"})
    if not available:
        raise UsageError(f"no finished jobs in {results_dir}: nothing to report")
    if dataset is not None and dataset not in available:
        raise UnknownNameError("dataset in the results", dataset, available)
    datasets = [dataset] if dataset else available
    from mmerbench.reporting.current_versions import current_records

    # a report sits beside the published pages: only what the installed methods re-create, the rest named
    ok, left_out = current_records([r for r in records if r.get("status") == "ok" and r["dataset"] in datasets])
    total = len(ok) + 7 * len(datasets)
    own_progress = progress is None
    progress = progress or LineProgress(total)
    try:
        lines = ["# mmerbench report", "", f"Results: `{results_dir}`; {len(ok)} finished job(s) on "
                 f"{', '.join(datasets)}.", "", *[part for note in left_out for part in (note + ".", "")]]
        report = Report(out_dir / "report.md")
        for name in datasets:
            section = _DatasetReport(results_dir, out_dir, name, ok, progress)
            lines += section.write()
            report.figures += section.figures
            report.skipped += section.skipped
        if len(datasets) > 1:
            more, figures = _across_datasets(out_dir, ok, datasets)
            lines += more
            report.figures += figures
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = report.path.with_name(".report.md.tmp")
        try:
            tmp.write_text("\n".join(lines).rstrip() + "\n")
        except OSError as exc:  # a full disk: no temporary file stays, and the error says where
            tmp.unlink(missing_ok=True)
            raise MMERBenchError(f"cannot write {report.path}: {exc.strerror or exc}; nothing was written there") from None
        tmp.replace(report.path)
        return report
    finally:
        if own_progress:
            progress.close()
