"""Robustness protocol specs (``--protocol``): parsed once per run, light to import (the CLI parses them).


``--protocol`` specs (several may be given; they are not part of the job key):

- ``missing``: the test split under every non-empty combination of the
  dataset's modalities (7 for text/audio/vision), the absent ones given length
  0 and zero features; conditions ``test@text+audio`` (present modalities in
  the dataset's order) and their mean ``test@missing-mean`` (MCUR's reporting).
- ``missing-modality:text`` (or ``text,audio``): the named modalities absent
  from every test sample (missingness fixed per dataset); one condition, named
  as written: ``test@missing-modality:text``.
- ``missing-rate:0.1,0.3``: each modality of each test sample dropped
  independently at that rate, at least one kept; conditions ``test@missing-rate=0.3``.
- ``missing-rate:text=0.5,audio=0.1,vision=0.3``: a rate per modality
  (imbalanced missingness; a modality not named keeps rate 0), at least one
  modality kept per sample; one condition, named as written:
  ``test@missing-rate:text=0.5,audio=0.1,vision=0.3``.
- ``...@seeds=K`` after either ``missing-rate`` form: K drop patterns, each
  scored, the scores averaged: ``test@missing-rate=0.3@seeds=10``.
- ``noise:0.5,1,2``: Gaussian noise on the valid steps, scaled per feature
  dimension by that dimension's standard deviation on the training split, to
  each modality alone and to all at once; ``test@noise=1:audio``, ``test@noise=1:all``.

**One rule for an absent modality** (protocol version :data:`PROTOCOL_VERSION`):
a method is never scored on a condition that can remove a modality the method
requires (``requires["modalities"]``) from any sample; that condition goes to
``record["condition_errors"]`` for it, with the reason. It holds for every
protocol alike (``missing``, ``missing-modality``, both ``missing-rate`` forms;
``noise`` removes nothing, so it refuses nothing), and it is decided from the
condition itself (a rate above 0, a modality listed as absent), never from the
random draw, so a condition is scored or refused for a method the same way on
every seed. Why refuse rather than keep the required modality: the drop pattern
is then the same for every method scored under a condition (paired), so a
column of the table compares like with like, and ``missing`` already refused so.
To score a text-only method under missing modalities, give text the rate 0
(``missing-rate:audio=0.3,vision=0.3``): that condition is scored, and paired,
for every method. Version 1 (before) scored ``missing-rate`` conditions on
methods whose required modality it dropped.

Each condition's scores (the accuracy metrics of ``metrics["test"]``) go to
``record["metrics"]["test@<condition>"]``; a condition the method cannot take
(the rule above, or its prediction fails) goes to ``record["condition_errors"]``
with the reason, and the other conditions go on.

Specs are parsed once per run (:meth:`mmerbench.config.RunConfig.protocol_specs`);
The conditions a spec names and their perturbed splits are :mod:`mmerbench.data.conditions`.
Applying a fitted method to the conditions is :mod:`mmerbench.execution.protocols`.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from mmerbench.errors import UsageError

PROTOCOL_VERSION = 2  # 2: one rule for an absent modality (above); 1: missing-rate dropped required modalities
PROTOCOL_HELP = ("missing | missing-rate:R1,R2,... (0 < R < 1) | missing-rate:M1=R1,M2=R2,... (0 <= R < 1) | "
                 "either missing-rate form followed by @seeds=K | missing-modality:M1,M2 | noise:S1,S2,... (S > 0)")
MISSING_MEAN = "test@missing-mean"
MAX_PATTERN_SEEDS = 1000
_MODALITY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _invalid(protocol: str, why: str) -> UsageError:
    return UsageError(f"--protocol {protocol!r}: {why}. Valid: {PROTOCOL_HELP}")


def _number(protocol: str, part: str) -> float:
    try:
        value = float(part)
    except ValueError:
        raise _invalid(protocol, f"{part!r} is not a number") from None
    if not math.isfinite(value):
        raise _invalid(protocol, f"{part!r} is not a finite number")
    return value


def _numbers(protocol: str, text: str, low_open: float, high_open: float | None) -> list[float]:
    values = []
    for part in text.split(","):
        value = _number(protocol, part.strip())
        if not (value > low_open and (high_open is None or value < high_open)):
            bounds = f"between {low_open:g} and {high_open:g} (exclusive)" if high_open else f"above {low_open:g}"
            raise _invalid(protocol, f"{value:g} must be {bounds}")
        values.append(value)
    return values


def _modality(protocol: str, name: str) -> str:
    if not _MODALITY_NAME.match(name):
        raise _invalid(protocol, f"{name!r} is not a modality name (e.g. text, audio, vision)")
    return name


def _modality_rates(protocol: str, text: str) -> tuple[tuple[str, float], ...]:
    rates: dict[str, float] = {}
    for part in text.split(","):
        modality, equals, value = (piece.strip() for piece in part.partition("="))
        if not equals:
            raise _invalid(protocol, f"{part.strip()!r} mixes a plain rate with modality=rate pairs; give one form")
        modality = _modality(protocol, modality)
        if modality in rates:
            raise _invalid(protocol, f"modality {modality!r} is given twice")
        rate = _number(protocol, value)
        if not 0.0 <= rate < 1.0:
            raise _invalid(protocol, f"{modality}={rate:g}: a per-modality rate must be in [0, 1) "
                                     f"(a modality absent from every sample is missing-modality:{modality})")
        rates[modality] = rate
    if not any(rates.values()):
        raise _invalid(protocol, "every rate is 0, so nothing would be dropped")
    return tuple(rates.items())


def _pattern_seeds(protocol: str, text: str) -> tuple[str, int]:
    """``"0.3@seeds=10"`` -> ``("0.3", 10)``; no suffix -> ``(text, 1)``."""
    body, at, suffix = text.partition("@")
    if not at:
        return text, 1
    key, equals, count = suffix.partition("=")
    if key.strip() != "seeds" or not equals:
        raise _invalid(protocol, f"'@{suffix}' is not known; the only suffix is @seeds=K (K drop patterns averaged)")
    try:
        seeds = int(count.strip())
    except ValueError:
        raise _invalid(protocol, f"@seeds={count.strip()!r} is not a whole number") from None
    if not 1 <= seeds <= MAX_PATTERN_SEEDS:
        raise _invalid(protocol, f"@seeds={seeds} must be between 1 and {MAX_PATTERN_SEEDS}")
    return body, seeds


class ProtocolSpec(NamedTuple):
    """One ``--protocol`` as parsed: its family, its levels, and the text the user wrote.

    ``rates`` is set for ``missing-rate:M=R,...`` (per-modality rates, ``values`` empty), ``absent`` for
    ``missing-modality:M,...``, ``pattern_seeds`` is the K of ``@seeds=K`` (1 without it).
    """

    name: str  # "missing" | "missing-modality" | "missing-rate" | "noise"
    values: tuple[float, ...]
    text: str
    rates: tuple[tuple[str, float], ...] = ()
    absent: tuple[str, ...] = ()
    pattern_seeds: int = 1


def parse_protocol(text: "str | ProtocolSpec") -> ProtocolSpec:
    """``"missing-rate:0.1,0.3"`` -> ``ProtocolSpec("missing-rate", (0.1, 0.3), ...)``; a clear error otherwise."""
    if isinstance(text, ProtocolSpec):
        return text
    if not isinstance(text, str):
        raise UsageError(f"--protocol {text!r} is a {type(text).__name__}, not a string. Valid: {PROTOCOL_HELP}")
    text = text.strip()
    name, colon, values = text.partition(":")
    name = name.strip()
    if name == "missing" and not colon:
        return ProtocolSpec("missing", (), text)
    if name == "missing-modality" and values.strip():
        absent = tuple(_modality(text, part.strip()) for part in values.split(","))
        if len(set(absent)) != len(absent):
            raise _invalid(text, "a modality is named twice")
        return ProtocolSpec("missing-modality", (), text, absent=absent)
    if name == "missing-rate" and values.strip():
        body, seeds = _pattern_seeds(text, values)
        if "=" in body:
            return ProtocolSpec("missing-rate", (), text, rates=_modality_rates(text, body), pattern_seeds=seeds)
        return ProtocolSpec("missing-rate", tuple(_numbers(text, body, 0.0, 1.0)), text, pattern_seeds=seeds)
    if name == "noise" and values.strip():
        if "@" in values:
            raise _invalid(text, "@seeds=K applies to missing-rate only (noise is drawn per sample from the job seed)")
        return ProtocolSpec("noise", tuple(_numbers(text, values, 0.0, None)), text)
    raise UsageError(f"--protocol {text!r} is not valid. Valid: {PROTOCOL_HELP}")
