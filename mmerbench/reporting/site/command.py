"""``mmerbench site``: its options and what it prints. Cheap to import (the CLI builds its parser with it)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", action="append", required=True, metavar="DIR",
                        help="a results folder (repeatable: one table per dataset, each dataset in one folder)")
    parser.add_argument("--out", required=True, metavar="SITE",
                        help="folder to write the site to (replaced when it holds a site written before)")
    parser.add_argument("--title", default="mmerbench leaderboard", help="the site's title")
    parser.add_argument("--robustness-metric", default="mif1",
                        help="metric of the robustness tables and figures (default: mif1)")
    parser.add_argument("--robustness-reference", default="br",
                        help="method whose curve effective robustness is measured against (default: br)")


def main(args: argparse.Namespace) -> int:
    from mmerbench.reporting.site.builder import build_site

    site = build_site(args.results, args.out, title=args.title, robustness_metric=args.robustness_metric,
                      robustness_reference=args.robustness_reference)
    print(f"wrote {site.path}/index.html: {len(site.datasets)} dataset(s) ({', '.join(site.datasets)}), "
          f"{site.pages} pages, {site.figures} figures, {site.bytes / 1e6:.1f} MB in {site.seconds:.1f} s")
    return 0
