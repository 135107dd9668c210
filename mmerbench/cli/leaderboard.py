"""`mmerbench leaderboard`: tables of a store (terminal/markdown, csv, json, latex) or published markdown."""

from __future__ import annotations

import argparse
import sys

from mmerbench.cli.common import DEFAULT_RESULTS, csv_list, require_store
from mmerbench.cli.leaderboard_checks import check_leaderboard_args
from mmerbench.errors import UsageError



def add_parser(commands) -> None:
    board = commands.add_parser("leaderboard", help="aggregate results into tables (mean ± std over seeds)")
    board.add_argument("--results", default=DEFAULT_RESULTS)
    board.add_argument("--dataset")
    board.add_argument("--format", choices=["markdown", "csv", "json", "latex"], default="markdown")
    board.add_argument("--metrics", help="comma-separated metrics (default: acc,p,r,mif1,maf1,hamming,subset_acc)")
    board.add_argument("--publish", action="store_true", help="write leaderboards/<dataset>.md with provenance")
    board.add_argument("--output-dir", default="leaderboards", help="where --publish writes (default: leaderboards)")
    board.add_argument("--reported", action="store_true", help="add rows reported in papers, marked as such")
    board.add_argument("--legacy-pr", action="store_true",
                       help="show P and R swapped as the TAILOR/CARAT/LDDU code printed them (marked legacy)")
    board.add_argument("--ci", action="store_true",
                       help="show 95%% bootstrap intervals in the cells (the resamples of --significance)")
    board.add_argument("--significance", choices=["seeds-and-samples", "fixed-models"], default="seeds-and-samples",
                       help="test of the † marks: seeds-and-samples (default; two-level bootstrap over retraining "
                            "seeds and test samples) or fixed-models (test samples only, the trained models held "
                            "fixed)")
    board.add_argument("--robustness-metric", default="mif1",
                       help="metric of the robustness tables (conditions of --protocol; default: mif1)")
    board.add_argument("--robustness-reference", default="br",
                       help="method whose curve effective robustness is measured against (default: br)")
    board.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from mmerbench.reporting.leaderboard import build_leaderboard, publish, render_board
    from mmerbench.store.results import ResultStore

    require_store(args.results, "leaderboard")
    with ResultStore(args.results, create=False, read_only=True) as store:
        records = store.records()
    datasets = [args.dataset] if args.dataset else sorted({r["dataset"] for r in records if r["status"] == "ok"})
    if not datasets:
        raise UsageError(f"no finished jobs in {args.results}")
    check_leaderboard_args(args, records, store.db_path)
    options = dict(with_reported=args.reported, legacy_pr=args.legacy_pr,
                   metrics=csv_list(args.metrics) if args.metrics else None, results_dir=args.results, ci=args.ci,
                   significance_test=args.significance, robustness_options={"metric": args.robustness_metric, "reference": args.robustness_reference})
    for dataset in datasets:
        if args.publish:
            print(f"wrote {publish(records, dataset, args.output_dir, **options)}")
            continue
        board = build_leaderboard(records, dataset, **options)
        if args.reported and not board.reported and args.format != "markdown":
            from mmerbench.reporting.leaderboard import no_reported_rows

            print(no_reported_rows(dataset), file=sys.stderr)
        print(render_board(board, args.format))
    return 0
