"""Robustness summaries of a metric-vs-level curve (the tables are :mod:`mmerbench.reporting.robustness_tables`).

Curves over an imperfection
level (missing rate, noise scale) also get MultiBench's two summaries
(Liang et al., 2021), computed on the mean curve, with the clean test split
as level 0:

- relative robustness: the area under the metric-vs-level curve (trapezoids),
  divided by the largest level, i.e. the curve's mean height over the range
  (MultiBench sums trapezoids of fixed width 0.1 instead; dividing by the
  range keeps the number in the metric's own units whatever the levels);
- effective robustness: how far the curve stays above a reference method's
  curve shifted to start at the same clean score, averaged over the levels
  above 0 (MultiBench uses its late-fusion baseline as the reference; here it
  is ``reference``, br by default). Positive = degrades more gracefully than
  the reference.
"""

from __future__ import annotations

import re

import numpy as np

NOISE_CONDITION = re.compile(r"^test@noise=([^:]+):(.+)$")
# missing-rate:R -> test@missing-rate=R; with @seeds=K (K patterns averaged) -> test@missing-rate=R@seeds=K
RATE_CONDITION = re.compile(r"^test@missing-rate=([0-9.eE+-]+)(?:@seeds=([0-9]+))?$")
# one condition per spec, named as written: test@missing-rate:text=0.5,audio=0.1 / test@missing-modality:text
PATTERN_CONDITION = re.compile(r"^test@(missing-rate|missing-modality):(.+)$")


def relative_robustness(levels, values) -> float:
    """Area under ``values`` over ``levels`` (which start at 0), divided by the largest level."""
    levels, values = np.asarray(levels, dtype=float), np.asarray(values, dtype=float)
    if len(levels) < 2 or levels[-1] <= levels[0]:
        return float(values.mean())
    area = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(levels)))
    return area / float(levels[-1] - levels[0])


def effective_robustness(values, reference_values) -> float:
    """Mean over the levels above 0 of f(x) - (f_ref(x) + f(0) - f_ref(0))."""
    values, reference = np.asarray(values, dtype=float), np.asarray(reference_values, dtype=float)
    shifted = reference + (values[0] - reference[0])
    return float(np.mean((values - shifted)[1:]))
