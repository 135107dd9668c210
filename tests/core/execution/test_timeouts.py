"""--timeout-per-job: a job past its time is stopped and recorded as 'timeout'; the others finish."""

from __future__ import annotations

import json
import time

import pytest

import mmerbench
from mmerbench.execution.checkpoints import CHECKPOINTS_DIR
from mmerbench.errors import UsageError
from mmerbench.execution.local_pool import FreshProcessPool
from mmerbench.execution.timeouts import timeout_record
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.executors


def test_the_pool_stops_only_the_call_past_its_time():
    pool = FreshProcessPool(2, timeout=4.0)
    started = time.monotonic()
    outcomes = {o.tag: o for o in pool.run([("late", time.sleep, (60,)), ("quick", abs, (-3,))])}
    assert time.monotonic() - started < 30
    assert outcomes["late"].timed_out and not outcomes["late"].returned
    assert outcomes["quick"].returned and outcomes["quick"].value == 3 and not outcomes["quick"].timed_out


def test_a_job_past_its_time_is_recorded_as_timeout_and_the_run_goes_on(testing_plugin, tmp_path):
    outcome = mmerbench.run(["sleepy", "prior"], ["tiny"], [0], results=tmp_path, jobs=2, preset="paper",
                            settings={"sleepy.seconds": 120}, timeout_per_job=8)
    statuses = {r["method"]: r["status"] for r in outcome.records}
    assert statuses == {"sleepy": "timeout", "prior": "ok"}
    with ResultStore(tmp_path, create=False, read_only=True) as store:
        late = store.records(status="timeout")[0]
    assert "--timeout-per-job 8 s" in late["error"] and late["epoch_reached"] is None
    # Not finished, so the next run tries it again.
    again = mmerbench.run(["sleepy", "prior"], ["tiny"], [0], results=tmp_path, preset="paper",
                          settings={"sleepy.seconds": 0.01}, dry_run=True)
    assert [job.method for job in again.planned if job not in again.skipped] == ["sleepy"]


def test_the_timeout_record_names_the_epoch_reached_and_keeps_the_checkpoint(tmp_path):
    directory = tmp_path / CHECKPOINTS_DIR / "abc123"
    directory.mkdir(parents=True)
    (directory / "latest.json").write_text(json.dumps({"epoch": 7, "directory": "epoch-0007"}))
    record = timeout_record({"key": "abc123", "method": "lddu", "dataset": "x", "seed": 0}, {}, 30.0, tmp_path)
    assert record["status"] == "timeout" and record["epoch_reached"] == 7
    assert "finished epoch 7; its checkpoint is kept" in record["error"]
    assert directory.exists()


@pytest.mark.parametrize("bad", [0, -5, "soon", float("nan")])
def test_a_timeout_that_is_not_a_positive_number_is_refused(testing_plugin, tmp_path, bad):
    # a non-number is refused by its kind (naming the setting), a number <= 0 or NaN by its range
    with pytest.raises(UsageError, match="timeout.per.job.* (give a number of seconds above 0|must be a number of seconds)"):
        mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, timeout_per_job=bad)
    assert not (tmp_path / "results.sqlite").exists()


@pytest.mark.slow
def test_a_deep_job_past_its_time_keeps_its_checkpoint_and_a_rerun_continues_it(testing_plugin, monkeypatch, tmp_path):
    from mmerbench.plugins import reset_registry

    monkeypatch.setenv("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin,mmerbench_test_plugins.slow_deep")
    reset_registry()
    plan = dict(methods=["slow-deep"], datasets=["tiny"], seeds=[0], results=tmp_path, device="cpu",
                settings={"slow-deep.epochs": 10, "slow-deep.seconds_per_epoch": 1.0})
    first = mmerbench.run(**plan, timeout_per_job=7)
    (late,) = first.records
    assert late["status"] == "timeout"
    reached = late["epoch_reached"]
    assert reached is not None and 1 <= reached < 10, late["error"]
    assert (tmp_path / CHECKPOINTS_DIR / late["key"]).is_dir()
    second = mmerbench.run(**plan, timeout_per_job=120)
    (done,) = second.records
    assert done["status"] == "ok" and done["fit_info"]["resumed_from_epoch"] == reached
    assert len(done["curve"]) == 10
    assert not (tmp_path / CHECKPOINTS_DIR / late["key"]).exists()
