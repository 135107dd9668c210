"""The runner and the results store: keys, resume, failures, crashes, bad paths."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import mmerbench
from mmerbench.errors import StoreError, UnknownNameError, UsageError
from mmerbench.execution.planning import Job, job_key
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.usefixtures("testing_plugin")

REQUIRED_RECORD_KEYS = {
    "key", "method", "method_version", "dataset", "dataset_fingerprint", "seed", "status", "error", "params",
    "preset", "threshold_policy", "threshold", "metrics", "per_label", "curve", "fit_seconds", "predict_seconds",
    "peak_rss_mb", "device", "versions", "git_revision", "command",
}


def cli(*args, env=None, timeout=300):
    full_env = {**os.environ, "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin", **(env or {})}
    return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def test_run_records_every_job_and_resumes(tmp_path):
    results = tmp_path / "results"
    first = mmerbench.run(["prior", "br"], ["tiny"], [0, 1], results=results)
    assert len(first.records) == 4 and not first.failed
    with ResultStore(results) as store:
        records = store.records()
    assert len(records) == 4 and len({r["key"] for r in records}) == 4
    record = records[0]
    assert REQUIRED_RECORD_KEYS <= set(record)
    assert set(record["metrics"]) == {"valid", "test"}
    assert {"acc", "p", "r", "mif1", "maf1", "hamming", "subset_acc"} <= set(record["metrics"]["test"])
    assert set(record["per_label"]["test"]) == {f"emotion_{j}" for j in range(4)}
    assert record["command"].startswith("mmerbench run --methods")
    assert record["peak_rss_mb"] > 10
    with ResultStore(results) as store:
        arrays = store.load_predictions(record["key"])
    assert arrays["test_proba"].shape == (20, 4)

    again = mmerbench.run(["prior", "br"], ["tiny"], [0, 1], results=results)
    assert not again.records and len(again.skipped) == 4
    forced = mmerbench.run(["prior"], ["tiny"], [0], results=results, resume=False)
    assert len(forced.records) == 1
    with ResultStore(results) as store:
        assert len(store.records()) == 4  # replaced, not duplicated


def test_same_seed_same_result_on_cpu(tmp_path):
    a = mmerbench.run(["br"], ["tiny"], [3], results=tmp_path / "a").records[0]
    b = mmerbench.run(["br"], ["tiny"], [3], results=tmp_path / "b").records[0]
    assert a["key"] == b["key"]
    assert a["metrics"] == b["metrics"]


def _job(**changes):
    base = dict(method="br", method_version="1", dataset="d", dataset_params={}, dataset_fingerprint="f", seed=0,
                params={"estimator": "logreg", "device": "auto", "threshold": "valid"}, preset=None, overrides={},
                threshold_policy="valid")
    base.update(changes)
    return Job(**base)


def test_job_key_covers_what_changes_results_and_nothing_else():
    key = job_key(_job())
    assert job_key(_job()) == key
    assert job_key(_job(method_version="2")) != key
    assert job_key(_job(seed=1)) != key
    assert job_key(_job(dataset_fingerprint="g")) != key
    assert job_key(_job(params={"estimator": "svc", "device": "auto", "threshold": "valid"})) != key
    assert job_key(_job(threshold_policy="published")) != key
    assert job_key(_job(params={"estimator": "logreg", "device": "cuda", "threshold": "valid"})) == key
    assert job_key(_job(command="anything", notes=["x"])) == key


def test_a_failing_job_is_recorded_and_others_go_on(tmp_path):
    result = cli("run", "--methods", "failing,prior", "--datasets", "tiny", "--results", str(tmp_path))
    assert result.returncode == 1
    assert "failing on tiny seed 0: RuntimeError: deliberate failure in fit" in result.stderr
    with ResultStore(tmp_path) as store:
        records = {r["method"]: r for r in store.records()}
    assert records["prior"]["status"] == "ok"
    assert records["failing"]["status"] == "failed"
    assert "deliberate failure" in records["failing"]["traceback"]
    # failed jobs are retried on re-run; finished ones are not
    again = mmerbench.run(["failing", "prior"], ["tiny"], [0], results=tmp_path)
    assert [r["method"] for r in again.records] == ["failing"]


def test_cpu_preset_is_selected_without_a_gpu_and_recorded(tmp_path):
    outcome = mmerbench.run(["sleepy", "prior"], ["tiny"], [0], results=tmp_path)
    sleepy = next(r for r in outcome.records if r["method"] == "sleepy")
    assert sleepy["preset"] == "cpu" and sleepy["params"]["seconds"] == 0.01
    assert any("selected the 'cpu' preset of sleepy (run with --preset paper" in note for note in outcome.notes)
    explicit = mmerbench.run(["sleepy", "prior"], ["tiny"], [0], results=tmp_path, preset="paper")
    sleepy = next(r for r in explicit.records if r["method"] == "sleepy")
    assert sleepy["preset"] == "paper" and sleepy["params"]["seconds"] == 0.5
    assert any("prior keep their defaults" in note for note in explicit.notes)


def test_settings_are_checked(tmp_path):
    with pytest.raises(UsageError, match="not a method or dataset of this run. Methods: prior; datasets: tiny"):
        mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, settings={"br.estimator": "svc"})
    with pytest.raises(UsageError, match="Valid: smoothing, threshold, random_state"):
        mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, settings={"prior.smoothin": 1.0})
    with pytest.raises(UsageError, match="prior.smoothing must be a number"):
        mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, settings={"prior.smoothing": "lots"})
    with pytest.raises(UsageError, match="dataset tiny.n_train must be an integer"):
        mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, settings={"tiny.n_train": 1.5})
    with pytest.raises(UnknownNameError, match="Unknown preset 'papper'"):
        mmerbench.run(["sleepy"], ["tiny"], [0], results=tmp_path, preset="papper")


def test_set_on_the_command_line_parses_json_and_reaches_the_dataset(tmp_path):
    result = cli("run", "--methods", "prior", "--datasets", "tiny", "--set", "tiny.n_train=60",
                 "--set", "prior.smoothing=1", "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = json.loads(cli("results", "--results", str(tmp_path)).stdout)[0]
    assert record["dataset_params"] == {"n_train": 60}
    assert record["params"]["smoothing"] == 1.0
    assert "--set prior.smoothing=1 " in record["command"] and "--set tiny.n_train=60" in record["command"]


def test_dry_run_lists_jobs_and_creates_nothing(tmp_path):
    results = tmp_path / "never"
    result = cli("run", "--methods", "prior,br", "--datasets", "tiny", "--seeds", "0,1", "--dry-run",
                 "--results", str(results))
    assert result.returncode == 0, result.stderr
    assert "4 jobs (0 already done)" in result.stdout and result.stdout.count("[to run]") == 4
    assert not results.exists()


def test_config_file(tmp_path):
    config = tmp_path / "bench.toml"
    config.write_text('methods = "prior"\ndatasets = ["tiny"]\nseeds = [0, 1]\n'
                      f'results = "{tmp_path / "r"}"\n[set.prior]\nsmoothing = 2\n')
    result = cli("run", "--config", str(config), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "2 jobs" in result.stdout and "--set prior.smoothing=2" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("methodz = 'prior'\n")
    result = cli("run", "--config", str(bad))
    assert result.returncode == 2 and "unknown setting(s) ['methodz']" in result.stderr


def test_results_path_under_a_regular_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    result = cli("run", "--methods", "prior", "--datasets", "tiny", "--results", str(blocker / "results"))
    assert result.returncode != 0
    assert "cannot create the results directory" in result.stderr and "is not a directory" in result.stderr
    assert blocker.read_text() == "not a directory"


def test_corrupted_store_is_refused_and_left_untouched(tmp_path):
    store_file = tmp_path / "results.sqlite"
    garbage = b"definitely not sqlite " * 200
    store_file.write_bytes(garbage)
    result = cli("run", "--methods", "prior", "--datasets", "tiny", "--results", str(tmp_path))
    assert result.returncode != 0
    assert "not a readable results store" in result.stderr and "nothing was changed" in result.stderr
    assert store_file.read_bytes() == garbage
    with pytest.raises(StoreError):
        ResultStore(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    connection = sqlite3.connect(other / "results.sqlite")
    connection.execute("CREATE TABLE unrelated (x)")
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match="not an mmerbench results store"):
        ResultStore(other)


def _assert_store_consistent(results) -> list[dict]:
    with ResultStore(results) as store:
        records = store.records()
        for record in records:
            if record["status"] == "ok":
                assert store.load_predictions(record["key"])["test_proba"].shape[0] == 20
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys))
    return records


@pytest.mark.parametrize("point", ["before-commit", "after-commit"])
def test_injected_crash_leaves_a_readable_store(tmp_path, point):
    args = ("run", "--methods", "prior", "--datasets", "tiny", "--seeds", "0,1", "--results", str(tmp_path))
    crashed = cli(*args, env={"MMERBENCH_TEST_CRASH_AT": point})
    assert crashed.returncode == 137
    records = _assert_store_consistent(tmp_path)
    assert len(records) == (0 if point == "before-commit" else 1)
    finished = cli(*args)
    assert finished.returncode == 0, finished.stderr
    assert len(_assert_store_consistent(tmp_path)) == 2


def test_kill_9_mid_run_keeps_every_finished_job_exactly_once(tmp_path):
    args = [sys.executable, "-m", "mmerbench.cli.main", "run", "--methods", "sleepy", "--datasets", "tiny",
            "--seeds", "0,1,2,3,4,5", "--preset", "paper", "--set", "sleepy.seconds=1.0", "--results", str(tmp_path)]
    env = {**os.environ, "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin"}
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if (tmp_path / "results.sqlite").exists():
                with ResultStore(tmp_path) as store:
                    if len(store.records()) >= 2:
                        break
            time.sleep(0.2)
        else:
            pytest.fail("the run never finished two jobs")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    killed_with = len(_assert_store_consistent(tmp_path))
    assert 2 <= killed_with < 6
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{6 - killed_with} to run, {killed_with} already done" in rerun.stdout
    assert len(_assert_store_consistent(tmp_path)) == 6


def test_worker_epoch_reports_reach_the_plain_display():
    import io

    from mmerbench.cli.display import PlainProgress
    from mmerbench.execution.runner import _progress

    stream = io.StringIO()
    on_event = _progress(PlainProgress(stream))  # what the pool calls with each event a job sends
    on_event(0, {"job": "lddu on tiny seed 0", "kind": "epoch", "epoch": 2, "epochs": 5, "train_loss": 0.5,
                 "valid_mif1": 0.25})
    assert "lddu on tiny seed 0: epoch 2/5, loss 0.5000, valid miF1@0.5 0.250" in stream.getvalue()
