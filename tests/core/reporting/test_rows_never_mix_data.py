"""Jobs on different versions of a dataset's data never share a row, a mean, a bold cell or a mark (issue 27)."""

from __future__ import annotations

import json

import numpy as np

from mmerbench.cli.main import main
from mmerbench.evaluation.metrics import score
from mmerbench.reporting.leaderboard import build_rows, leaderboard_markdown, render
from mmerbench.reporting.marks import MARK
from mmerbench.store.results import ResultStore

BIG = {"n_train": 600, "n_valid": 200, "n_test": 400}
SMALL = {"n_train": 300, "n_valid": 100, "n_test": 200}


def _store_job(store, method, seed, params, flip):
    """One finished job on synthetic data of ``params``, its predictions flipped at rate ``flip``."""
    rng = np.random.default_rng(params["n_test"])
    y = rng.integers(0, 2, (params["n_test"], 4))  # the same test labels for every job on these params
    wrong = np.random.default_rng(seed + 100 * int(flip * 100)).random(y.shape) < flip
    proba = (np.where(wrong, 1 - y, y) * 0.8 + 0.1).astype("float32")
    metrics = score(y, (proba > 0.5).astype(np.uint8))
    metrics.pop("per_label")
    fingerprint = f"fp-{params['n_test']}"
    key = f"{method}-{fingerprint}-{seed}"
    store.put({"key": key, "method": method, "method_version": "1", "dataset": "synthetic",
               "dataset_params": params, "dataset_fingerprint": fingerprint, "dataset_file_fingerprint": fingerprint,
               "seed": seed, "status": "ok", "preset": None, "overrides": {}, "threshold_policy": "valid",
               "threshold": 0.5, "metrics": {"test": metrics}, "versions": {}, "git_revision": None,
               "device": "cpu", "command": "mmerbench run", "finished_at": "now"})
    store.save_predictions(key, {"test_proba": proba, "test_labels": y.astype("uint8")})
    return metrics["mif1"]


def _results(tmp_path):
    """The issue's case: br on the big data (good) and on the small data (bad); cc only on the big data."""
    scores = {}
    with ResultStore(tmp_path) as store:
        for seed in (0, 1):
            scores.setdefault("br big", []).append(_store_job(store, "br", seed, BIG, 0.05))
            scores.setdefault("br small", []).append(_store_job(store, "br", seed, SMALL, 0.45))
            scores.setdefault("cc big", []).append(_store_job(store, "cc", seed, BIG, 0.10))
        records = store.records()
    return records, scores


def test_jobs_on_different_data_are_different_rows_named_by_what_differs(tmp_path):
    records, scores = _results(tmp_path)
    rows = {row.label: row for row in build_rows(records, "synthetic")}
    big, small = "n_test=400, n_train=600, n_valid=200", "n_test=200, n_train=300, n_valid=100"
    assert set(rows) == {f"br ⟨data: {big}⟩", f"br ⟨data: {small}⟩", f"cc ⟨data: {big}⟩"}
    assert rows[f"br ⟨data: {big}⟩"].values["mif1"] == scores["br big"]  # never the mean over both
    assert rows[f"br ⟨data: {small}⟩"].values["mif1"] == scores["br small"]
    # one version of the data: labels stay as they were
    only_big = [r for r in records if r["dataset_params"] == BIG]
    assert {row.label for row in build_rows(only_big, "synthetic")} == {"br", "cc"}


def test_no_bold_or_mark_spans_two_versions_of_the_data(tmp_path):
    records, _ = _results(tmp_path)
    text = leaderboard_markdown(records, "synthetic", results_dir=tmp_path, metrics=["mif1"])
    assert text.count("## Data: ") == 2 and "2 different versions of synthetic's data" in text
    tables = {part.split(",")[0]: part for part in text.split("## Data: ")[1:3]}
    big_table, small_table = tables["n_test=400"], tables["n_test=200"]
    assert "**" in big_table  # br beats cc on the big data
    small_rows = [line for line in small_table.splitlines() if line.startswith("| br")]
    assert len(small_rows) == 1 and "**" not in small_rows[0] and MARK not in small_rows[0]  # alone: nothing to beat
    assert "Data n_test=400, n_train=600, n_valid=200: † best miF1 (br ⟨data: n_test=400" in text
    # the table of `mmerbench run` (one table): bold per version of the data, never across
    plain = render(build_rows(records, "synthetic"), "markdown", ["mif1"])
    assert sum("**" in line for line in plain.splitlines()) == 1


def test_json_says_which_data_a_row_ran_on(tmp_path, capsys):
    _results(tmp_path)
    assert main(["leaderboard", "--results", str(tmp_path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(row["data"] for row in rows) == ["n_test=200, n_train=300, n_valid=100",
                                                   "n_test=400, n_train=600, n_valid=200",
                                                   "n_test=400, n_train=600, n_valid=200"]
    small = next(row for row in rows if row["data"].startswith("n_test=200"))
    assert "significance" not in small  # nothing on its data to compare with


def test_same_parameters_on_other_data_are_told_apart_by_fingerprint():
    def record(seed, fingerprint):
        return {"key": f"k{seed}{fingerprint}", "method": "br", "method_version": "1", "dataset": "d",
                "dataset_params": {}, "dataset_fingerprint": fingerprint, "seed": seed, "status": "ok",
                "metrics": {"test": {"mif1": 0.5}}}

    rows = build_rows([record(0, "aaaaaaaaaaaa"), record(1, "bbbbbbbbbbbb")], "d")
    assert [row.label for row in rows] == ["br ⟨data: fingerprint aaaaaaaa⟩", "br ⟨data: fingerprint bbbbbbbb⟩"]
