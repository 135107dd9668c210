"""Robustness tables: MultiBench's relative / effective robustness and the leaderboard's tables."""

from __future__ import annotations

import csv
import hashlib
import io
import re

import pytest

from mmerbench.cli.main import main
from mmerbench.evaluation.robustness import effective_robustness, relative_robustness
from mmerbench.reporting.robustness_tables import robustness_markdown
from mmerbench.reporting.leaderboard import leaderboard_markdown
from mmerbench.store.results import ResultStore


def test_relative_robustness_is_the_area_under_the_curve_over_the_range():
    assert relative_robustness([0, 0.5, 1.0], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    # uneven levels: trapezoids (0.8+0.6)/2*0.1 + (0.6+0.2)/2*0.4 = 0.07 + 0.16, over the range 0.5
    assert relative_robustness([0, 0.1, 0.5], [0.8, 0.6, 0.2]) == pytest.approx(0.23 / 0.5)


def test_effective_robustness_compares_with_the_reference_shifted_to_the_same_clean_score():
    # reference shifted up by 0.3: [0.8, 0.7, 0.6]; gaps at the imperfect levels -0.1 and -0.2
    assert effective_robustness([0.8, 0.6, 0.4], [0.5, 0.4, 0.3]) == pytest.approx(-0.15)
    assert effective_robustness([0.5, 0.4, 0.3], [0.5, 0.4, 0.3]) == pytest.approx(0.0)


def record(method, seed, clean, conditions, errors=None):
    metrics = {"test": {"mif1": clean, "ece": 0.1 if method == "br" else 0.05}}
    metrics.update({name: {"mif1": value} for name, value in conditions.items()})
    return {"key": hashlib.sha256(f"{method}-{seed}".encode()).hexdigest()[:20], "method": method, "method_version": "1", "dataset": "d",
            "dataset_fingerprint": "fp", "seed": seed, "status": "ok", "preset": None, "overrides": {},
            "threshold_policy": "valid", "threshold": 0.5, "metrics": metrics, "condition_errors": errors or {},
            "versions": {}, "device": "cpu", "command": "mmerbench run"}


RECORDS = [
    record("br", 0, 0.6, {"test@text": 0.5, "test@audio": 0.2, "test@text+audio": 0.6, "test@missing-mean": 0.4333,
                          "test@missing-rate=0.5": 0.4, "test@noise=1:all": 0.5, "test@noise=2:all": 0.3}),
    record("lddu", 0, 0.7, {"test@text": 0.6, "test@audio": 0.3, "test@text+audio": 0.7, "test@missing-mean": 0.5333,
                            "test@missing-rate=0.5": 0.6, "test@noise=1:all": 0.65, "test@noise=2:all": 0.6}),
    record("lddu", 1, 0.8, {"test@text": 0.8, "test@audio": 0.3, "test@text+audio": 0.8, "test@missing-mean": 0.6333,
                            "test@missing-rate=0.5": 0.6, "test@noise=1:all": 0.75, "test@noise=2:all": 0.6},
           errors={"test@vision": "lddu requires modality vision"}),
]


def lines_of(text: str, label: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"| {label} ")]


def test_tables_show_each_condition_with_mean_std_and_the_robustness_summaries():
    text = robustness_markdown(RECORDS, "d")
    assert "| method | text | audio | text+audio | mean |" in re.sub(" +", " ", text)
    combos, rate, noise = lines_of(text, "lddu")
    assert "0.700 ± 0.141" in combos  # text: mean and sample std of 0.6 and 0.8
    # noise on all, lddu mean curve: 0.75, 0.70, 0.60 over levels 0, 1, 2
    assert f"{relative_robustness([0, 1, 2], [0.75, 0.7, 0.6]):.3f}" in noise
    # br's curve is 0.6, 0.5, 0.3; shifted to 0.75: 0.75, 0.65, 0.45 -> gaps 0.05, 0.15
    assert f"{effective_robustness([0.75, 0.7, 0.6], [0.6, 0.5, 0.3]):+.3f}" == "+0.100"
    assert "+0.100" in noise
    assert "+0.000" in lines_of(text, "br")[2]
    assert "lddu vision" in text  # the condition it could not take is listed
    assert robustness_markdown(RECORDS, "d", reference="mult").count("absent from this table") == 1
    assert robustness_markdown([record("br", 0, 0.6, {})], "d") == ""


def test_leaderboard_shows_robustness_tables_and_new_metrics(tmp_path, capsys):
    assert "## Robustness (test mif1" in leaderboard_markdown(RECORDS, "d")
    results = tmp_path / "results"
    with ResultStore(results) as store:
        for r in RECORDS:
            store.put(r)
    assert main(["leaderboard", "--results", str(results), "--metrics", "mif1,ece"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\| miF1 +\| ECE +\|", out)
    assert "**0.050" in out  # lower ECE is better: lddu's 0.05 is bold
    assert main(["results", "--results", str(results), "--format", "csv"]) == 0
    rows = {(row["method"], row["seed"]): row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["br", "0"]["test@text+audio_mif1"] == "0.6" and rows["lddu", "1"]["test_ece"] == "0.05"


def test_an_unknown_metric_name_is_a_clear_error(tmp_path, capsys):
    results = tmp_path / "results"
    with ResultStore(results) as store:
        for r in RECORDS:
            store.put(r)
    assert main(["leaderboard", "--results", str(results), "--metrics", "mif1,ecee"]) == 2
    err = capsys.readouterr().err
    assert "unknown metric 'ecee'" in err and "Did you mean: ece?" in err


def shares(complete, dropped, by_modality):
    return {"complete": complete, "none": 0.0, "dropped": dropped, "dropped_by_modality": by_modality}


def with_info(rec, info):
    rec["condition_info"] = info
    rec["protocol_version"] = 2
    rec["protocols"] = sorted({i["protocol"] for i in info.values()})
    return rec


PER_MODALITY = "test@missing-rate:text=0.5,audio=0.1"
SEEDS = "test@missing-rate=0.3@seeds=4"
INFO = {
    "test@missing-rate=0.5": {"protocol": "missing-rate:0.1,0.5", **shares(0.20, 0.45, {"text": 0.4, "audio": 0.5})},
    PER_MODALITY: {"protocol": "missing-rate:text=0.5,audio=0.1", **shares(0.45, 0.29, {"text": 0.48, "audio": 0.1})},
    "test@missing-modality:audio": {"protocol": "missing-modality:audio", **shares(0.0, 0.5, {"text": 0, "audio": 1})},
    SEEDS: {"protocol": "missing-rate:0.3@seeds=4", **shares(0.50, 0.28, {"text": 0.3, "audio": 0.26})},
}


def test_each_protocol_is_named_as_written_with_the_realised_missingness_under_its_table():
    extra = {PER_MODALITY: 0.55, "test@missing-modality:audio": 0.5, SEEDS: 0.5}
    records = [with_info(record("br", 0, 0.6, {"test@missing-rate=0.5": 0.4, **extra}), INFO),
               with_info(record("lddu", 0, 0.7, {"test@missing-rate=0.5": 0.6, **extra}), INFO)]
    text = robustness_markdown(records, "d")
    # the pattern conditions are not taken for modality combinations of `missing`
    assert "Modalities present at test time" not in text
    assert "`missing-rate:text=0.5,audio=0.1`" in text and "`missing-modality:audio`" in text
    assert "Missing rate (`missing-rate:0.1,0.5`; level: nominal drop rate" in text
    assert "Missing rate, 4 drop patterns averaged (`missing-rate:0.3@seeds=4`;" in text
    assert "0.5: 20.0% of samples with every modality, 0.0% with none, 45.0% of modalities dropped" in text
    assert "`missing-rate:text=0.5,audio=0.1`: 45.0% of samples with every modality" in text
    assert "(text 48.0%, audio 10.0%)" in text


def test_realised_shares_are_averaged_over_seeds_once_per_seed():
    from mmerbench.reporting.robustness_tables import realised_shares

    name = "test@missing-rate=0.5"
    seed0 = {"protocol": "missing-rate:0.5", **shares(0.2, 0.4, {"text": 0.4})}
    seed1 = {"protocol": "missing-rate:0.5", **shares(0.4, 0.5, {"text": 0.6})}
    records = [with_info(record("br", 0, 0.6, {name: 0.4}), {name: seed0}),
               with_info(record("cc", 0, 0.6, {name: 0.4}), {name: seed0}),  # the same pattern: counted once
               with_info(record("br", 1, 0.6, {name: 0.4}), {name: seed1})]
    got = realised_shares(records, "d", name)
    assert got["complete"] == pytest.approx(0.3) and got["dropped_by_modality"]["text"] == pytest.approx(0.5)
    assert got["seeds"] == 2
    assert realised_shares([record("br", 0, 0.6, {name: 0.4})], "d", name) is None  # stored before shares existed


def test_a_row_never_run_with_a_protocol_is_named_not_drawn_as_blanks():
    """Tuned rows (run without --protocol) beside rows whose conditions were scored or refused: the refused
    row keeps its line (its blanks say 'refused'), the never-evaluated one is left out and named."""
    refused = record("sgm", 0, 0.55, {}, errors={"test@audio": "sgm requires modality text",
                                                 "test@missing-rate=0.5": "sgm requires modality text"})
    plain = record("cc", 0, 0.58, {})
    text = robustness_markdown(RECORDS + [refused, plain], "d")
    assert lines_of(text, "sgm")  # refused conditions: still a row
    assert not lines_of(text, "cc")
    assert "Rows run without a robustness protocol (not in these tables): cc." in text
