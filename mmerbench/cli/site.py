"""`mmerbench site`: the published results as a static web page (the builder is mmerbench/reporting/site/)."""

from __future__ import annotations


def add_parser(commands) -> None:
    from mmerbench.reporting.site import command as site_command  # light: Jinja2 is imported when it runs

    site = commands.add_parser("site", help="write a static HTML site: sortable leaderboards, row pages, samples")
    site_command.add_arguments(site)
    site.set_defaults(func=site_command.main)
