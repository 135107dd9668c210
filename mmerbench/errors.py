"""Exceptions users see. Each message names the bad value and what would be valid."""

from __future__ import annotations

import difflib


class MMERBenchError(Exception):
    """Base class: the CLI prints these without a traceback and exits non-zero."""

    exit_code = 1


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM). Raised in the main thread by the CLI's handler, like
    KeyboardInterrupt for SIGINT, so that every ``finally`` on the way out runs (the runner stops its workers).
    A BaseException, so that handlers of ordinary errors never swallow it."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a process that SIGTERM ended


class UsageError(MMERBenchError):
    """Bad names or values given by the user (exit code 2)."""

    exit_code = 2


class UnknownNameError(UsageError, KeyError):
    def __init__(self, kind: str, name: str, available: list[str], note: str = ""):
        self.kind, self.name, self.available = kind, name, sorted(available)
        close = difflib.get_close_matches(name, self.available, n=3, cutoff=0.6)
        message = f"Unknown {kind} {name!r}."
        if close:
            message += f" Did you mean: {', '.join(close)}?"
        message += f" Available: {', '.join(self.available) or '(none)'}"
        if note:
            message += f"\n{note}"
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class DuplicateNameError(MMERBenchError):
    pass


class PluginLoadError(MMERBenchError):
    pass


class DataError(MMERBenchError):
    """A data file or array is malformed; the message names file, array and problem."""


class StoreError(MMERBenchError):
    """The results store cannot be created, opened or read."""


class StoreWriteError(StoreError):
    """Writing to the results store failed (disk full, read-only file system, a value SQLite cannot hold).

    The run stops: jobs already committed stay, and a re-run resumes.
    """
