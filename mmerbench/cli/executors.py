"""The command line of execution beyond one machine: --executor options, `mmerbench status`, `mmerbench collect`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmerbench.cli.common import DEFAULT_RESULTS, require_store


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
    from mmerbench.store.results import ResultStore

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
    results = Path(args.results)
    if not results.is_dir():  # a folder without a store may still hold Slurm submissions not yet collected
        require_store(results, "status")
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
    from mmerbench.store.results import ResultStore

    with ResultStore(args.results) as store:
        collected = collect_published(store, args.results)
    done = sum(1 for r in collected if r["status"] == "ok")
    print(f"collected {len(collected)} job(s) into {Path(args.results) / 'results.sqlite'}: {done} done, "
          f"{len(collected) - done} failed or timed out")
    return 0


def add_parsers(commands) -> None:
    status = commands.add_parser("status", help="pending / running / done / failed per job of a run")
    status.add_argument("--results", default=DEFAULT_RESULTS)
    status.set_defaults(func=cmd_status)

    collect = commands.add_parser("collect", help="gather into the store the jobs that Slurm or Ray workers finished")
    collect.add_argument("--results", default=DEFAULT_RESULTS)
    collect.set_defaults(func=cmd_collect)
