"""``mmerbench site``: results stores in, a static site out (HTML, CSS, a little JavaScript, PNG figures).

Layout of the site (every link relative, nothing fetched from the network)::

    index.html                       datasets and protocols; ranks across datasets
    figures/critical-difference.png  when two or more datasets allow a Friedman test
    static/site.css, site.js, samples.js
    <dataset>/index.html             the leaderboard, significance, robustness, provenance
    <dataset>/rows/<row>.html        one method configuration: seeds, settings, commands, curves
    <dataset>/samples.html           the sample viewer, with its data in <dataset>/samples/*.js
    <dataset>/figures/*.png

The site is written to a temporary folder beside ``--out`` and moved into
place when complete; an existing ``--out`` is replaced only when it is a site
this command wrote (it holds ``MARKER``), never an unrelated folder.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from mmerbench.errors import UsageError
from mmerbench.reporting.site import samples, sources
from mmerbench.reporting.site.markdown_blocks import inline, parse
from mmerbench.reporting.site.row_pages import row_context
from mmerbench.reporting.site.tables import leaderboard_table

MARKER = ".mmerbench-site"
STATIC_FILES = ("site.css", "site.js", "samples.js")


@dataclass
class Site:
    path: Path
    datasets: list[str]
    pages: int = 0
    figures: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


def environment():
    """Jinja2 with autoescaping on for every template: every string from the store is escaped."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("mmerbench.reporting.site", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["inline"] = inline
    return env


def gather(results_dirs: list[Path]) -> tuple[dict[str, Path], list[dict]]:
    """{dataset: the results folder its jobs are in}, and every finished record; a dataset found in two
    folders is an error (its significance marks read one folder's predictions)."""
    where: dict[str, Path] = {}
    records: list[dict] = []
    for results_dir in results_dirs:
        found = [r for r in sources.load_records(results_dir) if r.get("status") == "ok"]
        for dataset in sorted({r["dataset"] for r in found}):
            if dataset in where:
                raise UsageError(f"dataset {dataset} has finished jobs in both {where[dataset]} and {results_dir}; "
                                 "a table is built from one results store: run them into one --results folder, "
                                 "or give only one of the two")
            where[dataset] = results_dir
        records += found
    if not where:
        raise UsageError(f"no finished jobs in {', '.join(map(str, results_dirs))}: nothing to build a site from")
    return where, records


def _unique_pages(labels: list[str]) -> dict[str, str]:
    pages, used = {}, set()
    for label in labels:
        name, n = sources.slug(label), 2
        while name.lower() in used:  # case-insensitive file systems
            name, n = f"{sources.slug(label)}-{n}", n + 1
        used.add(name.lower())
        pages[label] = f"{name}.html"
    return pages


class _Writer:
    def __init__(self, root: Path, env, title: str):
        self.root, self.env, self.title = root, env, title
        self.pages = 0
        self.generated = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def page(self, relative: str, template: str, **context) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        depth = relative.count("/")
        html = self.env.get_template(template).render(root="../" * depth, site_title=self.title,
                                                      generated=self.generated, **context)
        path.write_text(html, encoding="utf-8")
        self.pages += 1


def _dataset_pages(writer: _Writer, dataset: str, folder: str, records: list[dict], results_dir: Path,
                   robustness_options: dict) -> dict:
    """Write a dataset's leaderboard, row pages and sample viewer; return its line of the index."""
    rows, footer = sources.leaderboard_rows(records, dataset, results_dir)  # names the versions it leaves out
    records = sources.current_records(records)  # every other table, figure and page shows the same jobs
    mine = [r for r in records if r["dataset"] == dataset]
    pages = _unique_pages([row.label for row in rows])
    robustness = sources.robustness_markdown(records, dataset, **robustness_options)
    table = leaderboard_table(rows, pages, robustness)
    by_key = {r["key"]: r for r in mine}
    records_by_row = {row.label: [by_key[k] for k in row.keys] for row in rows}
    figure_folder = writer.root / folder / "figures"
    robustness_figures = [(title, path.relative_to(writer.root / folder).as_posix())
                          for title, path in sources.robustness_figures(
                              records_by_row, dataset, figure_folder, robustness_options["metric"])]
    viewer = samples.collect(rows, mine, results_dir, pages)
    viewer_info = samples.write(viewer, writer.root / folder / "samples") if viewer else None
    shown_metrics = [m for m in ("unc_auroc", "aurc", "noise_spearman") if any(row.mean(m) is not None for row in rows)]
    provenance = [line.removeprefix("- ") for line in sources.provenance_footer(records, dataset).splitlines()]
    significance = [row for row in rows if row.annotations.get("significance")]
    writer.page(f"{folder}/index.html", "dataset.html", dataset=dataset, table=table, footer=footer,
                uncertainty_notes=sources.uncertainty_note(records, dataset, shown_metrics),
                significance=significance, robustness=parse(robustness), robustness_figures=robustness_figures,
                provenance=provenance, reproduce=sources.reproduce_command(mine), viewer=viewer_info,
                protocols=_protocols(mine))
    for row in rows:
        context = row_context(row, records_by_row[row.label], writer.root / folder / "figures" / "rows",
                              pages[row.label])
        writer.page(f"{folder}/rows/{pages[row.label]}", "row.html", dataset=dataset, row=row, **context)
    if viewer_info:
        writer.page(f"{folder}/samples.html", "samples.html", dataset=dataset, viewer=viewer_info)
    best = max((row for row in rows if row.mean("mif1") is not None), key=lambda r: r.mean("mif1"), default=None)
    return {"dataset": dataset, "folder": folder, "rows": len(rows), "seeds": sorted({r["seed"] for r in mine}),
            "protocols": _protocols(mine), "results": str(results_dir), "viewer": bool(viewer_info),
            "best": best.label if best else "", "best_mif1": f"{best.mean('mif1'):.3f}" if best else ""}


def _protocols(records: list[dict]) -> list[str]:
    return sorted({p for r in records for p in (r.get("protocols") or [])})


def _across_datasets(root: Path, records: list[dict], datasets: list[str]) -> dict | None:
    if len(datasets) < 2:
        return None
    analysis = sources.rank_analysis(records, datasets)
    figure = None
    if analysis.friedman_p is not None:
        sources.critical_difference_figure(analysis, root / "figures" / "critical-difference.png")
        figure = "figures/critical-difference.png"
    ranks = sorted(analysis.mean_ranks.items(), key=lambda item: item[1])
    index = {config: i for i, config in enumerate(analysis.configurations)}
    table = [(config, f"{rank:.2f}", [f"{analysis.scores[d, index[config]]:.3f}" for d in range(len(analysis.datasets))])
             for config, rank in ranks]
    return {"datasets": analysis.datasets, "table": table, "figure": figure, "note": analysis.note,
            "friedman": None if analysis.friedman_p is None else
            f"χ² = {analysis.friedman_statistic:.3f}, p = {analysis.friedman_p:.4g}; Nemenyi critical difference "
            f"at α = 0.05: {analysis.critical_difference:.3f} in mean rank"}


def _prepare_out(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory; choose a folder for the site")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(f"--out {out} is a folder with other files in it (no {MARKER} marker, so not a site "
                         "this command wrote); choose an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def build_site(results_dirs, out, title: str = "mmerbench leaderboard", robustness_metric: str = "mif1",
               robustness_reference: str = "br") -> Site:
    """Write the static site for every dataset with finished jobs in ``results_dirs`` to ``out``."""
    started = time.perf_counter()
    results_dirs = [Path(d) for d in results_dirs]
    out = Path(out)
    where, records = gather(results_dirs)
    tmp = _prepare_out(out)
    try:
        writer = _Writer(tmp, environment(), title)
        static = resources.files("mmerbench.reporting.site") / "static"
        (tmp / "static").mkdir()
        for name in STATIC_FILES:
            (tmp / "static" / name).write_bytes((static / name).read_bytes())
        options = {"metric": robustness_metric, "reference": robustness_reference}
        datasets = sorted(where)
        folders = _unique_pages(datasets)
        entries = [_dataset_pages(writer, d, folders[d].removesuffix(".html"), records, where[d], options)
                   for d in datasets]
        writer.page("index.html", "index.html", entries=entries, across=_across_datasets(tmp, sources.current_records(records), datasets),
                    results=[str(d) for d in results_dirs])
        (tmp / MARKER).write_text("written by `mmerbench site`; the command replaces this folder when re-run\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    figures = len(list(out.rglob("*.png")))
    return Site(out, datasets, writer.pages, figures, time.perf_counter() - started)
