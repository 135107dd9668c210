"""The footer's own command re-creates published rows of leaderboards/synthetic.md, seed by seed.

The page's "Reproduce the table" command is run as printed (with its `--threads 1`, the count the
published rows were computed with), restricted to three deterministic methods and one deep method on one
seed, without the robustness protocols (they are not part of a job's key and do not
change its scores). Every number must equal the published per-seed value in synthetic-seeds.csv, and for
the deterministic methods also the page's rounded mean.
"""

from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pytest

from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore

LEADERBOARDS = Path(__file__).resolve().parents[2] / "leaderboards"
METRICS = ("acc", "p", "r", "mif1", "maf1", "hamming", "subset_acc", "ece", "brier", "unc_auroc")
DETERMINISTIC = ("br", "cc", "prior")
DEEP = "ml-gcn"  # the quickest deep method on CPU: one seed is ~10 s on a quiet core


def footer_command(page: str) -> list[str]:
    """The words of the page's "Reproduce the table" command."""
    match = re.search(r"Reproduce the table: `(mmerbench run [^`]+)`", page)
    assert match, "the published page has no reproduce command"
    return shlex.split(match.group(1))[1:]  # without "mmerbench"


def restricted(words: list[str], methods, seeds, results) -> list[str]:
    """The same command with other --methods and --seeds, no --protocol, and its own results folder. Its
    --preset stays when one of ``methods`` defines it; otherwise it touched none of them (that is how the
    footer merges one --preset over a run, mmerbench.reporting.reproduce) and a run refuses a preset no
    method has."""
    from mmerbench.api import method_class

    out, index = [], 0
    while index < len(words):
        word = words[index]
        unused_preset = word == "--preset" and not any(words[index + 1] in method_class(m).presets for m in methods)
        if word in ("--methods", "--seeds", "--protocol") or unused_preset:
            index += 2
            continue
        out.append(word)
        index += 1
    return out + ["--methods", ",".join(methods), "--seeds", ",".join(map(str, seeds)), "--results", str(results),
                  "--jobs", "2"]


def published_seeds() -> dict[tuple[str, int], dict[str, str]]:
    """The preset rows' per-seed numbers (the tuned rows `m (cpu, tuned N)` come from the tune command)."""
    with open(LEADERBOARDS / "synthetic-seeds.csv", newline="") as handle:
        return {(row["method"], int(row["seed"])): row for row in csv.DictReader(handle)
                if "tuned" not in row["row"]}


def published_means(page: str, method: str) -> list[str]:
    line = next(line for line in page.splitlines() if re.match(rf"\| {re.escape(method)} +\|", line))
    return [cell.strip().strip("*").split(" ± ")[0] for cell in line.strip("|").split("|")[2:]]


def test_the_footer_command_names_the_thread_count_the_rows_were_computed_with():
    words = footer_command((LEADERBOARDS / "synthetic.md").read_text())
    assert words[words.index("--threads") + 1] == "1"  # a deep method's numbers depend on it
    assert "Threads per job: 1 " in (LEADERBOARDS / "synthetic.md").read_text()


def _current(methods, published) -> tuple[list[str], list[str]]:
    """(methods whose registered version is the published one, why the others cannot be compared)."""
    from mmerbench.api import method_class

    same, stale = [], []
    for method in methods:
        then, now = published[(method, 0)]["method_version"], str(method_class(method).version)
        if then == now:
            same.append(method)
        else:
            stale.append(f"{method} is version {now}, the published rows are version {then}")
    return same, stale


@pytest.mark.slow
@pytest.mark.parametrize("methods", [DETERMINISTIC, (DEEP,)], ids=["deterministic", "deep"])
def test_published_rows_are_recreated_from_the_footer_command(tmp_path, methods):
    page, expected = (LEADERBOARDS / "synthetic.md").read_text(), published_seeds()
    methods, stale = _current(methods, expected)
    if not methods:  # a method whose numbers changed has a new version: the page must be re-published
        pytest.skip("; ".join(stale) + ": re-publish leaderboards/synthetic.md (see leaderboards/synthetic.toml)")
    results = tmp_path / "results"
    assert main(restricted(footer_command(page), methods, [0], results)) == 0  # "run --methods ..."
    with ResultStore(results, create=False, read_only=True) as store:
        records = {record["method"]: record for record in store.records()}
    for method in methods:
        record, published = records[method], expected[(method, 0)]
        assert record["threads"] == 1 and record["key"] == published["key"], method
        for metric in METRICS:
            assert repr(record["metrics"]["test"][metric]) == published[metric], f"{method} {metric}"
        if method in DETERMINISTIC:  # ± 0.000 on the page: its mean is every seed's value
            assert [f"{record['metrics']['test'][m]:.3f}" for m in METRICS] == published_means(page, method)
