"""Search spaces: what a method declares it may be tuned over (``mmerbench tune``).

A method declares ``search_spaces``, a class attribute mapping a preset name to a space
(``"cpu"`` for the small CPU preset, ``"default"`` for the method's own defaults, which are the
paper's configuration in the built-ins). A space maps a hyperparameter to a distribution::

    search_spaces = {
        "cpu": {
            "lr": LogUniform(3e-4, 1e-2),       # around the preset's 2e-3
            "hidden": Choice([32, 64, 128]),
            "dropout": Uniform(0.0, 0.3),
            "estimator_params.C": LogUniform(1e-2, 1e2),  # a key inside a dict hyperparameter
        },
    }

A trial's configuration is the preset with the sampled values as overrides, so a space need only
name what it varies. This module knows no search library: :mod:`mmerbench.tuning` turns the
distributions into Optuna's. Nothing here is imported unless a method or ``tune`` asks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Union

DEFAULT_SPACE = "default"


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from [low, high]."""

    low: float
    high: float

    def problem(self) -> str | None:
        if not (_finite(self.low) and _finite(self.high)) or not self.low < self.high:
            return f"Uniform({self.low!r}, {self.high!r}) needs finite numbers with low < high"
        return None

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        return f"uniform[{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class LogUniform:
    """A float whose logarithm is uniform on [log low, log high] (learning rates, weights)."""

    low: float
    high: float

    def problem(self) -> str | None:
        if not (_finite(self.low) and _finite(self.high)) or not 0 < self.low < self.high:
            return f"LogUniform({self.low!r}, {self.high!r}) needs finite numbers with 0 < low < high"
        return None

    def sample(self, rng: random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def describe(self) -> str:
        return f"log-uniform[{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class IntRange:
    """An integer in [low, high] (inclusive), uniform or log-uniform."""

    low: int
    high: int
    log: bool = False

    def problem(self) -> str | None:
        if not (_is_int(self.low) and _is_int(self.high)) or not self.low < self.high:
            return f"IntRange({self.low!r}, {self.high!r}) needs integers with low < high"
        if self.log and self.low < 1:
            return f"IntRange({self.low!r}, {self.high!r}, log=True) needs low >= 1"
        return None

    def sample(self, rng: random.Random) -> int:
        if self.log:
            return int(round(math.exp(rng.uniform(math.log(self.low), math.log(self.high)))))
        return rng.randint(self.low, self.high)

    def describe(self) -> str:
        return f"int{'-log' if self.log else ''}[{self.low}, {self.high}]"


@dataclass(frozen=True)
class Choice:
    """One of a few values (widths, switches, names); each a bool, int, float, string or None."""

    values: tuple

    def __init__(self, values):
        object.__setattr__(self, "values", tuple(values))

    def problem(self) -> str | None:
        if len(self.values) < 2:
            return f"Choice({list(self.values)!r}) needs at least two values"
        if any(value is not None and not isinstance(value, (bool, int, float, str)) for value in self.values):
            return f"Choice({list(self.values)!r}): each value must be a bool, int, float, string or None"
        if len({repr(value) for value in self.values}) != len(self.values):
            return f"Choice({list(self.values)!r}) lists a value twice"
        return None

    def sample(self, rng: random.Random):
        return self.values[rng.randrange(len(self.values))]

    def describe(self) -> str:
        return "{" + ", ".join(repr(value) for value in self.values) + "}"


Distribution = Union[Uniform, LogUniform, IntRange, Choice]
DISTRIBUTIONS = (Uniform, LogUniform, IntRange, Choice)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def space_key(preset: str | None) -> str:
    """The space that belongs to a configuration: its preset's, or ``default`` without one."""
    return preset or DEFAULT_SPACE


def space_problems(method_cls, space_name: str, space: Any) -> list[str]:
    """Everything wrong with one declared space (empty when it is usable)."""
    where = f"{method_cls.__name__}.search_spaces[{space_name!r}]"
    if not isinstance(space, dict) or not space:
        return [f"{where} must be a non-empty dict of hyperparameter -> distribution"]
    defaults = method_cls.param_defaults()
    presets = getattr(method_cls, "presets", {}) or {}
    problems = []
    if space_name != DEFAULT_SPACE and space_name not in presets:
        problems.append(f"{where}: {space_name!r} is neither 'default' nor a preset of the method "
                        f"(presets: {', '.join(sorted(presets)) or 'none'})")
    for name, distribution in space.items():
        top, dot, inner = str(name).partition(".")
        if top not in defaults:
            problems.append(f"{where}: {top!r} is not a hyperparameter of the method; valid: "
                            f"{', '.join(sorted(defaults))}")
            continue
        if top in ("random_state", "device", "threshold"):
            problems.append(f"{where}: {top!r} is set by the run, not tuned")
        if dot and not inner:
            problems.append(f"{where}: {name!r} names no key inside {top!r}")
        if dot and not isinstance(defaults[top], (dict, type(None))):
            problems.append(f"{where}: {name!r} names a key inside {top!r}, which is not a dict hyperparameter")
        if not isinstance(distribution, DISTRIBUTIONS):
            problems.append(f"{where}: {name!r} is a {type(distribution).__name__}; use Uniform, LogUniform, "
                            "IntRange or Choice from mmerbench.search_spaces")
            continue
        problem = distribution.problem()
        if problem:
            problems.append(f"{where}: {name!r}: {problem}")
    return problems


def method_space(method_cls, preset: str | None) -> dict[str, Distribution]:
    """The declared space of a configuration; raises ValueError naming the method and what it declares."""
    from mmerbench.errors import UsageError

    spaces = getattr(method_cls, "search_spaces", None) or {}
    name = space_key(preset)
    if name not in spaces and preset and (getattr(method_cls, "presets", {}) or {}).get(preset) == {}:
        name = DEFAULT_SPACE  # a preset that is the defaults (the built-ins' "paper") has the defaults' space
    if name not in spaces:
        declared = ", ".join(sorted(spaces)) or "none"
        raise UsageError(f"method {method_cls.name!r} declares no search space for "
                         f"{'preset ' + repr(preset) if preset else 'its defaults'} (it declares: {declared}); "
                         f"add one to its search_spaces (docs/plugins.md, 'Search spaces')")
    problems = space_problems(method_cls, name, spaces[name])
    if problems:
        raise UsageError("; ".join(problems))
    return dict(spaces[name])


def overrides_from_sample(sample: dict[str, Any], base_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sampled values -> hyperparameter overrides; ``a.b`` values are gathered into the dict ``a``
    (starting from ``base_params[a]``, so that a preset's other keys stay)."""
    overrides: dict[str, Any] = {}
    for name, value in sorted(sample.items()):
        top, dot, inner = name.partition(".")
        if dot:
            inside = overrides.setdefault(top, dict((base_params or {}).get(top) or {}))
            inside[inner] = value
        else:
            overrides[top] = value
    return overrides


def sample_space(space: dict[str, Distribution], seed: int) -> dict[str, Any]:
    """One configuration drawn without a search library (the contract suite constructs it)."""
    rng = random.Random(seed)
    return {name: distribution.sample(rng) for name, distribution in sorted(space.items())}
