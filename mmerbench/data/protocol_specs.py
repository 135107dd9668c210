"""Robustness protocol specs (``--protocol``): parsed once per run, light to import (the CLI parses them).


``--protocol`` specs (several may be given; they are not part of the job key):

- ``missing``: the test split under every non-empty combination of the
  dataset's modalities (7 for text/audio/vision), the absent ones given length
  0 and zero features; conditions ``test@text+audio`` (present modalities in
  the dataset's order) and their mean ``test@missing-mean`` (MCUR's reporting).
- ``missing-rate:0.1,0.3``: each modality of each test sample dropped
  independently at that rate, at least one kept, seeded by the job seed;
  conditions ``test@missing-rate=0.3``.
- ``noise:0.5,1,2``: Gaussian noise on the valid steps, scaled per feature
  dimension by that dimension's standard deviation on the training split, to
  each modality alone and to all at once; ``test@noise=1:audio``, ``test@noise=1:all``.

Each condition's scores (the accuracy metrics of ``metrics["test"]``) go to
``record["metrics"]["test@<condition>"]``; a condition the method cannot take
(a modality it requires is absent, or its prediction fails) goes to
``record["condition_errors"]`` with the reason, and the other conditions go on.

Specs are parsed once per run (:meth:`mmerbench.config.RunConfig.protocol_specs`);
The conditions a spec names and their perturbed splits are :mod:`mmerbench.data.conditions`.
Applying a fitted method to the conditions is :mod:`mmerbench.execution.protocols`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from mmerbench.errors import UsageError

PROTOCOL_HELP = "missing | missing-rate:R1,R2,... (0 < R < 1) | noise:S1,S2,... (0 < S <= 1000)"
MISSING_MEAN = "test@missing-mean"
MISSING_MEAN = "test@missing-mean"


NOISE_MAX = 1000.0


def _numbers(protocol: str, text: str, low_open: float, high_open: float | None,
             upper_inclusive: bool = False) -> list[float]:
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"--protocol {protocol!r}: {part!r} is not a number. Valid: {PROTOCOL_HELP}") from None
        below_high = high_open is None or value < high_open or (upper_inclusive and value == high_open)
        if not (value > low_open and below_high) or not math.isfinite(value):
            bounds = f"between {low_open:g} and {high_open:g} (exclusive)" if high_open else f"above {low_open:g}"
            if upper_inclusive:
                bounds = f"above {low_open:g} and at most {high_open:g}"
            raise UsageError(f"--protocol {protocol!r}: {value:g} must be {bounds}. Valid: {PROTOCOL_HELP}")
        values.append(value)
    return values


class ProtocolSpec(NamedTuple):
    """One ``--protocol`` as parsed: its family, its levels, and the text the user wrote."""

    name: str  # "missing" | "missing-rate" | "noise"
    values: tuple[float, ...]
    text: str


def parse_protocol(text: "str | ProtocolSpec") -> ProtocolSpec:
    """``"missing-rate:0.1,0.3"`` -> ``ProtocolSpec("missing-rate", (0.1, 0.3), ...)``; a clear error otherwise."""
    if isinstance(text, ProtocolSpec):
        return text
    if not isinstance(text, str):
        raise UsageError(f"--protocol {text!r} is a {type(text).__name__}, not a string. Valid: {PROTOCOL_HELP}")
    text = text.strip()
    name, colon, values = text.partition(":")
    if name == "missing" and not colon:
        return ProtocolSpec("missing", (), text)
    if name == "missing-rate" and values:
        return ProtocolSpec("missing-rate", tuple(_numbers(text, values, 0.0, 1.0)), text)
    if name == "noise" and values:
        # above NOISE_MAX training standard deviations the noise is all there is (and 1e308 x std overflows to inf)
        return ProtocolSpec("noise", tuple(_numbers(text, values, 0.0, NOISE_MAX, upper_inclusive=True)), text)
    raise UsageError(f"--protocol {text!r} is not valid. Valid: {PROTOCOL_HELP}")
