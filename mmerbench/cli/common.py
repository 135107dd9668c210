"""What several commands share: the default results folder, finding a results store, list and --set parsing,
warnings shown to users."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from pathlib import Path

from mmerbench.config import DEFAULT_RESULTS, _csv as csv_list, _setting_text as setting_pair  # noqa: F401

STORE_FILE = "results.sqlite"  # the store's file in a results folder (mmerbench.store.results.DB_NAME)
SEARCH_DEPTH = 3  # folders below the current one searched for stores
SEARCH_LIMIT = 5000  # folders visited at most, so a huge tree (a home folder) answers quickly
SHOWN_STORES = 10
SKIPPED_FOLDERS = {"node_modules", "__pycache__", "site-packages", ".git"}


def require_store(results: str | Path, command: str) -> Path:
    """The store file of ``--results``, or a StoreError that says where it looked and what it can see.

    A user who runs ``mmerbench leaderboard`` from another folder than the one they ran ``mmerbench run``
    in gets, instead of a bare "no results store", the ``--results`` option to give and the stores
    found under the current folder.
    """
    from mmerbench.errors import StoreError

    path = Path(results) / STORE_FILE
    if path.is_file() or not str(results).strip():  # an empty --results is refused by the store itself
        return path
    here = Path.cwd()
    lines = [f"no results store at {path} (looked in {Path(results).absolute()}); give the folder that "
             f"`mmerbench run --results DIR` wrote: `mmerbench {command} --results DIR`"]
    found = find_stores(here)
    if found:
        lines.append(f"results stores under the current folder {here}, newest first:")
        lines += [f"  {folder}  (last written {time.strftime('%Y-%m-%d %H:%M', time.localtime(mtime))})"
                  for folder, mtime in found[:SHOWN_STORES]]
        if len(found) > SHOWN_STORES:
            lines.append(f"  ... and {len(found) - SHOWN_STORES} more")
        lines.append(f"e.g. `mmerbench {command} --results {found[0][0]}`")
    else:
        lines.append(f"no results store under the current folder {here} either (searched {SEARCH_DEPTH} folders "
                     "deep); run `mmerbench run` first, or pass --results with the folder where it ran")
    raise StoreError("\n".join(lines))


def find_stores(root: Path) -> list[tuple[str, float]]:
    """Folders under ``root`` (itself included, ``SEARCH_DEPTH`` deep) holding a results store, newest first,
    as paths relative to ``root``, with the store's modification time."""
    found, visited = [], 0
    for folder, subfolders, files in os.walk(root):
        visited += 1
        depth = len(Path(folder).relative_to(root).parts)
        if STORE_FILE in files:
            found.append((folder, os.path.getmtime(os.path.join(folder, STORE_FILE))))
        if depth >= SEARCH_DEPTH or visited >= SEARCH_LIMIT:
            subfolders[:] = []
        else:  # hidden folders, virtual environments and caches hold no results
            subfolders[:] = [name for name in subfolders if not name.startswith(".") and name not in SKIPPED_FOLDERS
                             and not os.path.exists(os.path.join(folder, name, "pyvenv.cfg"))]
    found.sort(key=lambda item: -item[1])
    return [(os.path.relpath(folder, root), mtime) for folder, mtime in found]


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
