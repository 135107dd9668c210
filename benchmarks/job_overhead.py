"""Where a small job's wall time goes, and 16 ``br`` jobs through the local pool against one Python loop.

Stages (one ``br`` job on ``synthetic``, measured in a fresh interpreter, as a spawned worker pays them):
interpreter start, mmerbench's worker imports, plugin discovery, the method's module (scikit-learn),
dataset open + fingerprint check, fit, scoring (valid and test, beyond accuracy), model save, and in
the driver the store commit of the record.

Then the issue-24 target: ``mmerbench.run(["br"], ["synthetic"], seeds 0..15, jobs=2)`` with the warm
pool (default) and with ``fresh_interpreter=True`` (a spawned interpreter per job, the pool before),
against fitting the same 16 models (fit, then probabilities on valid and test) in one Python loop in
this process, the dataset loaded once. Wall times; the machine's load averages are printed with them.

    python benchmarks/job_overhead.py [--n-jobs 16] [--jobs 2] [--skip-stages] [--skip-fresh] [--pairs 9]

The issue's target is read on the last comparison, both sides as a user runs them (a command against a
script, each in a fresh interpreter): the run of 16 jobs at most 1.3x the loop script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

STAGES = r'''
import json, sys, time, tempfile
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import mmerbench.execution.worker as worker
from mmerbench.execution.job_order import JobOrder
mark("worker imports")
from mmerbench.plugins import get_registry
get_registry()
mark("plugin discovery")
from mmerbench.api import method_class
method_class("br")
mark("method module (scikit-learn)")
from mmerbench.execution.job_dataset import load_job_dataset
job = json.loads(sys.argv[1])
dataset = load_job_dataset(job)
mark("dataset open + fingerprint check")
method = method_class("br")(**job["params"])
method.fit(dataset.train, dataset.valid)
mark("fit")
from mmerbench.evaluation.job_scores import beyond_accuracy
arrays, metrics, per_label, outputs = worker._predict_and_score(method, dataset, job)
beyond_accuracy(outputs, method.threshold_, single_label=dataset.single_label, modalities=list(dataset.modalities))
mark("scoring")
from mmerbench.execution.job_models import save_model_for_record
save_model_for_record(tempfile.mkdtemp(), job["key"], method, True)
mark("model save")
print(json.dumps([(b[0], b[1] - a[1]) for a, b in zip(marks, marks[1:])]))
'''


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def stages() -> None:
    from mmerbench.execution.runner import plan
    from mmerbench.store.results import ResultStore

    (job,), _ = plan(["br"], ["synthetic"], [0], device="cpu")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"  {'interpreter start':<34} {time.perf_counter() - started:6.3f} s")
    out = subprocess.run([sys.executable, "-c", STAGES, json.dumps(job.to_dict())], check=True,
                         capture_output=True, text=True).stdout
    for name, seconds in json.loads(out.strip().splitlines()[-1]):
        print(f"  {name:<34} {seconds:6.3f} s")
    with tempfile.TemporaryDirectory() as results, ResultStore(results) as store:
        record = {**job.to_dict(), "status": "ok", "metrics": {"test": {"miF1": 0.5}}}
        started = time.perf_counter()
        store.put(record)
        print(f"  {'store commit (driver)':<34} {time.perf_counter() - started:6.3f} s")


def loop(n_jobs: int, threads: int | None = None) -> tuple[float, float]:
    """(wall, CPU) seconds of the loop; ``threads`` limits its BLAS/OpenMP pools (None: their defaults)."""
    from threadpoolctl import threadpool_limits

    import mmerbench

    dataset = mmerbench.load_dataset("synthetic")
    with threadpool_limits(threads):
        cpu, started = time.process_time(), time.perf_counter()
        for seed in range(n_jobs):
            method = mmerbench.make_method("br", random_state=seed)
            method.fit(dataset.train, dataset.valid)
            method.predict_proba(dataset.valid), method.predict_proba(dataset.test)
        return time.perf_counter() - started, time.process_time() - cpu


def _server_cpu() -> float:
    """CPU seconds of this process's warm server and of the jobs it forked and reaped (0 when none runs)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pool(n_jobs: int, jobs: int, fresh: bool, spans_file: str | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run: the driver, its spawned children, its warm server and the jobs
    the server forked (the server's own start included when this run started it)."""
    import mmerbench

    if spans_file:
        from mmerbench.spans import ENV

        os.environ[ENV] = spans_file
    try:
        with tempfile.TemporaryDirectory() as results:
            driver_cpu, children_cpu, server_cpu = time.process_time(), _children_cpu(), _server_cpu()
            started, started_at = time.perf_counter(), time.time()
            outcome = mmerbench.run(["br"], ["synthetic"], list(range(n_jobs)), results=results, jobs=jobs,
                                    device="cpu", fresh_interpreter=fresh)
            elapsed = time.perf_counter() - started
            driver_cpu = time.process_time() - driver_cpu
            cpu = driver_cpu + _children_cpu() - children_cpu + _server_cpu() - server_cpu
    finally:
        if spans_file:
            os.environ.pop(ENV, None)
    assert not outcome.failed and len(outcome.records) == n_jobs
    if spans_file:
        report_spans(spans_file, started_at, elapsed, driver_cpu, outcome.records)
    return elapsed, cpu


def report_spans(path: str, started_at: float, elapsed: float, driver_cpu: float, records: list[dict]) -> None:
    """Where the run's wall and CPU seconds went, summed per stage over the driver and the job processes."""
    with open(path, encoding="utf-8") as lines:
        spans = [json.loads(line) for line in lines]
    totals: dict[str, list[float]] = {}
    for each in spans:
        total = totals.setdefault(each["name"], [0, 0.0, 0.0])
        total[0] += 1
        total[1] += each["wall"]
        total[2] += each["cpu"]
    print(f"    stages (count, wall summed, CPU summed); the run: {elapsed:.2f} s wall, driver CPU {driver_cpu:.2f} s, "
          "job processes' CPU"
          f" {sum(r.get('cpu_seconds') or 0 for r in records):.2f} s (their own rusage)")
    for name, (count, wall, cpu) in sorted(totals.items(), key=lambda item: item[1][1] > 0 and -item[1][1]):
        print(f"      {name:<46} x{count:<3} wall {wall:7.3f} s  CPU {cpu:7.3f} s")
    asked = sorted(each["start"] for each in spans if each["name"] == "driver: start a job process")
    begun = sorted(each["start"] for each in spans if each["name"] == "job: whole (claim to release)")
    sent = sorted(each["start"] + each["wall"] for each in spans if each["name"] == "job process: send result")
    if begun and sent:
        print(f"    timeline: run start -> first job begins {begun[0] - started_at:.3f} s; "
              f"last result sent -> run returns {started_at + elapsed - sent[-1]:.3f} s")
    if asked and len(asked) == len(begun):
        gaps = sorted(b - a for a, b in zip(asked, begun))
        print(f"    driver asks for a job process -> the job begins in it: median {gaps[len(gaps) // 2]:.3f} s, "
              f"max {gaps[-1]:.3f} s (the first jobs wait for a cold server)")


WHOLE_LOOP = r'''
import sys
import mmerbench
dataset = mmerbench.load_dataset("synthetic")
for seed in range(int(sys.argv[1])):
    method = mmerbench.make_method("br", random_state=seed)
    method.fit(dataset.train, dataset.valid)
    method.predict_proba(dataset.valid), method.predict_proba(dataset.test)
'''


def whole(n_jobs: int, jobs: int, pairs: int) -> None:
    """Both sides from a fresh interpreter, start-up and exit included: ``mmerbench run`` (the command, its table
    printed, a new results folder each time) against a script that imports mmerbench, loads the dataset and runs
    the loop above. ``pairs`` runs of each, in turn (command, script, command, ...), so that a drift of the
    machine's speed reaches both; the medians and the median of the pairwise ratios are the figures."""
    import statistics

    def timed(command: list[str]) -> float:
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started

    executable = os.path.join(os.path.dirname(sys.executable), "mmerbench")
    commands, scripts = [], []
    for _ in range(pairs):
        with tempfile.TemporaryDirectory() as results:
            commands.append(timed([executable, "run", "--methods", "br", "--datasets", "synthetic", "--seeds",
                                   ",".join(str(s) for s in range(n_jobs)), "--jobs", str(jobs), "--device", "cpu",
                                   "--results", results]))
        scripts.append(timed([sys.executable, "-c", WHOLE_LOOP, str(n_jobs)]))
    ratios = [c / s for c, s in zip(commands, scripts)]
    print(f"  whole loop script (python -c: import, load, {n_jobs} fits)    median {statistics.median(scripts):6.2f} s "
          f"(min {min(scripts):.2f}, max {max(scripts):.2f})")
    print(f"  whole command (mmerbench run --jobs {jobs})                   median {statistics.median(commands):6.2f} s "
          f"(min {min(commands):.2f}, max {max(commands):.2f})")
    print(f"  command / script, pair by pair ({pairs} pairs): median {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x); target <= 1.30x ({load()})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-jobs", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--spans", action="store_true",
                        help="time the stages of the warm pool's run (MMERBENCH_SPANS) and print where the time went")
    parser.add_argument("--skip-fresh", action="store_true", help="leave out the spawn-per-job pool (slow)")
    parser.add_argument("--skip-whole", action="store_true",
                        help="leave out the whole-command comparison (both sides from a fresh interpreter)")
    parser.add_argument("--pairs", type=int, default=9, help="command/script pairs of the whole comparison")
    args = parser.parse_args(argv)
    if not args.skip_stages:
        print(f"one br job on synthetic, stage by stage in a fresh interpreter ({load()}):")
        stages()
    print(f"{args.n_jobs} br jobs on synthetic ({load()}):")
    in_loop, loop_cpu = loop(args.n_jobs)
    print(f"  one Python loop (fit + valid/test probabilities)          {in_loop:7.2f} s (CPU {loop_cpu:6.2f} s)")
    one_thread, one_thread_cpu = loop(args.n_jobs, threads=1)  # as each job runs (--threads 1): for the CPU figures
    print(f"  the same loop, 1 BLAS/OpenMP thread (as a job runs)      {one_thread:7.2f} s "
          f"(CPU {one_thread_cpu:6.2f} s)")
    # The loop above excludes its imports and the dataset's load; the first run pays its warm server's
    # start (a fresh interpreter importing scikit-learn, skops and, through skops, torch; then the plugins and
    # the dataset). The second run in this process finds the server running, as every run of a session after
    # the first does (a notebook, `mmerbench tune`'s batches): its start-up is excluded, like the loop's.
    variants = [("warm pool (default), server cold", False), ("warm pool, server already running", False)]
    if not args.skip_fresh:
        variants.append(("spawn per job (--fresh-interpreter)", True))
    for name, fresh in variants:
        spans_file = None
        if args.spans and not fresh:
            spans_file = tempfile.mktemp(suffix=".jsonl", prefix="mmerbench-spans-")
        seconds, cpu = pool(args.n_jobs, args.jobs, fresh, spans_file)
        print(f"  mmerbench.run(jobs={args.jobs}), {name:<36} {seconds:7.2f} s = {seconds / in_loop:.2f}x the loop, "
              f"{(seconds - in_loop) / args.n_jobs:+.3f} s per job; CPU {cpu:6.2f} s = "
              f"{(cpu - one_thread_cpu) / args.n_jobs:+.3f} s per job over the 1-thread loop ({load()})")
    if not args.skip_whole:
        print(f"{args.n_jobs} br jobs on synthetic, everything from a fresh interpreter ({load()}):")
        whole(args.n_jobs, args.jobs, args.pairs)


if __name__ == "__main__":
    main()
