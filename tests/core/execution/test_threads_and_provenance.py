"""--threads (one per job unless asked, whatever --jobs and cores), and what a job records of its plugins."""

from __future__ import annotations

import pytest

import mmerbench
from mmerbench.config import RunConfig
from mmerbench.errors import UsageError
from mmerbench.execution.executor_options import check_executor_options
from mmerbench.execution.pools import KINDS
from mmerbench.store.results import ResultStore


@pytest.mark.parametrize("executor", ["local", "ray", "slurm"])
@pytest.mark.parametrize("jobs", [1, 2, 16])
def test_threads_per_job_is_the_setting_never_the_cores_or_jobs(executor, jobs):
    kind = KINDS[executor]
    assert kind.threads_per_job(RunConfig(methods=["br"], jobs=jobs, cpus_per_job=4)) == 1
    assert kind.threads_per_job(RunConfig(methods=["br"], jobs=jobs, threads=3, cpus_per_job=4)) == 3


def test_a_crowded_machine_gets_a_note_not_other_numbers():
    config = RunConfig(methods=["br"], jobs=2, threads=2)
    assert "2 jobs x 2 threads > 2 cores" in KINDS["local"].oversubscribed(config, 2, 2)
    assert KINDS["local"].oversubscribed(RunConfig(methods=["br"], jobs=2), 2, 2) is None


def test_threads_is_a_cli_option_a_toml_key_and_checked(tmp_path):
    assert RunConfig.from_mapping({"threads": 2}).threads == 2
    with pytest.raises(UsageError, match="--threads must be at least 1, got 0"):
        RunConfig(methods=["br"], threads=0).checked()
    with pytest.raises(UsageError, match="threads = '2' is a str"):
        RunConfig.from_mapping({"threads": "2"}, "--config f.toml")


def test_a_remote_job_may_not_run_more_threads_than_cpus_it_asks_for():
    with pytest.raises(UsageError, match="--threads 4 is more than the 1 CPU"):
        check_executor_options(RunConfig(methods=["br"], executor="slurm-local", threads=4), 0)


@pytest.fixture
def finished(testing_plugin, tmp_path):
    mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, protocols=["missing"])
    with ResultStore(tmp_path, create=False, read_only=True) as store:
        (record,) = store.records()
    return tmp_path, record


def test_a_record_says_its_threads_versions_and_plugin_sources(finished):
    _, record = finished
    assert record["threads"] == 1 and "--threads 1" in record["command"]
    assert record["dataset_version"] == "1" and record["protocol_versions"] == {"missing": "1"}
    method, dataset = record["method_source"], record["dataset_source"]
    assert method["distribution"] == "mmerbench" and method["version"] and len(method["source_sha256"]) == 16
    assert method["module"] == "mmerbench_methods.prior.method"
    assert dataset["plugin"] == "mmerbench_test_plugins.plugin" and dataset["module"] and dataset["source_sha256"]
    assert "plugin_sources" not in record  # only this job's method and dataset, not the whole run's


def test_a_record_of_another_thread_count_is_run_again(finished):
    results, record = finished
    with ResultStore(results) as store:
        store.put({**record, "threads": 2})  # as a run before --threads gave it (2 cores, --jobs 1)
    outcome = mmerbench.run(["prior"], ["tiny"], [0], results=results)
    assert len(outcome.records) == 1 and outcome.records[0]["threads"] == 1
    assert any("another thread count" in note for note in outcome.notes)
    again = mmerbench.run(["prior"], ["tiny"], [0], results=results)
    assert not again.records and len(again.skipped) == 1
