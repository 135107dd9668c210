"""`mmerbench run`: plan and train methods x datasets x seeds, then print the run's table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmerbench.cli.outcome import print_condition_errors, print_evaluation, print_incompatible, print_warnings
from mmerbench.config import RunConfig, add_run_arguments


def add_parser(commands) -> None:
    run = commands.add_parser("run", help="train and evaluate methods x datasets x seeds")
    add_run_arguments(run)
    run.add_argument("--dry-run", action="store_true", help="list the jobs and which are done; run nothing")
    run.add_argument("--config", help="TOML file with the same settings (command-line options win)")
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from mmerbench.cli.display import make_progress
    from mmerbench.reporting.leaderboard import build_rows, render
    from mmerbench.reporting.robustness_tables import robustness_markdown
    from mmerbench.execution.runner import run_config
    from mmerbench.store.results import ResultStore

    config = RunConfig.from_args(args).checked()
    display = make_progress()
    with display:
        outcome = run_config(config, dry_run=args.dry_run, on_event=display if not args.dry_run else None)
    if config.detach:
        for note in outcome.notes:
            print(note)
        return 0
    if args.dry_run:
        for note in outcome.notes:  # a real run showed them before its first job
            print(note)
        done = {job.key for job in outcome.skipped}
        print(f"{len(outcome.planned)} jobs ({len(done)} already done):")
        for job in outcome.planned:
            state = f"incompatible: {job.incompatible}" if job.incompatible else "done" if job.key in done else "to run"
            print(f"  [{state}] {job.key}  {job.command}")
        return 0
    with ResultStore(config.results, create=False, read_only=True) as store:
        records = store.records()
    this_run = {job.key for job in outcome.planned}  # the whole store stays available through `leaderboard`
    records = [record for record in records if record["key"] in this_run]
    for dataset in config.datasets:
        print(f"\n{dataset} (test split)\n")
        print(render(build_rows(records, dataset)))
        if config.protocols:  # the run's robustness table, as the plain run's main table above
            robustness = robustness_markdown(records, dataset)
            if robustness:
                print("\n" + robustness)
    print(f"\nResults: {Path(config.results).resolve()}  (mmerbench leaderboard --results {config.results})")
    unsaved = [r for r in outcome.records if r.get("model_error")]
    if unsaved:
        print(f"\n{len(unsaved)} job(s) finished but their model could not be saved (their scores stand):",
              file=sys.stderr)
        for record in unsaved:
            print(f"  {record['method']} on {record['dataset']} seed {record['seed']}: {record['model_error']}",
                  file=sys.stderr)
    print_incompatible(outcome)
    print_warnings(outcome)
    print_condition_errors(outcome.records)
    # jobs whose --protocol conditions could not be evaluated fail the run, as they fail `evaluate`
    evaluated = print_evaluation(outcome.evaluation) if outcome.evaluation is not None else True
    if outcome.failed:
        print(f"\n{len(outcome.failed)} job(s) failed (they are retried on the next run):", file=sys.stderr)
        for record in outcome.failed:
            print(f"  {record['method']} on {record['dataset']} seed {record['seed']}: {record['error']}",
                  file=sys.stderr)
        return 1
    return 0 if evaluated else 1
