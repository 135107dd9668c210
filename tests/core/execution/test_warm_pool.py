"""The local pool's warm server: each job still its own process (deaths, timeouts, state kept apart), forked
with the imports done, in the driver's environment of the run."""

from __future__ import annotations

import os
import sys
import time

import pytest

from mmerbench.execution.warm_pool import WarmForkPool

pytestmark = pytest.mark.executors

_state = {"jobs_seen": 0}


def _count_jobs_seen() -> int:
    _state["jobs_seen"] += 1  # module state of this process: a job forked from the clean server starts at 0
    return _state["jobs_seen"]


def _read_environment(name: str):
    return os.environ.get(name)


def _die(code: int):
    os._exit(code)


def _is_imported(name: str) -> bool:
    return name in sys.modules


def test_a_job_that_dies_fails_alone_with_its_exit_code():
    pool = WarmForkPool(2)
    outcomes = {o.tag: o for o in pool.run([("dies", _die, (7,)), ("fine", abs, (-2,)), ("after", abs, (-5,))])}
    assert not outcomes["dies"].returned and outcomes["dies"].exitcode == 7
    assert outcomes["fine"].value == 2 and outcomes["after"].value == 5
    assert len(pool.started_pids) == 3 and len(set(pool.started_pids)) == 3  # a process per call


def test_no_job_sees_the_state_another_job_left():
    outcomes = [o.value for o in WarmForkPool(1).run([(i, _count_jobs_seen, ()) for i in range(3)])]
    assert outcomes == [1, 1, 1]


def test_a_job_sees_the_environment_of_the_run_not_of_the_server(monkeypatch):
    list(WarmForkPool(1).run([(0, abs, (1,))]))  # the server is running now, with the environment of then
    monkeypatch.setenv("MMERBENCH_WARM_POOL_PROBE", "set after the server started")
    (outcome,) = WarmForkPool(1).run([(0, _read_environment, ("MMERBENCH_WARM_POOL_PROBE",))])
    assert outcome.value == "set after the server started"


def test_the_preloaded_modules_are_there_before_the_job_imports_them():
    (outcome,) = WarmForkPool(1, preload=["json.tool"]).run([(0, _is_imported, ("json.tool",))])
    assert outcome.value is True  # imported once by the server (restarted to add it if it ran without)


def test_the_pool_stops_only_the_call_past_its_time():
    pool = WarmForkPool(2, timeout=4.0)
    started = time.monotonic()
    outcomes = {o.tag: o for o in pool.run([("late", time.sleep, (60,)), ("quick", abs, (-3,))])}
    assert time.monotonic() - started < 30
    assert outcomes["late"].timed_out and outcomes["quick"].value == 3


def test_the_local_executor_uses_the_warm_pool_unless_asked_for_a_fresh_interpreter():
    from mmerbench.config import RunConfig
    from mmerbench.execution.local_pool import FreshProcessPool
    from mmerbench.execution.pools import make_pool

    warm = make_pool(RunConfig(methods=["prior"]), 1, [], ".", None, None, None, ())
    fresh = make_pool(RunConfig(methods=["prior"], fresh_interpreter=True), 1, [], ".", None, None, None, ())
    assert isinstance(warm, WarmForkPool) and type(fresh) is FreshProcessPool
