"""What the warm server prepares once for every job (registry, datasets): still checked, still isolated (issue 24)."""

from __future__ import annotations

import os
from multiprocessing import forkserver

import pytest

import mmerbench
from mmerbench.execution import warm_state
from mmerbench.execution.job_dataset import DatasetChangedError, JobDatasets
from mmerbench.execution.runner import plan
from mmerbench.execution.warm_pool import WarmForkPool

pytestmark = pytest.mark.executors

PLUGINS = "mmerbench_test_plugins.plugin"
FAULT_PLUGINS = "mmerbench_test_plugins.plugin,mmerbench_test_plugins.fault_methods"


def _stop_server() -> None:
    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        server._stop()


@pytest.fixture
def fresh_server():
    """No warm server runs when the test starts, so that the test's pool starts one with its own datasets and
    environment; the test's server is stopped after it (later tests start theirs as they need)."""
    _stop_server()
    yield
    _stop_server()


def _preloaded_fingerprint(name: str):
    dataset = warm_state.preloaded(name, {})
    return None if dataset is None else dataset.fingerprint


def _job_uses_the_preloaded_dataset(job: dict) -> bool:
    return JobDatasets().get(job) is warm_state.preloaded(job["dataset"], job["dataset_params"])


def _server_notes() -> list[str]:
    return list(warm_state._notes)


def _planned(method: str, dataset: str, seed: int = 0) -> dict:
    (job,), _ = plan([method], [dataset], [seed], device="cpu")
    return job.to_dict()


def test_the_server_loads_a_runs_dataset_once_and_its_jobs_take_it(fresh_server):
    job = _planned("prior", "synthetic")
    pool = WarmForkPool(1, datasets=[("synthetic", {})])
    fingerprint, taken = [o.value for o in pool.run([(0, _preloaded_fingerprint, ("synthetic",)),
                                                     (1, _job_uses_the_preloaded_dataset, (job,))])]
    assert fingerprint == job["dataset_fingerprint"]  # the server's copy is the data the job was planned on
    assert taken is True  # the job used that copy instead of opening the file again


def test_a_job_takes_a_preloaded_dataset_only_with_the_fingerprint_it_was_planned_on(monkeypatch):
    job = _planned("prior", "synthetic")

    class OtherData:  # what a server started before the file changed would hold
        fingerprint = "0" * 16

    stale = OtherData()
    monkeypatch.setitem(warm_state._preloaded, warm_state.dataset_key("synthetic", {}), stale)
    dataset = JobDatasets().get(job)
    assert dataset is not stale and dataset.fingerprint == job["dataset_fingerprint"]  # loaded again, checked
    with pytest.raises(DatasetChangedError, match="changed since job"):  # the check itself is still made
        JobDatasets().get({**job, "dataset_fingerprint": "f" * 16})


@pytest.fixture
def imported(tmp_path, monkeypatch):
    """An imported dataset (``mulan-emotions``, read lazily from its canonical file) in a home of its own."""
    from mmerbench.data import write_dataset
    from mmerbench.testing.fixtures import make_tiny_dataset

    monkeypatch.setenv("MMERBENCH_HOME", str(tmp_path))
    path = write_dataset(tmp_path / "data" / "mulan-emotions.h5", make_tiny_dataset())
    return path, _planned("prior", "mulan-emotions")


def _run_in_fresh_server(job: dict, results) -> tuple[list[str], dict]:
    from mmerbench.execution.job_order import JobOrder
    from mmerbench.execution.worker import run_job

    order = JobOrder(job=job, results_dir=str(results), threads=1, device="cpu")
    pool = WarmForkPool(1, datasets=[(job["dataset"], job["dataset_params"])])
    notes, record = [o.value for o in pool.run([(0, _server_notes, ()), (1, run_job, (order,))])]
    return notes, record


def test_a_dataset_that_fails_its_checks_is_not_preloaded_and_its_jobs_fail_with_the_error(
        fresh_server, imported, tmp_path):
    import h5py

    path, job = imported
    with h5py.File(path, "r+") as handle:  # a label flipped after the file was written (and planned on)
        handle["test/labels"][0, 0] = 1 - handle["test/labels"][0, 0]
    notes, record = _run_in_fresh_server(job, tmp_path / "results")
    assert any(note.startswith("mulan-emotions: DataError") for note in notes)  # the server's load refused it
    assert record["status"] == "failed" and "DataError" in record["error"] and "/test/labels changed" in record["error"]


def test_a_dataset_read_lazily_from_its_file_is_left_to_each_job(fresh_server, imported, tmp_path):
    _, job = imported
    notes, record = _run_in_fresh_server(job, tmp_path / "results")
    assert "mulan-emotions: read lazily from its file, so each job opens it" in notes  # no HDF5 file across a fork
    assert record["status"] == "ok"


def test_a_job_that_crashes_in_a_forked_child_leaves_a_failure_record_and_the_others_run(
        fresh_server, tmp_path, monkeypatch):
    # The server starts with the run's modules and dataset but the tiny datasets' plugin only, so its registry
    # lacks the fault methods: a job whose plugin environment is not the server's discovers its own plugins.
    from mmerbench.plugins import reset_registry

    monkeypatch.setenv("MMERBENCH_PLUGINS", PLUGINS)
    reset_registry()
    WarmForkPool(1, methods=["prior"], datasets=[("tiny", {})], preload=["mmerbench_test_plugins.fault_methods"])
    monkeypatch.setenv("MMERBENCH_PLUGINS", FAULT_PLUGINS)
    reset_registry()
    try:
        outcome = mmerbench.run(["dying", "prior"], ["tiny"], [2, 3], results=tmp_path, jobs=2)
    finally:
        reset_registry()
    by_job = {(r["method"], r["seed"]): r for r in outcome.records}
    assert len(by_job) == 4
    assert [by_job[("dying", seed)]["status"] for seed in (2, 3)] == ["failed", "failed"]
    assert all("exited with code 3" in by_job[("dying", seed)]["error"] for seed in (2, 3))
    assert [by_job[("prior", seed)]["status"] for seed in (2, 3)] == ["ok", "ok"]
    assert all(by_job[("prior", seed)]["peak_rss_mb"] > 0 for seed in (2, 3))  # each job's own process


def test_a_job_keeps_the_servers_registry_only_in_the_plugin_environment_it_was_built_in(monkeypatch):
    from mmerbench import plugins

    monkeypatch.setenv("MMERBENCH_PLUGINS", PLUGINS)
    registry = plugins.get_registry()
    monkeypatch.setattr(warm_state, "_registry_environment", warm_state._plugin_environment())
    warm_state.adopt_registry()
    assert plugins._registry is registry  # the same plugins: no discovery again
    monkeypatch.setenv("MMERBENCH_PLUGINS", FAULT_PLUGINS)
    warm_state.adopt_registry()
    assert plugins._registry is None  # other plugins: the job builds its own registry
    assert "dying" in plugins.get_registry().methods
    plugins.reset_registry()


def _thread_counts_after_configuring(threads: int) -> dict:
    from threadpoolctl import threadpool_info

    from mmerbench.execution.worker import _configure_threads

    _configure_threads(threads)
    return {info["filepath"]: info["num_threads"] for info in threadpool_info()}


def test_a_forked_job_runs_its_native_thread_pools_with_its_thread_count(fresh_server):
    (outcome,) = WarmForkPool(1, preload=["numpy", "sklearn.linear_model"]).run(
        [(0, _thread_counts_after_configuring, (1,))])
    assert outcome.value and set(outcome.value.values()) == {1}, outcome.value  # BLAS and OpenMP alike


def test_stage_spans_are_written_only_when_asked_also_by_the_job_processes(fresh_server, tmp_path, monkeypatch):
    from mmerbench.spans import ENV, span

    with span("not asked"):
        pass
    spans = tmp_path / "spans.jsonl"
    monkeypatch.setenv(ENV, str(spans))
    mmerbench.run(["prior"], ["synthetic"], [0, 1], results=tmp_path / "results", jobs=2)
    import json

    lines = [json.loads(line) for line in spans.read_text().splitlines()]
    names = {line["name"] for line in lines}
    assert {"driver: plan", "driver: store commit", "job: fit", "job: save model"} <= names
    assert "not asked" not in names
    assert len({line["pid"] for line in lines if line["name"] == "job: fit"}) == 2  # one process per job
    assert os.getpid() in {line["pid"] for line in lines if line["name"] == "driver: plan"}


def _thread_counts_as_loaded() -> dict:
    from threadpoolctl import threadpool_info

    return {info["filepath"]: info["num_threads"] for info in threadpool_info()}


def _server_pid() -> int:
    return os.getppid()  # a forked job's parent is the server


def test_the_server_loads_the_native_libraries_with_the_runs_thread_count(fresh_server):
    # Before a job configures anything: the pools were started with the run's count, not the machine's (a pool
    # started wider and lowered later keeps spinning threads beside every call). OpenBLAS caps a count at the
    # machine's cores, so 1 thread on a machine with more is the count that tells.
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: every native pool starts with 1 thread anyway")
    (outcome,) = WarmForkPool(1, threads=1, preload=["numpy", "sklearn.linear_model"]).run(
        [(0, _thread_counts_as_loaded, ())])
    assert outcome.value and set(outcome.value.values()) == {1}, outcome.value


def test_a_run_with_another_thread_count_gets_a_new_server(fresh_server):
    (first,) = [o.value for o in WarmForkPool(1, threads=1).run([(0, _server_pid, ())])]
    (same,) = [o.value for o in WarmForkPool(1, threads=1).run([(0, _server_pid, ())])]
    (other,) = [o.value for o in WarmForkPool(1, threads=2).run([(0, _server_pid, ())])]
    assert same == first and other != first


def test_the_driver_starts_the_server_without_importing_the_methods():
    import subprocess
    import sys

    code = ("import sys\n"
            "from mmerbench.execution.warm_pool import WarmForkPool\n"
            "def imported(): import sys; return 'sklearn' in sys.modules and 'skops.io' in sys.modules\n"
            "if __name__ == '__main__':\n"
            "    pool = WarmForkPool(1, methods=['br'])\n"
            "    driver = 'sklearn' in sys.modules\n"
            "    import __main__\n"
            "    (outcome,) = pool.run([(0, __main__.imported, ())])\n"
            "    print(driver, outcome.value)\n")
    script = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"warm_server_probe_{os.getpid()}.py")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write(code)
    try:
        out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300, check=True)
    finally:
        os.remove(script)
    assert out.stdout.split() == ["False", "True"]  # not in the driver; in the server (so in every job)
