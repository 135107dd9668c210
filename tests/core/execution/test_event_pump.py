"""The driver's pump of the workers' progress events: every event in order, and it ends at the run's end marker
(a blocking read, so the end of a run waits for no polling interval) (issue 24)."""

from __future__ import annotations

import multiprocessing
import threading

from mmerbench.execution.runner import _pump_events


def test_the_pump_forwards_every_event_in_order_and_ends_at_the_end_marker():
    events = multiprocessing.get_context("spawn").Queue()
    for event in ({"kind": "start", "job": "a"}, {"kind": "epoch", "job": "a", "epoch": 1}, None):
        events.put(event)
    shown = []
    _pump_events(events, shown.append, threading.Event())  # returns: the marker ended it
    assert shown == [{"kind": "progress", "what": "start", "job": "a"},
                     {"kind": "progress", "what": "epoch", "job": "a", "epoch": 1}]


def test_the_pump_waits_for_events_until_the_end_marker():
    events = multiprocessing.get_context("spawn").Queue()
    shown = []
    pump = threading.Thread(target=_pump_events, args=(events, shown.append, threading.Event()), daemon=True)
    pump.start()
    events.put({"kind": "start", "job": "late"})
    pump.join(timeout=1.0)
    assert pump.is_alive()  # no event has ended it: it blocks for the next
    events.put(None)
    pump.join(timeout=10)
    assert not pump.is_alive() and shown == [{"kind": "progress", "what": "start", "job": "late"}]
