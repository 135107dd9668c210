"""Run each call in its own fresh ``spawn`` process, at most N at a time.

concurrent.futures' ProcessPoolExecutor breaks as a whole when one worker
dies (SIGKILL from the OOM killer, a segfault in a native library,
``os._exit``): every pending future fails with BrokenProcessPool and nobody
can tell which job was the culprit. Here every call owns its process, so a
death is attributed to exactly one call, with its exit code, and the other
calls go on in fresh processes.

A job reports progress to the driver on its own pipe, the one its result comes back on
(:func:`send_event`), never on a channel shared with other jobs: a lock shared between processes stays
locked when the process holding it dies (SIGKILL, ``os._exit``, a timeout's kill), and every other job
would then hang at its next report or at its exit.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable, Iterator, Sequence

from mmerbench.spans import span

_channel = None  # in a job process: its own connection to the driver (results and progress events)
_channel_lock = threading.Lock()  # a job's threads take turns on it (a thread lock dies with its process)


def in_job_process() -> bool:
    """True in a job process of a local pool (its events reach the driver)."""
    return _channel is not None


def send_event(event: Any) -> bool:
    """In a job process of a local pool: send ``event`` to the driver's ``on_event`` now, on this job's own pipe
    (blocks while the pipe is full, until the driver reads). False anywhere else (Ray, Slurm, in-process)."""
    if _channel is None:
        return False
    with _channel_lock:
        _channel.send(("event", event))
    return True


@dataclass
class Outcome:
    """How one call ended: its return value, or the exit code of the process that died."""

    tag: Any
    pid: int | None
    returned: bool
    value: Any = None
    exitcode: int | None = None
    child_error: str | None = None  # the traceback when the call raised instead of returning
    timed_out: bool = False  # stopped by the pool after ``timeout`` seconds


def _child(connection, function, args) -> None:
    global _channel
    # Ctrl-C reaches the whole foreground process group; the parent decides what stops (it terminates its
    # children when the run stops), so a worker never turns a Ctrl-C into a failed job of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _channel = connection
    try:
        message = ("returned", function(*args))
    except BaseException:  # noqa: BLE001 - reported to the parent as the call's failure
        message = ("raised", traceback.format_exc())
    with _channel_lock:
        try:
            with span("job process: send result"):
                connection.send(message)
        except Exception:  # a result that cannot be pickled: say so rather than die silently
            connection.send(("raised", traceback.format_exc()))
        connection.close()


class FreshProcessPool:
    """``run(calls)`` yields an :class:`Outcome` per call as the calls finish.

    ``calls`` are ``(tag, function, args)``; the function and its arguments
    must be picklable (``spawn``). Closing the generator early (the caller
    stops the run) terminates the processes still running. A call running
    longer than ``timeout`` seconds is stopped and reported ``timed_out``.
    ``on_event(tag, event)`` is called, in the caller's thread, for each event a call's process sends
    (:func:`send_event`), in the order sent, before that call's outcome.
    """

    def __init__(self, workers: int, on_start: Callable[[Any], None] | None = None, timeout: float | None = None,
                 on_event: Callable[[Any, Any], None] | None = None):
        self.workers = max(1, int(workers))
        self.on_event = on_event or (lambda tag, event: None)
        self.timeout = timeout
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
                ready = wait([*running, *readers], timeout=self._next_deadline(running))
                for sentinel, state in list(running.items()):
                    # A process that ended in the same instant keeps its result.
                    if self.timeout is not None and sentinel not in ready and time.monotonic() >= state["deadline"]:
                        running.pop(sentinel)
                        yield self._stop_late(state)
                for state in running.values():
                    if state["reader"] in ready:
                        self._receive(state)
                for sentinel in [s for s in ready if s in running]:
                    state = running.pop(sentinel)
                    with span("driver: collect a finished job"):
                        ended = self._finish(state)
                    yield ended
        finally:
            if running:  # only when the caller stopped early (Ctrl-C, SIGTERM, a store failure)
                _stop_all(list(running.values()))

    def _start(self, tag, function, args) -> dict:
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_child, args=(writer, function, args),
                                       daemon=False)
        with span("driver: start a job process", tag=repr(tag)):
            process.start()
        writer.close()  # the child holds the only writing end, so its death closes the pipe
        self.started_pids.append(process.pid)
        self.on_start(tag)
        deadline = time.monotonic() + self.timeout if self.timeout is not None else None
        return {"tag": tag, "process": process, "reader": reader, "message": None, "closed": False,
                "deadline": deadline}

    def _next_deadline(self, running: dict) -> float | None:
        if self.timeout is None or not running:
            return None
        return max(0.0, min(s["deadline"] for s in running.values()) - time.monotonic())

    @staticmethod
    def _stop_late(state: dict) -> Outcome:
        """A call past its time: SIGTERM, then SIGKILL if it does not end within a few seconds."""
        process = state["process"]
        process.terminate()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
        state["reader"].close()
        return Outcome(state["tag"], process.pid, False, exitcode=process.exitcode, timed_out=True)

    def _receive(self, state: dict) -> None:
        """Read what the call's process has sent so far: its events (handed on) and, at the end, its result.
        A process that died mid-send leaves no result."""
        reader = state["reader"]
        try:
            while state["message"] is None and reader.poll():
                message = reader.recv()
                if isinstance(message, tuple) and len(message) == 2 and message[0] == "event":
                    self.on_event(state["tag"], message[1])
                else:
                    state["message"] = message
        except (EOFError, OSError):
            state["closed"] = True

    def _finish(self, state: dict) -> Outcome:
        process = state["process"]
        if state["message"] is None:  # the result may arrive together with the exit
            self._receive(state)
        process.join()
        state["reader"].close()
        message = state["message"]
        if message is not None and message[0] == "returned":
            return Outcome(state["tag"], process.pid, True, value=message[1], exitcode=process.exitcode)
        child_error = message[1] if message is not None else None
        return Outcome(state["tag"], process.pid, False, exitcode=process.exitcode, child_error=child_error)


def _stop_all(states: list[dict], grace: float = 5.0) -> None:
    """Stop running calls: SIGTERM to all, SIGKILL to those still alive after ``grace`` seconds, then reap.

    A second Ctrl-C or SIGTERM while this runs is ignored: an interrupted clean-up would leave workers
    running after the driver is gone.
    """
    with _signals_deferred():
        for state in states:
            state["process"].terminate()
        deadline = time.monotonic() + grace
        for state in states:
            state["process"].join(timeout=max(0.0, deadline - time.monotonic()))
        for state in states:
            if state["process"].is_alive():
                state["process"].kill()
                state["process"].join()
            state["reader"].close()


class _signals_deferred:
    """Ignore SIGINT and SIGTERM (main thread only) while the workers are being stopped: the run is ending
    already, and a second Ctrl-C must not cut the clean-up short and leave workers behind."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, signal.SIG_IGN)
        return self

    def __exit__(self, *exc) -> bool:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False
