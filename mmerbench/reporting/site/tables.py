"""A dataset's leaderboard as the site's table: the published cells, a sort key per cell, a metric group per column.

Cells are the published markdown's cells (``markdown_blocks`` reads them back
from the leaderboard's own ``render``), so a page shows exactly the numbers,
bold best values and marks of ``leaderboards/<dataset>.md``. What the site
adds is only for the browser: a numeric sort key (the mean), the column's
metric group for the group switch, and a link to the row's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mmerbench.reporting.site import sources
from mmerbench.reporting.site.markdown_blocks import Table, first_table, parse, unbold

GROUP_TITLES = {"accuracy": "Accuracy", "calibration": "Calibration and uncertainty", "robustness": "Robustness"}
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?")


@dataclass
class Column:
    title: str
    group: str  # accuracy | calibration | robustness
    lower_is_better: bool = False


@dataclass
class Cell:
    text: str
    bold: bool = False
    sort: float | None = None


@dataclass
class TableRow:
    label: str
    mark: str
    n: str
    page: str  # file name of the row's page
    cells: list[Cell] = field(default_factory=list)


@dataclass
class LeaderboardTable:
    columns: list[Column]
    rows: list[TableRow]
    notes: list[str]  # the lines the markdown prints under its table (e.g. the single-seed mark)
    groups: list[tuple[str, str]]  # (group, title) of the groups that have columns


def sort_key(text: str) -> float | None:
    """The leading number of a cell (its mean), or None for an empty cell."""
    match = _NUMBER.match(text.strip())
    return float(match.group(0)) if match else None


def shown_metrics(rows) -> dict[str, list[str]]:
    """Per group, the metrics the table shows: the accuracy metrics the markdown shows by default (the
    single-label ones added when a row has them, as the markdown does), and every calibration/uncertainty
    metric some row has a number for."""
    groups = sources.metric_groups()
    has = lambda metric: any(row.mean(metric) is not None for row in rows)  # noqa: E731
    accuracy = list(groups["accuracy"]) + (list(groups["single_label"]) if has("single_acc") else [])
    return {"accuracy": accuracy, "calibration": [m for m in groups["calibration"] if has(m)]}


def leaderboard_table(rows, pages: dict[str, str], robustness_markdown: str) -> LeaderboardTable:
    """The table of ``rows`` (marks already set) with the robustness summaries joined by row label."""
    metrics = shown_metrics(rows)
    ordered = metrics["accuracy"] + metrics["calibration"]
    table, notes = first_table(sources.markdown_table(rows, ordered))
    if len(table.rows) != len(rows):
        raise ValueError(f"the leaderboard rendered {len(table.rows)} rows for {len(rows)} configurations")
    lower = sources.lower_is_better()
    columns = [Column(title, "accuracy" if metric in metrics["accuracy"] else "calibration", metric in lower)
               for metric, title in zip(ordered, table.headers[2:])]
    out_rows = []
    for row, cells in zip(rows, table.rows):
        out_rows.append(TableRow(row.label, row.mark, cells[1], pages[row.label],
                                 [Cell(*unbold(text), sort_key(unbold(text)[0])) for text in cells[2:]]))
    robustness_columns, by_label = robustness_summary(robustness_markdown)
    columns += robustness_columns
    for out in out_rows:
        out.cells += by_label.get(out.label, [Cell("")] * len(robustness_columns))
    present = {column.group for column in columns}
    return LeaderboardTable(columns, out_rows, notes, [(g, t) for g, t in GROUP_TITLES.items() if g in present])


def robustness_summary(markdown: str) -> tuple[list[Column], dict[str, list[Cell]]]:
    """Columns for the robustness group: every modality-combination condition, and each curve's relative
    and effective robustness, taken from the published robustness tables."""
    columns: list[Column] = []
    by_label: dict[str, list[Cell]] = {}
    family = ""
    for block in parse(markdown):
        if not isinstance(block, Table):
            family = block.text.split(" (")[0].rstrip(":")  # "Missing rate (level: ...):" -> "Missing rate"
            continue
        if "relative" in block.headers:
            wanted = [block.headers.index("relative"), block.headers.index("effective")]
            titles = [f"{family}: relative", f"{family}: effective"]
        else:  # modality combinations: every column
            wanted = list(range(1, len(block.headers)))
            titles = [f"{header} present" if header != "mean" else "mean over combinations"
                      for header in block.headers[1:]]
        known = set(by_label)
        for cells in block.rows:
            by_label.setdefault(cells[0], [Cell("")] * len(columns))
            by_label[cells[0]] += [Cell(cells[i], False, sort_key(cells[i])) for i in wanted]
        for label in known - {cells[0] for cells in block.rows}:
            by_label[label] += [Cell("")] * len(wanted)
        columns += [Column(title, "robustness") for title in titles]
    return columns, by_label
