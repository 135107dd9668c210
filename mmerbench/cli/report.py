"""`mmerbench report`: report.md with leaderboards, significance and figures."""

from __future__ import annotations

import argparse

from mmerbench.cli.common import DEFAULT_RESULTS, require_store



def add_parser(commands) -> None:
    report = commands.add_parser("report", help="write report.md with leaderboards, significance and PNG figures")
    report.add_argument("--results", default=DEFAULT_RESULTS)
    report.add_argument("--dataset", help="only this dataset (default: every dataset with finished jobs)")
    report.add_argument("--out", required=True, help="folder for report.md and figures/")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from mmerbench.reporting.report import write_report

    require_store(args.results, "report")
    report = write_report(args.results, args.out, dataset=args.dataset)
    print(f"wrote {report.path} and {len(report.figures)} figure(s)"
          + (f"; {len(report.skipped)} figure(s) skipped (see report.md)" if report.skipped else ""))
    return 0
