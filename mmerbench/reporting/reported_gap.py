"""Reported vs reproduced: the gap (ours − reported) and papers' rows whose miF1 contradicts their P and R.

A reported row matches one of ours when the method names agree (case and
punctuation ignored: ``ML-GCN`` is ``ml-gcn``); the leaderboard table already
matched the dataset. Acc and miF1 are compared directly. The papers' printed
P and R are really R and P (README, "The protocol"), so a P or R gap is only
computed under ``--legacy-pr``, where our P and R are shown in the papers'
convention; otherwise those cells stay empty rather than compare two
different quantities.
"""

from __future__ import annotations

import re

# Printed P, R and miF1 are rounded to 3 decimals; that moves 2PR/(P+R) - miF1 by at most about 0.001.
HARMONIC_MEAN_TOLERANCE = 0.002
INCONSISTENT_MARK = "‡"
GAP_METRICS = ("acc", "p", "r", "mif1")


def _method_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def harmonic_mean_gap(row) -> float | None:
    """|2PR/(P+R) − miF1| of a reported row, or None when one of the three is missing."""
    p, r, f1 = row.mean("p"), row.mean("r"), row.mean("mif1")
    if p is None or r is None or f1 is None:
        return None
    harmonic = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return abs(harmonic - f1)


def is_inconsistent(row) -> bool:
    gap = harmonic_mean_gap(row)
    return gap is not None and gap > HARMONIC_MEAN_TOLERANCE


def gaps(ours: list, reported: list, legacy_pr: bool = False) -> list[dict]:
    """One entry per (our row, reported row) of the same method: {"ours", "reported", metric: ours − reported}."""
    metrics = GAP_METRICS if legacy_pr else ("acc", "mif1")
    out = []
    for theirs in reported:
        for row in ours:
            if row.reported or _method_key(row.method) != _method_key(theirs.method):
                continue
            entry = {"ours": row.label, "reported": theirs.label, "n": row.n}
            for metric in GAP_METRICS:
                mine, printed = _ours(row, metric, legacy_pr), theirs.mean(metric)
                entry[metric] = mine - printed if metric in metrics and None not in (mine, printed) else None
            out.append(entry)
    return out


def _ours(row, metric: str, legacy_pr: bool) -> float | None:
    if legacy_pr and metric in ("p", "r"):
        metric = "r" if metric == "p" else "p"  # the papers' convention: "P" is recall
    return row.mean(metric)


def annotate_reported(ours: list, reported: list, legacy_pr: bool = False) -> list[str]:
    """Mark inconsistent reported rows, attach gaps for JSON; return the footnote lines."""
    entries = gaps(ours, reported, legacy_pr)
    for theirs in reported:
        gap = harmonic_mean_gap(theirs)
        theirs.annotations["harmonic_mean_gap"] = gap
        theirs.annotations["inconsistent_mif1"] = is_inconsistent(theirs)
        if is_inconsistent(theirs):
            theirs.mark = INCONSISTENT_MARK
        theirs.annotations["gap"] = {e["ours"]: {m: e[m] for m in GAP_METRICS} for e in entries
                                     if e["reported"] == theirs.label}
    flagged = [r for r in reported if is_inconsistent(r)]
    notes = []
    if flagged:
        notes.append(f"{INCONSISTENT_MARK} the printed miF1 is not the harmonic mean of the printed P and R: "
                     f"|2PR/(P+R) − miF1| > {HARMONIC_MEAN_TOLERANCE} (rounding to 3 decimals explains at most "
                     "about 0.001): " + ", ".join(f"{r.method} ({harmonic_mean_gap(r):.3f})" for r in flagged) + ".")
    if not legacy_pr:
        notes.append("Gap = ours − reported for Acc and miF1; P and R gaps only with `--legacy-pr` (the papers' "
                     "P and R are swapped).")
    else:
        notes.append("Gap = ours − reported; our P and R in the papers' swapped convention (legacy).")
    return notes


def reported_table(reported: list, fmt: str = "markdown", digits: int = 3) -> str:
    """The papers' numbers, each row naming the paper and the table it was copied from, and the setting.

    The same rows are shown for every dataset of one family (cmu-mosei, cmu-mosei-mmsa, ...), so a
    reader must be able to check each number against the paper itself.
    """
    from tabulate import tabulate

    table = []
    for row in reported:
        paper = row.source.split(" (")[0] if row.source else "?"
        table.append([f"{row.label} {row.mark}".strip(), paper, row.annotations.get("paper_table", "?"),
                      row.annotations.get("paper_setting") or "-"]
                     + ["" if row.mean(m) is None else f"{row.mean(m):.{digits}f}" for m in GAP_METRICS])
    headers = ["method", "paper", "table", "setting", "Acc", "P (as printed)", "R (as printed)", "miF1"]
    return tabulate(table, headers=headers, tablefmt="github" if fmt == "markdown" else "latex_raw",
                    disable_numparse=True)


def gap_table(entries: list[dict], fmt: str = "markdown", digits: int = 3) -> str:
    from tabulate import tabulate

    titles = {"acc": "ΔAcc", "p": "ΔP", "r": "ΔR", "mif1": "ΔmiF1"}
    table = [[e["ours"], e["n"], e["reported"]] + ["" if e[m] is None else f"{e[m]:+.{digits}f}" for m in GAP_METRICS]
             for e in entries]
    return tabulate(table, headers=["ours", "n", "reported"] + [titles[m] for m in GAP_METRICS],
                    tablefmt="github" if fmt == "markdown" else "latex_raw", disable_numparse=True)
