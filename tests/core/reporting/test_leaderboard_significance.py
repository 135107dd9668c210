"""Significance marks, bootstrap intervals and the reported-vs-reproduced gap on leaderboard tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmerbench.cli.main import main
from mmerbench.reporting.leaderboard import build_rows, leaderboard_markdown, reported_rows
from mmerbench.evaluation.metrics import score
from mmerbench.reporting.marks import MARK
from mmerbench.reporting.reported_gap import INCONSISTENT_MARK, annotate_reported, gaps, is_inconsistent
from mmerbench.store.results import ResultStore


def _store_job(store, method, seed, y, proba, dataset="d", threshold=0.5):
    predictions = (proba > threshold).astype(np.uint8)
    metrics = score(y, predictions)
    metrics.pop("per_label")
    key = f"{method}-{dataset}-{seed}"
    record = {"key": key, "method": method, "method_version": "1", "dataset": dataset, "dataset_fingerprint": "fp",
              "seed": seed, "status": "ok", "preset": None, "overrides": {}, "threshold_policy": "valid",
              "threshold": threshold, "metrics": {"test": metrics}, "versions": {}, "git_revision": None,
              "device": "cpu", "command": "mmerbench run", "finished_at": "now"}
    store.put(record)
    store.save_predictions(key, {"test_proba": proba.astype("float32"), "test_labels": y.astype("uint8")})
    return record


@pytest.fixture
def store_dir(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (400, 6))

    def noisy(flip, seed):
        r = np.random.default_rng(seed)
        wrong = r.random(y.shape) < flip
        return np.where(wrong, 1 - y, y) * 0.8 + 0.1  # 0.9 / 0.1, so threshold 0.5 recovers the predictions

    with ResultStore(tmp_path) as store:
        for seed in (0, 1, 2):
            _store_job(store, "good", seed, y, noisy(0.05, seed))
            _store_job(store, "twin", seed, y, noisy(0.05, seed))  # the same predictions as good
            _store_job(store, "bad", seed, y, noisy(0.40, 10 + seed))
    return tmp_path


def _records(directory):
    with ResultStore(directory, create=False) as store:
        return store.records()


def _label_cells(markdown: str) -> dict[str, str]:
    return {line.split("|")[1].strip(): line for line in markdown.splitlines()
            if line.startswith("| ") and not line.startswith("| method")}


def test_mark_on_rows_not_worse_than_the_best_and_footer_explains(store_dir):
    text = leaderboard_markdown(_records(store_dir), "d", results_dir=store_dir)
    labels = set(_label_cells(text))
    assert {f"good {MARK}", f"twin {MARK}", "bad"} == labels
    assert "test `seeds-and-samples`: two-level bootstrap" in text and "the 400 test samples" in text
    assert "Bouthillier" in text and "Holm" in text and "α = 0.05" in text
    assert "reported as < 0.001 when no resample has it" in text
    assert "picked after seeing these same scores, which favours it" in text  # the best row's selection bias
    assert "Mann-Whitney" in text and "Wilcoxon" not in text
    assert "per-sample only" not in text  # three seeds


def test_the_fixed_models_test_is_there_under_its_own_name(store_dir, capsys):
    text = leaderboard_markdown(_records(store_dir), "d", results_dir=store_dir, significance_test="fixed-models")
    assert "test `fixed-models`: paired bootstrap" in text and "ignores the variance of retraining" in text
    assert "seeds-and-samples" not in text
    assert main(["leaderboard", "--results", str(store_dir), "--format", "json", "--significance",
                 "fixed-models"]) == 0
    rows = {row["label"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["bad"]["significance"]["test"] == "fixed-models"


def test_one_seed_says_the_mark_is_per_sample_only(store_dir):
    records = [r for r in _records(store_dir) if r["seed"] == 0]
    text = leaderboard_markdown(records, "d", results_dir=store_dir)
    assert "the mark is per-sample only" in text


def test_rows_with_one_seed_are_named_and_a_lone_row_gets_no_mark(store_dir):
    records = [r for r in _records(store_dir) if r["method"] != "bad" or r["seed"] == 0]
    text = leaderboard_markdown(records, "d", results_dir=store_dir)
    assert "Rows with one seed (bad): their mark is per-sample only" in text
    alone = leaderboard_markdown([r for r in records if r["method"] == "good"], "d", results_dir=store_dir)
    assert MARK not in alone


def test_without_predictions_there_is_no_mark_and_a_note(store_dir):
    (store_dir / "predictions" / "bad-d-0.npz").unlink()
    text = leaderboard_markdown(_records(store_dir), "d", results_dir=store_dir)
    assert "bad: no mark" in text and "bad-d-0.npz is missing" in text
    assert f"good {MARK}" in _label_cells(text)


def test_ci_shows_intervals_around_the_mean(store_dir):
    rows = build_rows(_records(store_dir), "d")
    text = leaderboard_markdown(_records(store_dir), "d", results_dir=store_dir, ci=True, metrics=["mif1", "acc"])
    line = _label_cells(text)["bad"]
    low, high = (float(x) for x in line.split("[")[1].split("]")[0].split(","))
    mean = next(r for r in rows if r.label == "bad").mean("mif1")
    assert low < mean < high and high - low < 0.1
    assert "95% percentile bootstrap interval" in text


def test_json_has_bootstrap_and_per_seed_tests(store_dir, capsys):
    assert main(["leaderboard", "--results", str(store_dir), "--format", "json", "--ci"]) == 0
    rows = {row["label"]: row for row in json.loads(capsys.readouterr().out)}
    bad = rows["bad"]["significance"]
    assert bad["bootstrap_p"] == 0.0 and bad["not_significantly_worse"] is False
    assert bad["test"] == "seeds-and-samples" and bad["p_resolution"] == pytest.approx(0.001)
    assert bad["per_seed"]["n_seeds"] == [3, 3] and bad["per_seed"]["mannwhitney_p"] is not None
    assert bad["per_seed"]["welch_p"] is not None
    assert rows["good"]["mark"] == MARK and len(rows["good"]["ci"]["mif1"]) == 2


def test_reported_gap_column_and_inconsistency_flags():
    aligned = reported_rows("cmu-mosei")
    flagged = {row.method for row in aligned if is_inconsistent(row)}
    assert flagged == {"MulT", "MMS2S", "HHMPN", "LDDU"}
    unaligned = {row.method for row in reported_rows("cmu-mosei-unaligned") if is_inconsistent(row)}
    assert unaligned == {"GPT-4o", "Qwen2-VL-7B", "DFG"}  # DFG: |0.4919 - 0.494| = 0.0021

    ours = build_rows([{"key": "k", "method": "lddu", "method_version": "1", "dataset": "cmu-mosei", "seed": 0,
                        "status": "ok", "preset": "cpu", "threshold": 0.5,
                        "metrics": {"test": {"acc": 0.5, "p": 0.7, "r": 0.5, "mif1": 0.6}}},
                       {"key": "j", "method": "ml-gcn", "method_version": "1", "dataset": "cmu-mosei", "seed": 0,
                        "status": "ok", "threshold": 0.5, "metrics": {"test": {"acc": 0.4, "mif1": 0.5}}}],
                      "cmu-mosei")
    entries = {e["reported"]: e for e in gaps(ours, aligned)}
    assert entries["LDDU (reported)"]["mif1"] == pytest.approx(0.6 - 0.587)
    assert entries["LDDU (reported)"]["acc"] == pytest.approx(0.5 - 0.494)
    assert entries["LDDU (reported)"]["p"] is None  # P/R only in the papers' convention
    assert entries["ML-GCN (reported)"]["mif1"] == pytest.approx(0.5 - 0.509)
    legacy = {e["reported"]: e for e in gaps(ours, aligned, legacy_pr=True)}
    assert legacy["LDDU (reported)"]["p"] == pytest.approx(0.5 - 0.647)  # our R against their printed "P"
    notes = annotate_reported(ours, aligned)
    assert next(r for r in aligned if r.method == "LDDU").mark == INCONSISTENT_MARK
    assert next(r for r in aligned if r.method == "BR").mark == ""
    assert any("MulT (0.030)" in note for note in notes)


def test_reported_markdown_has_gap_table_and_footnote():
    record = {"key": "k", "method": "lddu", "method_version": "1", "dataset": "cmu-mosei", "dataset_fingerprint": "f",
              "seed": 0, "status": "ok", "preset": None, "threshold": 0.5, "threshold_policy": "valid",
              "metrics": {"test": {"acc": 0.5, "p": 0.7, "r": 0.5, "mif1": 0.6}}}
    text = leaderboard_markdown([record], "cmu-mosei", with_reported=True)
    assert "### Gap: ours − reported" in text
    gap_line = next(line for line in text.splitlines() if line.startswith("| lddu ") and "LDDU (reported)" in line)
    assert "+0.013" in gap_line and "+0.006" in gap_line
    assert f"LDDU (reported) {INCONSISTENT_MARK}" in text and "not the harmonic mean" in text
