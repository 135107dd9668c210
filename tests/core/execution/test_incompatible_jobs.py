"""A method whose ``requires`` the dataset cannot meet is caught at planning: shown, not run, reported once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import mmerbench
from mmerbench.compatibility import incompatibility
from mmerbench.execution.runner import plan
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.usefixtures("testing_plugin")


def test_requirements_are_read_from_requires():
    steps = {"text": 50, "audio": 500}
    assert incompatibility({}, ["text", "audio"], steps) is None
    assert incompatibility({"modalities": ("text",)}, ["text", "audio"], steps) is None
    assert incompatibility({"modalities": ("text",)}, ["features"], {"features": 1}) == "needs text"
    assert incompatibility({"modalities": ("text", "vision")}, ["text"], {"text": 5}) == "needs vision"
    assert incompatibility({"sequences": True}, ["features"], {"features": 1}).startswith("needs sequences")
    assert incompatibility({"sequences": True}, ["a", "b"], {"a": 1, "b": 3}) is None


def test_planning_marks_jobs_the_data_cannot_feed():
    jobs, notes = plan(["sgm", "prior"], ["tiny-table", "tiny"], [0, 1])
    marks = {(job.method, job.dataset, job.seed): job.incompatible for job in jobs}
    assert marks[("sgm", "tiny-table", 0)] == marks[("sgm", "tiny-table", 1)] == "needs text"
    assert marks[("sgm", "tiny", 0)] is None and marks[("prior", "tiny-table", 0)] is None


def test_incompatible_jobs_are_never_run_nor_retried(tmp_path):
    results = tmp_path / "r"
    first = mmerbench.run(["sgm", "prior"], ["tiny-table"], [0, 1], results=results)
    assert [job.method for job in first.incompatible] == ["sgm", "sgm"]
    assert {r["method"] for r in first.records} == {"prior"} and not first.failed
    with ResultStore(results) as store:
        assert {r["method"] for r in store.records()} == {"prior"}  # nothing stored for sgm, not even a failure
    again = mmerbench.run(["sgm", "prior"], ["tiny-table"], [0, 1], results=results)
    assert not again.records and len(again.skipped) == 2 and len(again.incompatible) == 2


def _cli(*args):
    env = {**os.environ, "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin"}
    return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_shows_them_in_dry_run_reports_them_once_and_exits_0(tmp_path):
    args = ["run", "--methods", "sgm,prior", "--datasets", "tiny-table", "--seeds", "0,1",
            "--results", str(tmp_path / "r")]
    dry = _cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("[incompatible: needs text]") == 2 and dry.stdout.count("[to run]") == 2
    ran = _cli(*args)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "4 jobs planned: 2 to run, 0 already done, 2 incompatible (not run)" in ran.stdout
    assert ran.stdout.count("sgm on tiny-table: needs text (seeds 0, 1)") == 1
    assert "incompatible jobs alone do not make the run fail" in ran.stdout
    assert "no GPU found" not in ran.stdout  # no preset note for a method that will not run


def test_fitting_directly_applies_the_same_rule(tiny_dataset):
    from mmerbench.errors import UsageError
    from mmerbench_test_plugins.plugin import load_tiny_table

    table = load_tiny_table()
    method = mmerbench.make_method("sgm", **mmerbench.api.method_class("sgm").test_params)
    with pytest.raises(UsageError, match="it needs text; the data has modalities"):
        method.fit(table.train, table.valid)
