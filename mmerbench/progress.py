"""A tiny progress channel: the training loop reports, whoever listens displays.

The runner installs a listener in each worker; without one, reports are
dropped, so library users see nothing unless they ask (``set_listener(print)``).
"""

from __future__ import annotations

from typing import Callable

_listener: Callable[[dict], None] | None = None


def set_listener(listener: Callable[[dict], None] | None) -> None:
    global _listener
    _listener = listener


def report(**event) -> None:
    if _listener is not None:
        _listener(event)
