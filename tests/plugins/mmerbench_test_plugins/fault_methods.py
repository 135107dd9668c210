"""Methods that fail the way real ones can, for tests of the runner (never registered by default).

Enable with ``MMERBENCH_PLUGINS=mmerbench_test_plugins.plugin,mmerbench_test_plugins.fault_methods``
(the variable is inherited by the runner's worker processes). It adds:

- method ``dying``: its worker process dies in ``fit`` (seed 0: SIGKILL, as the OOM killer
  sends; 1: a segmentation fault; else ``os._exit(3)``);
- method ``badproba``: the label prior whose probabilities are broken as ``broken`` says
  (``nan``, ``inf``, ``range``, ``shape``, or ``none`` for sound ones).
"""

from __future__ import annotations

import os
import signal

import numpy as np

import mmerbench
from mmerbench_methods.prior.method import LabelPrior


class DyingMethod(LabelPrior):
    """Its worker dies as native code or the OOM killer would make it, by seed."""

    name = "dying"

    def _fit(self, train, valid):
        if self.random_state == 0:
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
        elif self.random_state == 1:
            import ctypes

            ctypes.string_at(0)  # a segmentation fault, as in a broken native library
        os._exit(3)


class BrokenProbaPrior(LabelPrior):
    """The label prior whose probabilities are broken in one way (the runner must refuse them)."""

    name = "badproba"

    def __init__(self, broken: str = "nan", threshold: str = "valid", random_state: int = 0):
        self.broken = broken
        self.threshold = threshold
        self.random_state = random_state

    def _fit(self, train, valid):
        self.smoothing = 0.0
        super()._fit(train, valid)

    def predict_proba(self, split):
        proba = np.array(super().predict_proba(split))
        if self.broken == "nan":
            proba[1, 0] = np.nan
        elif self.broken == "inf":
            proba[0, 2] = np.inf
        elif self.broken == "range":
            proba[3, 1] = 1.5
        elif self.broken == "shape":
            proba = proba[:, 1:]
        return proba

    def _choose_threshold(self, valid):
        return 0.5  # the broken probabilities must reach the runner's check, not the threshold search


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method("dying", "mmerbench_test_plugins.fault_methods:DyingMethod", version="1",
                        summary="test fixture: its worker process dies in fit")
    registry.add_method("badproba", "mmerbench_test_plugins.fault_methods:BrokenProbaPrior", version="1",
                        summary="test fixture: returns broken probabilities")
