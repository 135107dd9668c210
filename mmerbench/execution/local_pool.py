"""Run each call in its own fresh ``spawn`` process, at most N at a time.

concurrent.futures' ProcessPoolExecutor breaks as a whole when one worker
dies (SIGKILL from the OOM killer, a segfault in a native library,
``os._exit``): every pending future fails with BrokenProcessPool and nobody
can tell which job was the culprit. Here every call owns its process, so a
death is attributed to exactly one call, with its exit code, and the other
calls go on in fresh processes.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable, Iterator, Sequence


@dataclass
class Outcome:
    """How one call ended: its return value, or the exit code of the process that died."""

    tag: Any
    pid: int | None
    returned: bool
    value: Any = None
    exitcode: int | None = None
    child_error: str | None = None  # the traceback when the call raised instead of returning


def _child(connection, initializer, initargs, function, args) -> None:
    try:
        if initializer is not None:
            initializer(*initargs)
        message = ("returned", function(*args))
    except BaseException:  # noqa: BLE001 - reported to the parent as the call's failure
        message = ("raised", traceback.format_exc())
    try:
        connection.send(message)
    except Exception:  # a result that cannot be pickled: say so rather than die silently
        connection.send(("raised", traceback.format_exc()))
    connection.close()


class FreshProcessPool:
    """``run(calls)`` yields an :class:`Outcome` per call as the calls finish.

    ``calls`` are ``(tag, function, args)``; the function and its arguments
    must be picklable (``spawn``). Closing the generator early (the caller
    stops the run) terminates the processes still running.
    """

    def __init__(self, workers: int, initializer: Callable | None = None, initargs: tuple = (),
                 on_start: Callable[[Any], None] | None = None):
        self.workers = max(1, int(workers))
        self.initializer = initializer
        self.initargs = initargs
        self.on_start = on_start or (lambda tag: None)
        self.context = multiprocessing.get_context("spawn")
        self.started_pids: list[int] = []  # every worker this pool started (for clean-up after a stop)

    def run(self, calls: Sequence[tuple[Any, Callable, tuple]]) -> Iterator[Outcome]:
        pending = deque(calls)
        running: dict[int, dict] = {}  # process sentinel -> its call's state
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    tag, function, args = pending.popleft()
                    state = self._start(tag, function, args)
                    running[state["process"].sentinel] = state
                readers = [s["reader"] for s in running.values() if s["message"] is None and not s["closed"]]
                ready = wait([*running, *readers])
                for state in running.values():
                    if state["reader"] in ready:
                        _receive(state)
                for sentinel in [s for s in ready if s in running]:
                    state = running.pop(sentinel)
                    yield self._finish(state)
        finally:
            for state in running.values():  # only when the caller stopped early
                state["process"].terminate()
            for state in running.values():
                state["process"].join(timeout=10)
                state["reader"].close()

    def _start(self, tag, function, args) -> dict:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_child, args=(writer, self.initializer, self.initargs, function, args),
                                       daemon=False)
        process.start()
        writer.close()  # the child holds the only writing end, so its death closes the pipe
        self.started_pids.append(process.pid)
        self.on_start(tag)
        return {"tag": tag, "process": process, "reader": reader, "message": None, "closed": False}

    @staticmethod
    def _finish(state: dict) -> Outcome:
        process = state["process"]
        if state["message"] is None:  # the result may arrive together with the exit
            _receive(state)
        process.join()
        state["reader"].close()
        message = state["message"]
        if message is not None and message[0] == "returned":
            return Outcome(state["tag"], process.pid, True, value=message[1], exitcode=process.exitcode)
        child_error = message[1] if message is not None else None
        return Outcome(state["tag"], process.pid, False, exitcode=process.exitcode, child_error=child_error)


def _receive(state: dict) -> None:
    """Read the child's message if one is there; a child that died mid-send leaves none."""
    reader = state["reader"]
    try:
        if reader.poll():
            state["message"] = reader.recv()
    except (EOFError, OSError):
        state["message"] = None
        state["closed"] = True
