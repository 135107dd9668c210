"""The command line of execution beyond one machine: --executor options, `mmerbench status`, `mmerbench collect`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmerbench.cli.common import DEFAULT_RESULTS, require_store


def _submitted_jobs(results: Path) -> list[dict]:
    from mmerbench.execution.slurm_pool import SLURM_DIR, SUBMISSION

    jobs: dict[str, dict] = {}
    from mmerbench.names import KEY_PATTERN

    for path in sorted((results / SLURM_DIR).glob(f"*/{SUBMISSION}")):
        try:
            submitted = json.loads(path.read_text())["jobs"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue  # a damaged submission file: its jobs show as stored or not at all
        for job in submitted:
            if isinstance(job, dict) and isinstance(job.get("key"), str) and KEY_PATTERN.match(job["key"]):
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
        rows.append({"key": key, "state": state, "job_id": job.get("job_id"), "log": job.get("stderr"),
                     **{name: (record or job).get(name) for name in ("method", "dataset", "seed")}})
    seen = {job["key"] for job in submitted}
    for key, record in stored.items():
        if key not in seen:
            rows.append({"key": key, "state": "done" if record["status"] == "ok" else record["status"],
                         "job_id": record.get("slurm_job_id"), "log": record.get("log_stderr"),
                         **{name: record.get(name) for name in ("method", "dataset", "seed")}})
    return rows


# one line per job: what it is (method, dataset, seed) before where it stands
STATUS_LINE = "{key:<12}  {method:<12} {dataset:<20} {seed:>5}  {state:<22} {job_id:<14} {log}"


def cmd_status(args: argparse.Namespace) -> int:
    results = Path(args.results)
    if not results.is_dir():  # a folder without a store may still hold Slurm submissions not yet collected
        require_store(results, "status")
    rows = job_states(results)
    counts: dict[str, int] = {}
    from mmerbench.reporting.escaping import terminal_text

    if rows:
        print(STATUS_LINE.format(key="KEY", method="METHOD", dataset="DATASET", seed="SEED", state="STATE",
                                 job_id="JOB ID", log="LOG"))
    for row in rows:  # keys, states, names and log paths come from files others may have written: text only
        print(terminal_text(STATUS_LINE.format(
            key=row["key"][:12], method=str(row.get("method") or "?"), dataset=str(row.get("dataset") or "?"),
            seed="?" if row.get("seed") is None else str(row["seed"]), state=row["state"],
            job_id=row["job_id"] or "-", log=row["log"] or "").rstrip()))
        base = row["state"].split(" ")[0]
        counts[base] = counts.get(base, 0) + 1
    print(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no jobs")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from mmerbench.execution.job_files import OUTSIDE, collect_published
    from mmerbench.reporting.escaping import terminal_text
    from mmerbench.store.results import ResultStore

    with ResultStore(args.results) as store:
        outcome = collect_published(store, args.results)
    collected = outcome.stored
    done = sum(1 for r in collected if r["status"] == "ok")
    outside = sum(1 for r in collected if r.get("origin") == OUTSIDE)
    print(f"collected {len(collected)} job(s) into {Path(args.results) / 'results.sqlite'}: {done} done, "
          f"{len(collected) - done} failed or timed out"
          + (f"; {outside} from outside any planned run (marked on their rows)" if outside else ""))
    for line in outcome.kept:
        print(f"kept: {terminal_text(line)}")
    for line in outcome.refused:
        print(f"refused: {terminal_text(line)}", file=sys.stderr)
    if outcome.refused:
        print(f"{len(outcome.refused)} record(s) refused; nothing of them was stored. Delete or fix those files, "
              "or re-run their jobs.", file=sys.stderr)
        return 1
    return 0


def add_parsers(commands) -> None:
    status = commands.add_parser("status", help="pending / running / done / failed per job of a run")
    status.add_argument("--results", default=DEFAULT_RESULTS)
    status.set_defaults(func=cmd_status)

    collect = commands.add_parser("collect", help="gather into the store the jobs that Slurm or Ray workers finished")
    collect.add_argument("--results", default=DEFAULT_RESULTS)
    collect.set_defaults(func=cmd_collect)
