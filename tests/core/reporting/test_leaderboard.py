"""Leaderboard aggregation and rendering, against values computed here."""

from __future__ import annotations

import json
import statistics

import pytest

from mmerbench.reporting.current_versions import installed_versions
from mmerbench.reporting.leaderboard import build_rows, config_label, leaderboard_markdown, publish, render, reported_rows


def _record(method, seed, mif1, hamming=0.2, preset=None, overrides=None, version=None, dataset="d", status="ok",
            policy="valid"):
    version = version or installed_versions().get(method, "1")  # published pages show only installed versions
    return {
        "key": f"{method}-{seed}-{preset}-{json.dumps(overrides)}-{version}", "method": method,
        "method_version": version, "dataset": dataset, "dataset_fingerprint": "fp123", "seed": seed,
        "status": status, "preset": preset, "overrides": overrides or {}, "threshold_policy": policy,
        "threshold": 0.5, "metrics": {"test": {"acc": mif1 - 0.1, "p": 0.6, "r": 0.4, "mif1": mif1,
                                                "maf1": mif1 - 0.05, "hamming": hamming, "subset_acc": 0.1}},
        "versions": {"torch": "2.13.0"}, "git_revision": "abc123", "device": "cpu",
        "command": f"mmerbench run --methods {method} --datasets {dataset} --seeds {seed}",
    }


RECORDS = [
    _record("lddu", 0, 0.50, hamming=0.30, preset="cpu"),
    _record("lddu", 1, 0.54, hamming=0.10, preset="cpu"),
    _record("lddu", 2, 0.55, hamming=0.20, preset="cpu"),
    _record("lddu", 0, 0.40, preset="cpu", overrides={"use_queue": False}),
    _record("br", 0, 0.45, hamming=0.15),
    _record("br", 1, 0.99, status="failed"),
    _record("br", 0, 0.99, dataset="other"),
]


def test_rows_are_configurations_with_mean_and_sample_std():
    rows = {row.label: row for row in build_rows(RECORDS, "d")}
    assert set(rows) == {"lddu (cpu)", 'lddu (cpu) [use_queue=false]', "br"}
    main = rows["lddu (cpu)"]
    assert main.n == 3
    assert main.mean("mif1") == pytest.approx(statistics.fmean([0.50, 0.54, 0.55]))
    assert main.std("mif1") == pytest.approx(statistics.stdev([0.50, 0.54, 0.55]))  # ddof=1
    assert rows["br"].n == 1 and rows["br"].std("mif1") is None  # the failed job is not counted


def test_markdown_cells_and_bold_best():
    table = render(build_rows(RECORDS, "d"), "markdown", ["mif1", "hamming"])
    lines = {line.split("|")[1].strip(): line for line in table.splitlines()[2:] if line.startswith("|")}
    mean, std = statistics.fmean([0.50, 0.54, 0.55]), statistics.stdev([0.50, 0.54, 0.55])
    assert f"**{mean:.3f} ± {std:.3f}**" in lines["lddu (cpu)"]
    assert "| 0.450 " in lines["br"] and "±" not in lines["br"]  # n = 1: no ±
    # Hamming loss: lower is better; br's best is from one seed beside lddu's three, and the table says so
    assert "**0.150**¹" in lines["br"]
    assert table.rstrip().endswith("¹ best value from a single seed (n = 1) beside rows averaged over more seeds")


def test_bold_only_when_a_column_has_something_to_beat():
    alone = render(build_rows([_record("br", 0, 0.45)], "d"), "markdown", ["mif1"])
    assert "**" not in alone and "0.450" in alone
    same_n = render(build_rows([_record("br", 0, 0.45), _record("cc", 0, 0.47)], "d"), "markdown", ["mif1"])
    assert "**0.470**" in same_n and "¹" not in same_n  # n = 1 beside n = 1 needs no mark
    one_number = [_record("br", 0, 0.45), {**_record("cc", 0, 0.47), "metrics": {"test": {"p": 0.5}}}]
    assert "**" not in render(build_rows(one_number, "d"), "markdown", ["mif1"])  # one row has a miF1


def test_labels_show_version_when_several_exist():
    records = RECORDS + [_record("br", 0, 0.47, version="2")]
    labels = {row.label for row in build_rows(records, "d")}
    assert {"br v1", "br v2"} <= labels
    assert config_label(_record("x", 0, 0.1, policy="fixed:0.21")) == "x {threshold=fixed:0.21}"


@pytest.mark.parametrize("fmt", ["csv", "json", "latex"])
def test_other_formats(fmt):
    text = render(build_rows(RECORDS, "d"), fmt, ["mif1"])
    if fmt == "json":
        rows = {row["label"]: row for row in json.loads(text)}
        assert rows["lddu (cpu)"]["mif1"]["std"] == pytest.approx(statistics.stdev([0.50, 0.54, 0.55]))
    elif fmt == "csv":
        assert text.splitlines()[0] == "config,method,preset,overrides,n,reported,mif1_mean,mif1_std"
        import csv
        import io

        rows = {row["config"]: row for row in csv.DictReader(io.StringIO(text))}
        queue_off = rows["lddu (cpu) [use_queue=false]"]
        assert (queue_off["method"], queue_off["preset"]) == ("lddu", "cpu")
        assert json.loads(queue_off["overrides"]) == {"use_queue": False} and rows["br"]["overrides"] == ""
    else:
        assert "\\textbf{" in text and "$\\pm$" in text


def test_legacy_pr_swaps_and_says_so():
    text = render(build_rows(RECORDS, "d"), "markdown", ["p", "r"], legacy_pr=True)
    assert "P (legacy)" in text and "R (legacy)" in text
    br_line = next(line for line in text.splitlines() if line.startswith("| br"))
    assert br_line.index("0.400") < br_line.index("0.600")


def test_reported_rows_match_settings_and_skip_ablations():
    aligned = {row.method: row for row in reported_rows("cmu-mosei")}
    assert aligned["LDDU"].mean("mif1") == pytest.approx(0.587)
    assert aligned["BR"].mean("acc") == pytest.approx(0.222)
    unaligned = {row.method: row for row in reported_rows("cmu-mosei-mmsa-unaligned")}
    assert unaligned["BR"].mean("acc") == pytest.approx(0.233)
    assert not any("w/o" in name for name in aligned)
    assert reported_rows("synthetic") == []


def test_publish_writes_markdown_with_provenance(tmp_path):
    path = publish(RECORDS, "d", tmp_path)
    text = path.read_text()
    assert path.name == "d.md" and text.startswith("# d")
    for needed in ("fingerprint fp123", "Seeds: 0, 1, 2", "Threshold policy: valid", "torch 2.13.0",
                   "Git revision: abc123", "never on test", "mmerbench run --methods"):
        assert needed in text, needed


def test_reported_section_is_marked():
    records = [_record("lddu", 0, 0.5, dataset="cmu-mosei")]
    text = leaderboard_markdown(records, "cmu-mosei", with_reported=True)
    assert "Reported in papers (not reproduced here)" in text and "LDDU (reported)" in text
    assert "swapped P and R" in text
    header = next(line for line in text.split("## Reported in papers", 1)[1].splitlines() if "| method" in line)
    assert "P (as printed)" in header and "R (as printed)" in header
    assert "the printed P is the true recall" in text


def test_footer_says_what_a_seed_varies_and_never_prints_none():
    text = leaderboard_markdown([{**_record("br", 0, 0.5), "git_revision": None}], "d")
    assert "A seed sets only each method's random_state" in text
    assert "None" not in text and "Git revision: not recorded" in text


def test_uncertainty_columns_say_whose_score_they_are():
    from mmerbench.reporting.leaderboard import uncertainty_source_note

    records = [{"method": "lddu", "dataset": "d", "status": "ok", "uncertainty_source": "own"},
               {"method": "br", "dataset": "d", "status": "ok", "uncertainty_source": "entropy"},
               {"method": "mcur", "dataset": "other", "status": "ok", "uncertainty_source": "own"}]
    (note,) = uncertainty_source_note(records, "d", ["mif1", "unc_auroc", "unc_auroc_entropy"])
    assert "own uncertainty (`predict_uncertainty`) where it has one (lddu)" in note and "mcur" not in note
    assert "(H) columns" in note
    (plain,) = uncertainty_source_note(records, "d", ["aurc"])
    assert plain.startswith("AURC:") and "(H)" not in plain
    assert uncertainty_source_note(records, "d", ["mif1", "ece"]) == []
