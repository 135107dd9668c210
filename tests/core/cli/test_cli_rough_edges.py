"""Rough edges a new user hit: CSV columns, per-label CSV, pipes into `head`, reported rows, label names."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.reporting.leaderboard import leaderboard_markdown


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_piping_into_a_reader_that_goes_away_ends_quietly():
    process = subprocess.Popen([sys.executable, "-m", "mmerbench.cli.main", "list"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()  # like `| head -0`: nobody reads, so the first write meets a broken pipe
    _, err = process.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert process.returncode == 0


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory):
    """Two finished br jobs on the testing plugin's tiny data (made once for the module's tests)."""
    from mmerbench.plugins import reset_registry

    results = tmp_path_factory.mktemp("rough-edges") / "r"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin")
        reset_registry()
        mmerbench.run(["br"], ["tiny"], [0], results=results)
        mmerbench.run(["br"], ["tiny"], [0], results=results, settings={"br.estimator": "svc"})
    reset_registry()
    return results


def test_results_csv_has_a_column_per_hyperparameter_and_override(finished_store, capsys):
    assert main(["results", "--format", "csv", "--results", str(finished_store)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2
    assert {row["param.estimator"] for row in rows} == {"logreg", "svc"}
    assert {row["override.estimator"] for row in rows} == {"", "svc"}
    assert all(row["param.random_state"] == "0" for row in rows)


def test_per_label_csv_is_long_format(finished_store, capsys):
    assert main(["results", "--per-label", "--results", str(finished_store)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2 * 2 * 4  # jobs x splits (valid, test) x labels
    assert {row["label"] for row in rows} == {f"emotion_{j}" for j in range(4)}
    assert {row["split"] for row in rows} == {"valid", "test"}
    assert all(0 <= float(row["f1"]) <= 1 for row in rows)


def test_reported_on_a_dataset_without_reported_rows_says_so(finished_store, capsys):
    with mmerbench.store.results.ResultStore(finished_store) as store:
        records = store.records()
    text = leaderboard_markdown(records, "tiny", with_reported=True)
    assert "No reported rows for tiny" in text and "cmu-mosei" in text
    assert main(["leaderboard", "--results", str(finished_store), "--reported", "--format", "csv"]) == 0
    assert "No reported rows for tiny" in capsys.readouterr().err


def test_per_label_scores_are_keyed_by_label_name():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    scores = mmerbench.score(y, y, label_names=["happy", "sad"])
    assert set(scores["per_label"]) == {"happy", "sad"} and scores["per_label"]["sad"]["f1"] == 1.0
    with pytest.raises(ValueError, match="3 names but the labels have 2 columns"):
        mmerbench.score(y, y, label_names=["happy", "sad", "anger"])


def test_list_datasets_includes_imported_tables(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MMERBENCH_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        np.savez(tmp_path / f"{split}.npz", X=rng.normal(size=(20, 3)), Y=rng.integers(0, 2, size=(20, 2)))
    assert main(["list", "datasets"]) == 0
    assert "my-own-table" not in capsys.readouterr().out
    assert main(["data", "import", "table", "my-own-table", "--train", str(tmp_path / "train.npz"),
                 "--test", str(tmp_path / "test.npz"), "--label-columns", "last:2"]) == 0
    capsys.readouterr()
    assert main(["list", "datasets"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "my-own-table" in line)
    assert "available" in line and "imported table" in line


def test_the_end_of_run_table_shows_this_runs_configurations(tmp_path, capsys, testing_plugin):
    results = str(tmp_path / "r")
    assert main(["run", "--methods", "prior", "--datasets", "tiny", "--results", results]) == 0
    capsys.readouterr()
    assert main(["run", "--methods", "br", "--datasets", "tiny", "--results", results]) == 0
    table = capsys.readouterr().out.split("tiny (test split)", 1)[1]
    assert "| br " in table and "| prior " not in table  # the store keeps both: see `leaderboard`
    assert main(["leaderboard", "--results", results]) == 0
    board = capsys.readouterr().out
    assert "| br " in board and "| prior " in board


def test_collapse_is_a_constant_prediction():
    from mmerbench.execution.collapse import collapse_warning

    names = ["happy", "sad"]
    assert "every test sample is predicted {happy}" in collapse_warning(np.array([[1, 0]] * 5), names)
    assert "predicted no label" in collapse_warning(np.zeros((3, 2)), names)
    assert collapse_warning(np.array([[1, 0], [1, 1]]), names) is None
    assert collapse_warning(np.array([[1, 0]]), names) is None  # one sample says nothing


def test_a_collapsed_deep_job_is_flagged_in_its_record_and_the_summary(tmp_path, capsys, testing_plugin):
    assert main(["run", "--methods", "bias-only,br", "--datasets", "tiny", "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "1 job(s) finished with a warning:" in out and "bias-only on tiny seed 0: collapsed model" in out
    with mmerbench.store.results.ResultStore(tmp_path / "r") as store:
        records = {record["method"]: record for record in store.records()}
    assert records["bias-only"]["warnings"][0].startswith("collapsed model")
    assert not records["br"].get("warnings")  # a classical job is not checked; br learns on tiny anyway
