"""Has a deep model collapsed to the label prior? Then its numbers describe the prior, not the model.

A model that gives every test sample the same label set predicts exactly what
the label-prior baseline predicts (a constant), whatever its scores say. The
job still counts (it is a result), but its record and the run's summary carry
a warning so that nobody mistakes it for a model that learned.
"""

from __future__ import annotations

import numpy as np


def collapse_warning(predictions: np.ndarray, label_names) -> str | None:
    """A warning when every row of the {0, 1} ``predictions`` is the same (and there are two rows or more)."""
    predictions = np.asarray(predictions)
    if predictions.ndim != 2 or len(predictions) < 2 or not (predictions == predictions[0]).all():
        return None
    chosen = [str(name) for name, on in zip(label_names, predictions[0]) if on]
    labels = "{" + ", ".join(chosen) + "}" if chosen else "no label"
    return (f"collapsed model: every test sample is predicted {labels}, as a label prior would; its scores "
            "are the prior's, not evidence that it learned (check the curve, learning rate, preset)")
