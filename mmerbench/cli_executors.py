"""The command line of execution beyond one machine: --executor options, `mmerbench status`, `mmerbench collect`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmerbench.execution.executor_options import EXECUTORS, ExecutorOptions


def add_executor_arguments(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("executors (beyond one machine)")
    group.add_argument("--executor", choices=EXECUTORS,
                       help="local process pool (default), ray (mmerbench[ray]), slurm via submitit (mmerbench[slurm]),"
                            " or slurm-local: the Slurm code path through submitit's local executor")
    group.add_argument("--ray-address", help="auto or HOST:PORT of a running Ray cluster (default: start Ray here)")
    group.add_argument("--cpus-per-job", type=float, help="CPUs each job asks Ray or Slurm for (default: 1)")
    group.add_argument("--gpus-per-job", type=float,
                       help="GPUs per job; fractions (0.5) share a GPU under ray and the local pool (default: 0)")
    group.add_argument("--slurm-partition", help="Slurm partition of the array")
    group.add_argument("--slurm-time", type=int, metavar="MINUTES", help="time limit of each array task (default: 60)")
    group.add_argument("--slurm-array-parallelism", type=int, help="array tasks running at once (default: 64)")
    group.add_argument("--slurm-setup", action="append", metavar="LINE",
                       help="a shell line run before each task (e.g. 'module load cuda'); repeat for several")
    group.add_argument("--detach", action="store_true", default=None,
                       help="slurm: submit and return; follow with `mmerbench status`, gather with `mmerbench collect`")


def executor_options(options: dict) -> ExecutorOptions:
    return ExecutorOptions(
        name=options["executor"], ray_address=options["ray_address"], cpus_per_job=float(options["cpus_per_job"]),
        gpus_per_job=float(options["gpus_per_job"]), slurm_partition=options["slurm_partition"],
        slurm_time=int(options["slurm_time"]), slurm_array_parallelism=int(options["slurm_array_parallelism"]),
        slurm_setup=list(options["slurm_setup"] or []), detach=bool(options["detach"]),
    )


def _submitted_jobs(results: Path) -> list[dict]:
    from mmerbench.execution.slurm_pool import SLURM_DIR, SUBMISSION

    jobs: dict[str, dict] = {}
    for path in sorted((results / SLURM_DIR).glob(f"*/{SUBMISSION}")):
        for job in json.loads(path.read_text())["jobs"]:
            jobs[job["key"]] = job  # a later submission of the same key wins
    return list(jobs.values())


def job_states(results: Path) -> list[dict]:
    """One row per submitted or stored job: key, state, and where its log is."""
    from mmerbench.execution.job_files import is_running, published_record
    from mmerbench.store import ResultStore

    stored = {}
    if (results / "results.sqlite").exists():
        with ResultStore(results, create=False, read_only=True) as store:
            stored = {r["key"]: r for r in store.records()}
    rows = []
    submitted = _submitted_jobs(results)
    for job in submitted:
        key = job["key"]
        record = stored.get(key) or published_record(results, key)
        if record is not None:
            state = "done" if record["status"] == "ok" else record["status"]
            if key not in stored:
                state += " (not collected)"
        elif is_running(results, key):
            state = "running"
        else:
            state = "pending"
        rows.append({"key": key, "state": state, "job_id": job.get("job_id"), "log": job.get("stderr")})
    seen = {job["key"] for job in submitted}
    for key, record in stored.items():
        if key not in seen:
            rows.append({"key": key, "state": "done" if record["status"] == "ok" else record["status"],
                         "job_id": record.get("slurm_job_id"), "log": record.get("log_stderr")})
    return rows


def cmd_status(args: argparse.Namespace) -> int:
    from mmerbench.errors import UsageError

    results = Path(args.results)
    if not results.is_dir():
        raise UsageError(f"--results {results}: no such directory (give the directory of `mmerbench run --results`)")
    rows = job_states(results)
    counts: dict[str, int] = {}
    for row in rows:
        print(f"{row['key'][:12]}  {row['state']:<22} {row['job_id'] or '-':<14} {row['log'] or ''}")
        base = row["state"].split(" ")[0]
        counts[base] = counts.get(base, 0) + 1
    print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no jobs")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from mmerbench.execution.job_files import collect_published
    from mmerbench.store import ResultStore

    with ResultStore(args.results) as store:
        collected = collect_published(store, args.results)
    done = sum(1 for r in collected if r["status"] == "ok")
    print(f"collected {len(collected)} job(s) into {Path(args.results) / 'results.sqlite'}: {done} done, "
          f"{len(collected) - done} failed or timed out")
    return 0
