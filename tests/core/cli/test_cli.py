"""The command line end to end on the built-in synthetic data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SMALL = ["--set", "synthetic.n_train=300", "--set", "synthetic.n_valid=100", "--set", "synthetic.n_test=150"]


def cli(*args, cwd=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=dict(os.environ))


def test_run_prints_a_table_and_publishes_a_leaderboard(tmp_path):
    results = tmp_path / "results"
    ran = cli("run", "--methods", "br,cc", "--seeds", "0,1", "--jobs", "2", *SMALL, "--results", str(results))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "4 jobs planned: 4 to run, 0 already done" in ran.stdout
    assert "synthetic (test split)" in ran.stdout
    header = next(line for line in ran.stdout.splitlines() if line.startswith("| method"))
    for column in ("Acc", "P", "R", "miF1", "maF1", "HL", "SubsetAcc"):
        assert f" {column} " in header
    assert "| br " in ran.stdout and "| cc " in ran.stdout and "±" in ran.stdout

    records = json.loads(cli("results", "--results", str(results)).stdout)
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    assert all(r["dataset_params"]["n_train"] == 300 for r in records)
    # every record's command reproduces it: re-running it finds the job done
    again = subprocess.run(records[0]["command"].replace("mmerbench", f"{sys.executable} -m mmerbench.cli.main", 1).split()
                           + ["--results", str(results)], capture_output=True, text=True, timeout=300)
    assert "1 jobs planned: 0 to run, 1 already done" in again.stdout, again.stdout + again.stderr

    published = cli("leaderboard", "--results", str(results), "--publish", "--output-dir", str(tmp_path / "lb"))
    assert published.returncode == 0, published.stderr
    text = (tmp_path / "lb" / "synthetic.md").read_text()
    assert "| br " in text and "## Provenance" in text and "fingerprint" in text

    csv_rows = cli("results", "--results", str(results), "--format", "csv").stdout.splitlines()
    assert len(csv_rows) == 5 and "test_mif1" in csv_rows[0]


def test_leaderboard_without_results_is_a_clear_error(tmp_path):
    result = cli("leaderboard", "--results", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert "no results store at" in result.stderr


def test_list_shows_availability():
    result = cli("list", "datasets")
    assert result.returncode == 0
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("synthetic "))
    assert "available" in line


def test_data_import_help_lists_importable_datasets():
    result = cli("data", "import", "--help")
    assert result.returncode == 0, result.stderr
    assert "importable datasets:" in result.stdout and "cmu-mosei" in result.stdout and "mulan-emotions" in result.stdout
    specific = cli("data", "import", "cmu-mosei", "--help")
    assert specific.returncode == 0 and "train_valid_test.pt" in specific.stdout
