"""Third-party engines' own messages (Ray's start-up banners, its warnings) go to a log file the run names.

A run's terminal output is its plan, its progress and its table. Ray prints banners while it starts
(``Token authentication is enabled for this Ray cluster...``) through Python logging, through
``sys.stderr`` and from the processes it launches, which inherit the driver's standard error. While the
engine starts, all three are pointed at the log file; afterwards the engine's loggers keep writing
there. Standard output is left alone: the progress display draws on it from its own thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Iterator

LOG_FOLDER = "logs"


def engine_log_path(results: str | Path, engine: str) -> Path:
    """Where a run that uses ``engine`` keeps the engine's own messages: ``RESULTS/logs/ENGINE.log``."""
    return Path(results) / LOG_FOLDER / f"{engine}.log"


def keep_loggers_in(path: Path, loggers: tuple[str, ...]) -> None:
    """Send these loggers (and their children) to ``path`` only, for the rest of the process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for name in loggers:
        logger = logging.getLogger(name)
        if not any(getattr(handler, "baseFilename", None) == str(path.absolute()) for handler in logger.handlers):
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
            logger.addHandler(handler)
        logger.propagate = False


@contextlib.contextmanager
def engine_output_to(path: Path, loggers: tuple[str, ...]) -> Iterator[None]:
    """While the block runs (an engine starting), its standard error and its loggers write to ``path``."""
    keep_loggers_in(path, loggers)
    with open(path, "a", encoding="utf-8") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}: {', '.join(loggers)} starting (pid {os.getpid()})\n")
        log.flush()
        sys.stderr.flush()
        saved = _redirect_fd(2, log.fileno())
        try:
            with contextlib.redirect_stderr(log):  # Python-level writes, whatever sys.stderr is now
                yield
        finally:
            log.flush()
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)


def _redirect_fd(fd: int, target: int) -> int | None:
    """Point file descriptor ``fd`` at ``target`` (processes started meanwhile inherit it); the old one."""
    try:
        saved = os.dup(fd)
    except OSError:  # no standard error at all (a daemon): nothing to redirect
        return None
    os.dup2(target, fd)
    return saved
