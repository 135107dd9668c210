"""The same small plan through a real local Ray cluster and through submitit's local executor (slurm-local).

Marked ``executors`` (and ``slurm``: Ray's start-up alone takes seconds); deselect with ``-m "not executors"``.
"""

from __future__ import annotations

import os

import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore

pytestmark = [pytest.mark.executors, pytest.mark.slow]

PLUGINS = "mmerbench_test_plugins.plugin,mmerbench_test_plugins.fault_methods"
SMALL_LDDU = {"lddu.hidden": 16, "lddu.layers": 1, "lddu.heads": 2, "lddu.feedforward": 16, "lddu.label_dim": 8,
              "lddu.attention_dim": 8, "lddu.emotion_dim": 8, "lddu.latent": 8, "lddu.epochs": 2,
              "lddu.batch_size": 16, "lddu.queue_size": 64}
PLAN = dict(methods=["prior", "lddu"], datasets=["tiny"], seeds=[0, 1], device="cpu", settings=SMALL_LDDU, jobs=2)


@pytest.fixture
def plugins(monkeypatch):
    from mmerbench.plugins import reset_registry

    monkeypatch.setenv("MMERBENCH_PLUGINS", PLUGINS)
    reset_registry()
    yield
    reset_registry()


@pytest.fixture(scope="module")
def local_metrics(tmp_path_factory):
    os.environ["MMERBENCH_PLUGINS"] = PLUGINS
    try:
        from mmerbench.plugins import reset_registry

        reset_registry()
        results = tmp_path_factory.mktemp("local")
        mmerbench.run(PLAN["methods"], PLAN["datasets"], PLAN["seeds"], results=results, device="cpu",
                      settings=SMALL_LDDU, jobs=2)
        return metrics_of(results)
    finally:
        os.environ.pop("MMERBENCH_PLUGINS", None)
        reset_registry()


def metrics_of(results) -> dict:
    with ResultStore(results, create=False, read_only=True) as store:
        return {r["key"]: (r["status"], r["metrics"]) for r in store.records()}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    # A private cluster on the loopback interface with 2 CPUs; its workers see the test plugins.
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             runtime_env={"env_vars": {"MMERBENCH_PLUGINS": PLUGINS, "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1",
                                       "MMERBENCH_HOME": os.environ["MMERBENCH_HOME"]}})
    yield ray
    ray.shutdown()


def test_ray_fills_the_store_with_the_local_runs_metrics_exactly(plugins, local_metrics, ray_cluster, tmp_path):
    outcome = mmerbench.run(**PLAN, results=tmp_path, executor="ray")
    assert not outcome.failed
    assert metrics_of(tmp_path) == local_metrics
    assert len(local_metrics) == 4 and all(status == "ok" for status, _ in local_metrics.values())
    # A re-run finds them all done, also from the records the workers published.
    again = mmerbench.run(**PLAN, results=tmp_path, executor="ray")
    assert len(again.skipped) == 4 and not again.records


def test_a_ray_task_killed_mid_run_fails_only_its_job(plugins, ray_cluster, tmp_path):
    outcome = mmerbench.run(["dying", "prior"], ["tiny"], [0], results=tmp_path, jobs=2,
                            executor="ray")
    by_method = {r["method"]: r for r in outcome.records}
    assert by_method["prior"]["status"] == "ok"
    assert by_method["dying"]["status"] == "failed"
    assert by_method["dying"]["error"].startswith("Ray task failed:")


def test_a_ray_task_past_its_time_is_cancelled_and_recorded_as_timeout(plugins, ray_cluster, tmp_path):
    outcome = mmerbench.run(["sleepy", "prior"], ["tiny"], [0], results=tmp_path, jobs=2, preset="paper",
                            settings={"sleepy.seconds": 120}, timeout_per_job=6, executor="ray")
    assert {r["method"]: r["status"] for r in outcome.records} == {"sleepy": "timeout", "prior": "ok"}


def test_slurm_local_runs_the_plan_through_the_slurm_code_path(plugins, local_metrics, tmp_path, capsys):
    outcome = mmerbench.run(**PLAN, results=tmp_path, executor="slurm-local")
    assert not outcome.failed
    assert metrics_of(tmp_path) == local_metrics
    with ResultStore(tmp_path, create=False, read_only=True) as store:
        record = store.records()[0]
    assert os.path.isfile(record["log_stderr"]) and record["slurm_job_id"]  # submitit's log, in the record
    assert main(["status", "--results", str(tmp_path)]) == 0
    assert "4 done" in capsys.readouterr().out


def test_slurm_local_detach_then_status_and_collect(plugins, tmp_path, capsys):
    code = main(["run", "--methods", "prior", "--datasets", "tiny", "--seeds", "0,1", "--device", "cpu",
                 "--results", str(tmp_path), "--executor", "slurm-local", "--detach"])
    assert code == 0
    assert "mmerbench collect --results" in capsys.readouterr().out
    from mmerbench.execution.slurm_pool import SLURM_DIR

    import json
    import time

    (submission,) = (tmp_path / SLURM_DIR).glob("*/submission.json")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        main(["status", "--results", str(tmp_path)])
        if "2 done" in capsys.readouterr().out:
            break
        time.sleep(1)
    assert main(["collect", "--results", str(tmp_path)]) == 0
    assert "collected 2 job(s)" in capsys.readouterr().out
    keys = {job["key"] for job in json.loads(submission.read_text())["jobs"]}
    assert set(metrics_of(tmp_path)) == keys


def test_rays_banners_stay_out_of_the_runs_output_and_go_to_the_log_it_names(tmp_path):
    """A run that starts its own Ray instance: its output is the plan, the progress and the table."""
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if key != "RAY_AUTH_MODE"}  # Ray's default: a banner
    env["MMERBENCH_PLUGINS"] = "mmerbench_test_plugins.plugin"
    results = tmp_path / "results"
    ran = subprocess.run([sys.executable, "-m", "mmerbench.cli.main", "run", "--methods", "prior", "--datasets",
                          "tiny", "--seeds", "0", "--executor", "ray", "--results", str(results)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    log = results / "logs" / "ray.log"
    assert f"--executor ray: its own messages (start-up banners, warnings) go to {log}" in ran.stdout
    assert "Token authentication" not in ran.stdout + ran.stderr
    assert "Token authentication is enabled for this Ray cluster" in log.read_text()
    assert "ray" not in ran.stderr.lower() and "| prior " in ran.stdout  # (python -m may warn about runpy)
