"""Read-only commands never modify the store; malformed rows are skipped by key; a duplicate plugin is one broken plugin."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.usefixtures("testing_plugin")


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory):
    """A store with two finished jobs (prior and br on tiny, seed 0), made once for the module."""
    from mmerbench.plugins import reset_registry

    os.environ["MMERBENCH_PLUGINS"] = "mmerbench_test_plugins.plugin"
    reset_registry()
    from mmerbench.execution.runner import plan
    from mmerbench.execution.job_order import JobOrder
    from mmerbench.execution.worker import run_job

    results = tmp_path_factory.mktemp("finished")
    jobs, _ = plan(["prior", "br"], ["tiny"], [0])
    with ResultStore(results) as store:  # the worker function in this process: no spawn, fast
        for job in jobs:
            record = run_job(JobOrder(job.to_dict(), str(results), 1, "cpu"))
            assert record["status"] == "ok", record["error"]
            store.put(record)
    return results


def _copy(store, tmp_path):
    import shutil

    target = tmp_path / "results"
    shutil.copytree(store, target)
    return target


def _snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _sql(results, *statements):
    connection = sqlite3.connect(results / "results.sqlite")
    with connection:
        for statement, arguments in statements:
            connection.execute(statement, arguments)
    connection.close()


READ_ONLY_COMMANDS = [
    ["results"],
    ["results", "--format", "csv"],
    ["leaderboard"],
    ["leaderboard", "--format", "json"],
    ["run", "--methods", "prior,br", "--datasets", "tiny", "--dry-run"],
    ["report", "--out", "REPORT_OUT"],  # the report is written outside the results folder
    ["site", "--out", "REPORT_OUT"],  # so is the site
]


@pytest.mark.parametrize("command", READ_ONLY_COMMANDS, ids=lambda c: " ".join(c[:3]))
def test_read_only_commands_never_modify_even_a_damaged_store(finished_store, tmp_path, capsys, command):
    results = _copy(finished_store, tmp_path)
    # Damage: the schema-version row is gone (a read-write open would write it back).
    _sql(results, ("DELETE FROM meta", ()))
    before = _snapshot(results)
    command = [str(tmp_path / "report-out") if part == "REPORT_OUT" else part for part in command]
    assert main([*command, "--results", str(results)]) == 0, capsys.readouterr().err
    assert _snapshot(results) == before


def test_malformed_rows_are_reported_by_key_and_skipped(finished_store, tmp_path, capsys):
    results = _copy(finished_store, tmp_path)
    with ResultStore(results) as store:
        good = store.records()
    _sql(results,
         ("INSERT INTO jobs VALUES ('badjson', 'ok', 'prior', 'tiny', 5, '', ?)", ('{"key": "badjson", "metr',)),
         ("INSERT INTO jobs VALUES ('nometrics', 'ok', 'prior', 'tiny', 6, '', ?)",
          (json.dumps({**good[0], "key": "nometrics", "seed": 6, "metrics": None}),)),
         ("INSERT INTO jobs VALUES ('notanobject', 'failed', 'prior', 'tiny', 7, '', '[1, 2]')", ()))
    for command in (["results"], ["leaderboard"], ["leaderboard", "--dataset", "tiny", "--format", "csv"]):
        assert main([*command, "--results", str(results)]) == 0
        captured = capsys.readouterr()
        assert "mmerbench: warning: skipped row badjson of" in captured.err
        assert "its record is not valid JSON" in captured.err
        assert "skipped row nometrics of" in captured.err and "lacks metrics.test" in captured.err
        assert "skipped row notanobject of" in captured.err and "JSON list, not an object" in captured.err
        assert "Traceback" not in captured.err
    main(["results", "--results", str(results)])
    assert sorted(r["key"] for r in json.loads(capsys.readouterr().out)) == sorted(r["key"] for r in good)


def test_a_malformed_finished_row_is_not_finished_and_a_rerun_replaces_it(finished_store, tmp_path):
    results = _copy(finished_store, tmp_path)
    with ResultStore(results) as store:
        key = next(r["key"] for r in store.records() if r["method"] == "prior")
    _sql(results, ("UPDATE jobs SET record = '{truncated' WHERE key = ?", (key,)))
    with pytest.warns(UserWarning, match="skipped row"):
        rerun = mmerbench.run(["prior", "br"], ["tiny"], [0], results=results)
    assert [r["key"] for r in rerun.records] == [key] and len(rerun.skipped) == 1
    with ResultStore(results, read_only=True) as store:
        assert store.get(key)["status"] == "ok"


DUPLICATING_PLUGIN = '''
import mmerbench

@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset("dup-extra-data", loader="mmerbench.testing.fixtures:make_tiny_dataset", generated=True)

@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method("br", "elsewhere:Thing", version="1")
'''


def test_a_plugin_registering_an_existing_name_is_listed_broken_and_the_rest_works(tmp_path):
    (tmp_path / "dup_plugin_xyz.py").write_text(DUPLICATING_PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]]), "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin,dup_plugin_xyz"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", *args], capture_output=True, text=True,
                              env=env, timeout=300)

    listing = cli("list")
    assert listing.returncode == 0, listing.stderr
    assert "Broken plugins (not loaded):" in listing.stdout
    broken_line = next(line for line in listing.stdout.splitlines() if line.strip().startswith("dup_plugin_xyz:"))
    assert "mmerbench_methods.classical.plugin" in broken_line and "dup_plugin_xyz (elsewhere:Thing)" in broken_line
    assert "dup-extra-data" not in listing.stdout  # the broken plugin is skipped as a whole
    assert "[mmerbench_methods.classical.plugin]" in listing.stdout  # br, cc, lp still listed
    dry = cli("run", "--methods", "br,prior", "--datasets", "tiny", "--dry-run", "--results", str(tmp_path / "r"))
    assert dry.returncode == 0, dry.stderr
