"""Ctrl-C (SIGINT) and SIGTERM stop a real `mmerbench run` cleanly, and the same command resumes (issue 27).

Clean means: the driver exits with 130 (SIGINT) or 143 (SIGTERM) within seconds, the running job's worker is
gone (no orphan left running after the driver), finished jobs stay in the store, the interrupted job leaves
no record and no temporary file, and running the same command again runs only what is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mmerbench.store.results import ResultStore

pytestmark = [pytest.mark.executors, pytest.mark.slow]
SLEEP = 6  # seconds the sleepy job sleeps: long enough to be stopped mid-way, short enough to resume quickly


def command(results: Path) -> list[str]:
    return [sys.executable, "-m", "mmerbench.cli.main", "run", "--methods", "prior,sleepy", "--datasets", "tiny",
            "--seeds", "0", "--set", f"sleepy.seconds={SLEEP}", "--jobs", "1", "--no-save-models",
            "--results", str(results)]


def environment() -> dict:
    return {**os.environ, "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin",
            "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def living_processes_of_session(session: int) -> list[str]:
    """Processes of a session that still run (zombies, already dead, are not counted)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": state, ppid, pgrp, session, ...
        if int(fields[3]) == session and fields[0] != "Z":
            alive.append(f"{entry.name}: {stat[:stat.rindex(')') + 1]}")
    return alive


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_and_stop(results: Path, stop, sigint_ignored: bool = False) -> tuple[subprocess.Popen, str, list[str]]:
    """Start the run, call ``stop(process)`` once the sleepy job runs; (process, its output, workers seen).
    ``sigint_ignored``: start it as a shell starts a background job of a script (`mmerbench run ... &`),
    with SIGINT ignored."""
    process = subprocess.Popen(command(results), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=environment(), start_new_session=True,
                               preexec_fn=_ignore_sigint if sigint_ignored else None)
    lines: list[str] = []
    sleepy_started = threading.Event()

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if "started: sleepy" in line:
                sleepy_started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert sleepy_started.wait(120), "the sleepy job never started:\n" + "".join(lines)
        time.sleep(0.5)  # let the worker get going
        seen = living_processes_of_session(process.pid)
        assert len(seen) >= 2, seen  # the driver and at least the job's worker
        stop(process)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    reader.join(timeout=5)
    return process, "".join(lines), seen


@pytest.mark.parametrize("how, exit_code", [
    ("sigint-to-the-terminal-group", 130),  # what Ctrl-C does: the driver and its workers all get SIGINT
    ("sigint-to-a-background-run", 130),  # `mmerbench run ... &` from a script (SIGINT ignored), then kill -INT
    ("sigterm-to-the-driver", 143),  # kill <pid>, a scheduler's stop
])
def test_a_stopped_run_ends_cleanly_and_the_same_command_resumes(tmp_path, how, exit_code):
    def stop(process):
        if how == "sigint-to-the-terminal-group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            os.kill(process.pid, signal.SIGINT if how == "sigint-to-a-background-run" else signal.SIGTERM)

    results = tmp_path / "results"
    started = time.monotonic()
    process, output, seen = start_and_stop(results, stop, sigint_ignored=how == "sigint-to-a-background-run")
    assert process.returncode == exit_code, output
    assert time.monotonic() - started < SLEEP + 60  # not the whole sleep: the job was stopped, not awaited
    assert "finished jobs are kept in the results store" in output
    time.sleep(0.5)
    assert living_processes_of_session(process.pid) == [], f"left running after the driver ended (was: {seen})"

    with ResultStore(results, create=False, read_only=True) as store:
        records = store.records()
    assert [(r["method"], r["status"]) for r in records] == [("prior", "ok")]  # the stopped job left no record
    leftovers = sorted(p.name for p in results.rglob("*") if p.is_file() and p.suffix != ".sqlite"
                       and not p.name.endswith((".sqlite-wal", ".sqlite-shm")))
    assert leftovers == [f"{records[0]['key']}.npz"], leftovers  # the finished job's predictions, nothing else

    again = subprocess.run(command(results), capture_output=True, text=True, env=environment(), timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 jobs planned: 1 to run, 1 already done" in again.stdout
    with ResultStore(results, create=False, read_only=True) as store:
        assert sorted((r["method"], r["status"]) for r in store.records()) == [("prior", "ok"), ("sleepy", "ok")]
