"""Issue 20, "A shared store, and two runs at once".

On main a results.sqlite carrying a trigger deleted other rows when mmerbench wrote to it (exit 0); two runs
on one results folder ran every job twice, and an ok row was replaced by the other run's timeout record.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from mmerbench.errors import StoreError
from mmerbench.execution import job_claims
from mmerbench.store.results import ResultStore

from untrusted_results import make_record, store_ok

FOREIGN_OBJECTS = [
    pytest.param("CREATE TRIGGER wipe AFTER INSERT ON jobs BEGIN DELETE FROM jobs WHERE key != NEW.key; END",
                 "trigger wipe", id="trigger-deleting-other-rows"),
    pytest.param("CREATE VIEW everything AS SELECT * FROM jobs", "view everything", id="view"),
    pytest.param("CREATE TABLE extra (x)", "table extra", id="extra-table"),
    pytest.param("CREATE INDEX by_method ON jobs (method)", "index by_method", id="extra-index"),
]


@pytest.mark.parametrize("statement, named", FOREIGN_OBJECTS)
def test_a_store_holding_objects_mmerbench_did_not_create_is_refused_before_writing(tmp_path, statement, named):
    results = tmp_path / "results"
    keep = make_record(seed=0)
    store_ok(results, keep)
    connection = sqlite3.connect(results / "results.sqlite")
    connection.execute(statement)
    connection.commit()
    connection.close()
    with pytest.raises(StoreError, match=f"schema objects mmerbench did not create \\({named}"):
        with ResultStore(results) as store:
            store.put(make_record(seed=1))
    with ResultStore(results, read_only=True) as store:  # reading it stays possible, and nothing changed
        assert [r["key"] for r in store.records()] == [keep["key"]]


def _claim_file(results, key, **holder):
    path = job_claims.claim_path(results, key)
    path.write_text(json.dumps(holder))
    return path


def _unreaped_child() -> int:
    """The pid of a child process of this one that has exited and is left unreaped (a zombie) for the test."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    deadline = time.time() + 10
    while time.time() < deadline:  # until /proc shows it ended
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return pid
        time.sleep(0.01)
    raise AssertionError(f"child {pid} did not end")


CLAIMS = [
    # (holder written in the claim file, its age in seconds, whether this process may take the job)
    pytest.param(lambda: {"host": os.uname().nodename, "pid": os.getpid() + 0}, 0, "ours-already", id="own"),
    pytest.param(lambda: {"host": os.uname().nodename, "pid": os.getppid()}, 0, "held", id="live-process-here"),
    pytest.param(lambda: {"host": os.uname().nodename, "pid": 2 ** 22 + 12345}, 0, "taken", id="dead-process-here"),
    # ended but not reaped (a job killed with its run, before its new parent reaps it): still answers signal 0
    pytest.param(lambda: {"host": os.uname().nodename, "pid": _unreaped_child()}, 0, "taken", id="zombie-here"),
    pytest.param(lambda: {"host": "node-17", "pid": 4242}, 0, "held", id="live-heartbeat-on-another-node"),
    pytest.param(lambda: {"host": "node-17", "pid": 4242}, 10_000, "taken", id="stale-heartbeat-on-another-node"),
    pytest.param(lambda: "not json", 10_000, "taken", id="damaged-and-old"),
]


@pytest.mark.parametrize("holder, age, expected", CLAIMS)
def test_a_job_claim_is_held_by_a_live_holder_and_recovered_from_a_dead_one(tmp_path, holder, age, expected):
    key = make_record()["key"]
    if expected == "ours-already":
        assert job_claims.try_claim(tmp_path, key) is None
        assert job_claims.try_claim(tmp_path, key) is not None  # a second claim, even by us, is refused
        job_claims.release(tmp_path, key)
        assert not job_claims.claim_path(tmp_path, key).exists()  # released by its holder
        return
    content = holder()
    path = job_claims.claim_path(tmp_path, key)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    os.utime(path, (time.time() - age, time.time() - age))
    other = job_claims.try_claim(tmp_path, key)
    if expected == "held":
        assert other is not None and json.loads(path.read_text()) == content
        job_claims.release(tmp_path, key)
        assert path.exists(), "a claim is released only by its holder"
    else:
        assert other is None and json.loads(path.read_text())["pid"] == os.getpid()


def test_an_ok_row_is_never_replaced_by_a_worse_duplicate_outcome(tmp_path):
    results = tmp_path / "results"
    ok = make_record(seed=0)
    store_ok(results, ok)
    with ResultStore(results) as store:
        timeout = {**ok, "status": "timeout", "metrics": {}, "error": "stopped"}
        assert store.put(timeout, keep_ok=True) is False  # a concurrent run's late duplicate
        assert store.get(ok["key"])["status"] == "ok"
        assert store.put(timeout) is True  # a re-run this driver planned (--no-resume) replaces it


RUN = """
import json, sys, mmerbench
outcome = mmerbench.run(["sleepy"], ["tiny"], [0, 1, 2, 3], results=sys.argv[1], jobs=2,
                        settings={"sleepy.seconds": 3})
print(json.dumps({"stored": [r["key"] for r in outcome.records], "notes": outcome.notes}))
"""


@pytest.mark.slow
def test_two_runs_on_one_results_folder_share_the_jobs(tmp_path):
    results = tmp_path / "results"
    env = {**os.environ, "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin"}
    runs = [subprocess.Popen([sys.executable, "-c", RUN, str(results)], stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    outputs = [json.loads(run.communicate(timeout=600)[0].strip().splitlines()[-1]) for run in runs]
    stored = [key for output in outputs for key in output["stored"]]
    assert len(stored) == len(set(stored)) == 4, f"a job ran twice or not at all: {outputs}"
    with ResultStore(results, read_only=True) as store:
        assert sorted(r["key"] for r in store.records(status="ok")) == sorted(stored)
    assert not list((results / job_claims.CLAIMS_DIR).glob("*.json")), "claims are released when jobs end"
