"""One failing job is one failure; a failing store stops the run cleanly (issue 8)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import mmerbench
from mmerbench.errors import DataError, StoreWriteError
from mmerbench.reporting.leaderboard import build_rows
from mmerbench.execution.runner import plan
from mmerbench.store.results import ResultStore
from mmerbench.execution.job_order import JobOrder
from mmerbench.execution.worker import run_job



@pytest.fixture(autouse=True)
def fault_methods(testing_plugin, monkeypatch):
    """The tiny datasets plus the ``dying`` and ``badproba`` methods, here and in every worker."""
    from mmerbench.plugins import reset_registry

    monkeypatch.setenv("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin,mmerbench_test_plugins.fault_methods")
    reset_registry()
    yield
    reset_registry()


def _temporaries(folder) -> list:
    return sorted(str(p) for p in folder.rglob("*") if ".tmp-" in p.name)


def test_a_dying_worker_fails_only_its_own_job_and_says_why(tmp_path):
    # seed 0: SIGKILL (what the OOM killer sends), 1: segfault, 2: os._exit(3); prior jobs must all finish
    outcome = mmerbench.run(["dying", "prior"], ["tiny"], [0, 1, 2], results=tmp_path, jobs=2)
    by_job = {(r["method"], r["seed"]): r for r in outcome.records}
    assert len(by_job) == 6
    assert all(by_job[("prior", seed)]["status"] == "ok" for seed in (0, 1, 2))
    errors = {seed: by_job[("dying", seed)]["error"] for seed in (0, 1, 2)}
    assert all(by_job[("dying", seed)]["status"] == "failed" for seed in (0, 1, 2))
    assert "killed by SIGKILL" in errors[0] and "out of memory?" in errors[0]
    assert "killed by SIGSEGV" in errors[1] and "segmentation fault" in errors[1]
    assert "exited with code 3" in errors[2]
    assert by_job[("dying", 0)]["worker_exitcode"] == -9
    with ResultStore(tmp_path) as store:
        assert len(store.records()) == 6
    again = mmerbench.run(["dying", "prior"], ["tiny"], [0, 1, 2], results=tmp_path, jobs=1)
    assert sorted(r["method"] for r in again.records) == ["dying"] * 3 and len(again.skipped) == 3


def test_a_store_write_failure_stops_the_run_keeps_committed_jobs_and_resumes(tmp_path, monkeypatch):
    import mmerbench.store.results as store_module

    real_fault = store_module.injected_fault
    puts = []

    def disk_full_on_second_put(point, sqlite=False):
        if point == "put":
            puts.append(point)
            if len(puts) == 2:
                raise sqlite3.OperationalError("database or disk is full")
        real_fault(point, sqlite)

    monkeypatch.setattr(store_module, "injected_fault", disk_full_on_second_put)
    with pytest.raises(StoreWriteError) as info:
        mmerbench.run(["prior"], ["tiny"], [0, 1, 2], results=tmp_path, jobs=1)
    message = str(info.value)
    assert str(tmp_path / "results.sqlite") in message and "database or disk is full" in message
    assert "The run stopped. The 1 job(s)" in message and "resumes" in message
    monkeypatch.setattr(store_module, "injected_fault", real_fault)
    with ResultStore(tmp_path) as store:
        assert [r["seed"] for r in store.records()] == [0]
    assert _temporaries(tmp_path) == []
    resumed = mmerbench.run(["prior"], ["tiny"], [0, 1, 2], results=tmp_path)
    assert len(resumed.skipped) == 1 and sorted(r["seed"] for r in resumed.records) == [1, 2]


def test_a_predictions_write_failure_in_a_worker_stops_the_run_without_temporaries(tmp_path, monkeypatch):
    monkeypatch.setenv("MMERBENCH_TEST_STORE_FAULT", "predictions:ENOSPC")  # inherited by the workers
    with pytest.raises(StoreWriteError) as info:
        mmerbench.run(["prior"], ["tiny"], [0, 1], results=tmp_path, jobs=2)
    assert "No space left on device" in str(info.value) and "predictions" in str(info.value)
    assert _temporaries(tmp_path) == []
    with ResultStore(tmp_path) as store:
        assert store.records() == []
    monkeypatch.delenv("MMERBENCH_TEST_STORE_FAULT")
    assert len(mmerbench.run(["prior"], ["tiny"], [0, 1], results=tmp_path).records) == 2


def test_a_value_sqlite_cannot_hold_is_a_store_error_that_changes_nothing(tmp_path):
    with ResultStore(tmp_path) as store:
        record = {"key": "0" * 20, "status": "failed", "method": "m", "dataset": "d", "seed": 2**70}
        with pytest.raises(StoreWriteError, match="a value SQLite cannot hold"):
            store.put(record)
        assert store.records() == []


@pytest.mark.parametrize("broken, phrase", [
    ("nan", "1 NaN value(s), first at sample 1, label 'emotion_0'"),
    ("inf", "1 infinite value(s), first at sample 0, label 'emotion_2'"),
    ("range", "1 value(s) outside [0, 1] (from 1.5 to 1.5), first at sample 3, label 'emotion_1'"),
    ("shape", "shape (16, 3), expected (16, 4)"),
])
def test_broken_probabilities_fail_the_job_naming_method_split_and_problem(tmp_path, broken, phrase):
    jobs, _ = plan(["badproba"], ["tiny"], [0], settings={"badproba.broken": broken})
    record = run_job(JobOrder(jobs[0].to_dict(), str(tmp_path), 1, "cpu"))
    assert record["status"] == "failed"
    assert "method badproba returned invalid probabilities on the valid split" in record["error"]
    assert phrase in record["error"]


def test_broken_probabilities_are_never_stored_ok_or_ranked(tmp_path):
    outcome = mmerbench.run(["badproba", "prior"], ["tiny"], [0], results=tmp_path,
                            settings={"badproba.broken": "nan"})
    assert [r["method"] for r in outcome.failed] == ["badproba"]
    with ResultStore(tmp_path) as store:
        assert store.finished_keys() == {r["key"] for r in outcome.records if r["method"] == "prior"}
        assert [row.method for row in build_rows(store.records(), "tiny")] == ["prior"]


def test_the_same_method_with_sound_probabilities_is_ok(tmp_path):
    jobs, _ = plan(["badproba"], ["tiny"], [0], settings={"badproba.broken": "none"})
    record = run_job(JobOrder(jobs[0].to_dict(), str(tmp_path), 1, "cpu"))
    assert record["status"] == "ok", record["error"]


def test_an_empty_test_split_is_an_error_before_anything_is_written(tmp_path):
    results = tmp_path / "results"
    with pytest.raises(DataError, match="dataset tiny has an empty test split"):
        mmerbench.run(["prior"], ["tiny"], [0], results=results, settings={"tiny.n_test": 0})
    assert not results.exists()


def test_a_failed_predictions_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MMERBENCH_TEST_STORE_FAULT", "predictions:EROFS")
    with ResultStore(tmp_path) as store:
        with pytest.raises(StoreWriteError, match="Read-only file system.*read-only"):
            store.save_predictions("abc" * 6 + "ab", {"test_proba": np.zeros((3, 2))})
    assert _temporaries(tmp_path) == [] and not (tmp_path / "predictions" / f"{'abc' * 6}ab.npz").exists()


def test_the_temporaries_of_stopped_workers_are_removed_and_no_others(tmp_path):
    from mmerbench.store.failure import remove_worker_temporaries

    for name in (".a.npz.tmp-101", ".b.npz.tmp-202", ".c.npz.tmp-303", "d.npz"):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_worker_temporaries(tmp_path, [101, 202])
    assert sorted(p.name for p in removed) == [".a.npz.tmp-101", ".b.npz.tmp-202"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c.npz.tmp-303", "d.npz"]


def _returns_unpicklable():
    return lambda: None  # a result that cannot travel back to the parent


def _raises_outside_the_job():
    raise RuntimeError("broken before run_job could catch it")


def _returns_a_value(value):
    return value * 2


def test_the_pool_reports_calls_that_raise_or_cannot_return_and_runs_the_rest():
    from mmerbench.execution.local_pool import FreshProcessPool
    from mmerbench.execution.worker_death import death_record

    pool = FreshProcessPool(2)
    calls = [("unpicklable", _returns_unpicklable, ()), ("raises", _raises_outside_the_job, ()),
             ("fine", _returns_a_value, (21,))]
    outcomes = {outcome.tag: outcome for outcome in pool.run(calls)}
    assert outcomes["fine"].returned and outcomes["fine"].value == 42
    assert not outcomes["raises"].returned and "broken before run_job" in outcomes["raises"].child_error
    assert not outcomes["unpicklable"].returned and "pickle" in outcomes["unpicklable"].child_error.lower()
    record = death_record({"key": "k"}, {}, outcomes["raises"].exitcode, outcomes["raises"].child_error)
    assert record["status"] == "failed" and "broken before run_job" in record["traceback"]
    assert len(pool.started_pids) == 3
