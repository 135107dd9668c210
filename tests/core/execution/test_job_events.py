"""Each job reports progress on its own pipe: every event in order, before its outcome, and a job killed while
it reports leaves the others running (a channel shared between jobs would stay locked) (issue 24)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from mmerbench.execution.local_pool import FreshProcessPool, send_event
from mmerbench.execution.warm_pool import WarmForkPool

pytestmark = pytest.mark.executors


def report_then_return(count: int) -> str:
    for index in range(count):
        send_event({"index": index})
    return "done"


def _report_without_end() -> None:
    while True:
        send_event({"blob": "x" * 1_000_000})  # many pipe buffers: nearly all the time is spent inside a send


def killed_while_reporting() -> None:
    """Events sent from a thread without a pause; the process is killed in the middle of one (almost surely)."""
    threading.Thread(target=_report_without_end, daemon=True).start()
    time.sleep(0.3)
    os.kill(os.getpid(), signal.SIGKILL)


def _run(pool, calls):
    seen = []
    pool.on_event = lambda tag, event: seen.append((tag, event))
    outcomes = {}
    for outcome in pool.run(calls):
        outcomes[outcome.tag] = (outcome, len(seen))
    return outcomes, seen


@pytest.mark.parametrize("make_pool", [lambda: FreshProcessPool(2), lambda: WarmForkPool(2)], ids=["spawn", "warm"])
def test_a_jobs_events_arrive_in_order_before_its_outcome(make_pool):
    outcomes, seen = _run(make_pool(), [(0, report_then_return, (50,)), (1, report_then_return, (30,))])
    for tag, count in ((0, 50), (1, 30)):
        outcome, seen_by_then = outcomes[tag]
        assert outcome.value == "done"
        mine = [event["index"] for event_tag, event in seen[:seen_by_then] if event_tag == tag]
        assert mine == list(range(count))  # all of them, in order, before the outcome was yielded


def test_a_job_killed_while_reporting_leaves_the_other_jobs_running():
    pool = WarmForkPool(1)  # one at a time: the other jobs report after the kill
    calls = [(0, killed_while_reporting, ())] + [(tag, report_then_return, (20,)) for tag in range(1, 4)]
    finished = []

    def run():
        for outcome in pool.run(calls):
            finished.append(outcome)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=60)
    assert not runner.is_alive(), f"the run hung after {len(finished)} of {len(calls)} calls"
    by_tag = {outcome.tag: outcome for outcome in finished}
    assert by_tag[0].exitcode == -signal.SIGKILL and not by_tag[0].returned
    assert [by_tag[tag].value for tag in range(1, 4)] == ["done"] * 3


def test_outside_a_pools_job_an_event_goes_nowhere():
    assert send_event({"kind": "epoch"}) is False
