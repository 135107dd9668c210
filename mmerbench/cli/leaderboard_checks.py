"""Checks of `mmerbench leaderboard`'s options, made before it reads or writes anything.

Each check raises :class:`UsageError` with a message that names the value (and
the file it came from), says what is wrong and what would be valid.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from mmerbench.errors import UsageError

def check_output_dir(directory: str | Path) -> None:
    """``leaderboard --publish --output-dir``: a directory, or a path where one can be created."""
    directory = Path(directory)
    for path in [directory, *directory.parents]:
        if path.exists() and not path.is_dir():
            where = "is" if path == directory else f"lies under {path}, which is"
            raise UsageError(f"--output-dir {directory} {where} a regular file, not a directory; "
                             "give a directory (it is created when missing)")


def check_leaderboard_dataset(name: str, records: list[dict], store_path) -> None:
    present = sorted({r["dataset"] for r in records if r.get("status") == "ok"})
    if name not in present:
        close = difflib.get_close_matches(name, present, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"--dataset {name!r}: no finished job of that dataset in {store_path}.{hint} "
                         f"Datasets with results: {', '.join(present) or '(none)'}")


def check_metrics(metrics: list[str], known: list[str]) -> None:
    unknown = [m for m in metrics if m not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"--metrics: unknown metric {unknown[0]!r}.{hint} Available: {', '.join(known)}")


def known_metrics(records: list[dict]) -> list[str]:
    """Metric names a table can show: the standard ones, any number the records' test metrics hold, and each
    condition's metrics as CONDITION_METRIC (``test@vision_mif1``, ``test@missing-mean_mif1``)."""
    from mmerbench.reporting.leaderboard import DEFAULT_METRICS, SINGLE_LABEL_METRICS

    names = list(DEFAULT_METRICS) + list(SINGLE_LABEL_METRICS)
    for record in records:
        for split, scores in (record.get("metrics") or {}).items():
            if split != "test" and not split.startswith("test@"):
                continue
            for name, value in (scores or {}).items():
                full = name if split == "test" else f"{split}_{name}"
                if isinstance(value, (int, float)) and full not in names:
                    names.append(full)
    return names


LABEL_CHARACTERS = re.compile(r"^[A-Za-z0-9:_.\-]+$")


def check_latex_options(args) -> None:
    """``--caption``/``--label`` only with latex; a label LaTeX accepts as written."""
    caption, label = getattr(args, "caption", None), getattr(args, "label", None)
    if (caption is not None or label is not None) and args.format != "latex":
        raise UsageError(f"--caption and --label shape LaTeX tables; add --format latex (got --format {args.format})")
    if label is not None and not LABEL_CHARACTERS.match(label):
        raise UsageError(f"--label {args.label!r}: use letters, digits and : _ . - only (e.g. tab:synthetic)")
    if getattr(args, "table", "all") == "robustness" and args.format == "json":
        raise UsageError("--table robustness: use --format markdown, csv or latex (the records themselves are in "
                         "`mmerbench results --format json`)")


def check_leaderboard_args(args, records: list[dict], store_path) -> None:
    """``leaderboard``: a --dataset with results, known --metrics, and a usable --output-dir for --publish."""
    if args.dataset:
        check_leaderboard_dataset(args.dataset, records, store_path)
    if args.metrics:
        check_metrics([m.strip() for m in args.metrics.split(",") if m.strip()], known_metrics(records))
    if args.publish:
        check_output_dir(args.output_dir)
    check_latex_options(args)
