"""Probabilities a method returns are checked before they are scored, stored or ranked.

A NaN, an infinity, a value outside [0, 1] or a wrong shape would otherwise
be thresholded into silent zeros and ranked like any other result; instead
the job fails with a message naming the method, the split and what is wrong.
"""

from __future__ import annotations

import numpy as np


class InvalidProbabilitiesError(RuntimeError):
    """A method's ``predict_proba`` returned something that is not (N, q) probabilities."""


def check_probabilities(proba, n_samples: int, label_names, method: str, split_name: str) -> np.ndarray:
    """Return ``proba`` as float64 (N, q) in [0, 1], or raise naming method, split and problem."""
    where = f"method {method} returned invalid probabilities on the {split_name} split"
    try:
        array = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProbabilitiesError(f"{where}: they are not numbers ({exc})") from None
    expected = (n_samples, len(label_names))
    if array.shape != expected:
        raise InvalidProbabilitiesError(
            f"{where}: shape {array.shape}, expected {expected} (samples x labels)")
    problems = []
    for what, bad in (("NaN", np.isnan(array)), ("infinite", np.isinf(array))):
        if bad.any():
            problems.append(f"{int(bad.sum())} {what} value(s){_first(bad, label_names)}")
    finite = np.isfinite(array)
    outside = finite & ((array < 0.0) | (array > 1.0))
    if outside.any():
        values = array[outside]
        problems.append(f"{int(outside.sum())} value(s) outside [0, 1] (from {values.min():.4g} to "
                        f"{values.max():.4g}){_first(outside, label_names)}")
    if problems:
        raise InvalidProbabilitiesError(f"{where}: " + "; ".join(problems))
    return array


def _first(mask: np.ndarray, label_names) -> str:
    row, column = (int(i[0]) for i in np.nonzero(mask))
    return f", first at sample {row}, label {label_names[column]!r}"
