"""What a run or an evaluation prints after its jobs: warnings, incompatible jobs, conditions without scores."""

from __future__ import annotations

import sys


def print_warnings(outcome) -> None:
    """Once per run: jobs that finished but whose numbers need a second look (e.g. a collapsed model)."""
    warned = [record for record in outcome.records if record.get("warnings")]
    if not warned:
        return
    print(f"\n{len(warned)} job(s) finished with a warning:")
    for record in warned:
        for warning in record["warnings"]:
            print(f"  {record['method']} on {record['dataset']} seed {record['seed']}: {warning}")


def print_incompatible(outcome) -> None:
    """Once per run: the jobs planned but not run because the method cannot use the dataset."""
    if not outcome.incompatible:
        return
    groups: dict[tuple, list[int]] = {}
    for job in outcome.incompatible:
        groups.setdefault((job.method, job.dataset, job.incompatible), []).append(job.seed)
    print(f"\n{len(outcome.incompatible)} job(s) not run, incompatible (they are never retried):")
    for (method, dataset, reason), seeds in groups.items():
        print(f"  {method} on {dataset}: {reason} (seeds {', '.join(map(str, seeds))})")
    if not outcome.failed:
        print("Every other job finished; incompatible jobs alone do not make the run fail.")


def print_condition_errors(records) -> None:
    """The robustness conditions some methods could not take (their jobs stay ok)."""
    lines = [f"  {r['method']} on {r['dataset']} seed {r['seed']}, {condition}: {message}"
             for r in records for condition, message in sorted((r.get("condition_errors") or {}).items())]
    if lines:
        print(f"\n{len(lines)} robustness condition(s) without scores:", file=sys.stderr)
        print("\n".join(lines), file=sys.stderr)


def print_evaluation(evaluation, with_progress: bool = True) -> bool:
    """Print what an evaluation of finished jobs did; True when every job could be evaluated."""
    from mmerbench.execution.reevaluate import summary

    out, err = summary(evaluation, with_progress)
    for line in out:
        print(line)
    if err:
        print("\n".join(err), file=sys.stderr)
    print_condition_errors(evaluation.updated)
    return not (evaluation.no_model or evaluation.failed)
