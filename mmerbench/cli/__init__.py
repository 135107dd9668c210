"""The ``mmerbench`` command line: the parser and one module per group of commands."""

from mmerbench.cli.main import main

__all__ = ["main"]
