"""What several commands share: the default results folder, list and --set parsing, warnings shown to users."""

from __future__ import annotations

import contextlib
import sys
import warnings

from mmerbench.config import DEFAULT_RESULTS, _csv as csv_list, _setting_text as setting_pair  # noqa: F401



@contextlib.contextmanager
def user_warnings():
    """Show each warning meant for users (a skipped malformed row) as one plain line, every time."""
    from mmerbench.store.rows import MalformedRowWarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, MalformedRowWarning):
            print(f"mmerbench: warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", MalformedRowWarning)
        default, warnings.showwarning = warnings.showwarning, show
        yield
