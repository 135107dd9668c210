"""`mmerbench results`: every job record of a store, as JSON or CSV."""

from __future__ import annotations

import argparse
import json
import sys

from mmerbench.cli.common import DEFAULT_RESULTS, require_store



def add_parser(commands) -> None:
    results = commands.add_parser("results", help="print every job record of a results store")
    results.add_argument("--results", default=DEFAULT_RESULTS)
    results.add_argument("--format", choices=["json", "csv"], default="json")
    results.add_argument("--dataset")
    results.add_argument("--per-label", action="store_true",
                         help="CSV in long format: per-label P, R, F1 and support of every job and split")
    results.set_defaults(func=cmd_results)


def cmd_results(args: argparse.Namespace) -> int:
    from mmerbench.store.results import ResultStore

    require_store(args.results, "results")
    with ResultStore(args.results, create=False, read_only=True) as store:
        records = store.records(dataset=args.dataset)
    if getattr(args, "per_label", False):
        from mmerbench.reporting.results_csv import write_per_label_csv

        write_per_label_csv(records, sys.stdout)
    elif args.format == "json":
        print(json.dumps(records, indent=2))
    else:
        from mmerbench.reporting.results_csv import write_records_csv

        write_records_csv(records, sys.stdout)
    return 0
