"""Hyperparameter parsing and type checks shared by the CLI, configs and the API."""

from __future__ import annotations

import json
import math
from typing import Any

from mmerbench.errors import UsageError


def parse_value(text: str) -> Any:
    """JSON when it parses (numbers, booleans, lists, objects, null), else the string."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise UsageError(f"value {text[:40]!r}... is nested too deeply to be a setting") from None
    except _NotFinite:
        raise UsageError(f"value {text!r} is not a finite number; give a number such as 0.001") from None
    except (json.JSONDecodeError, ValueError):
        return text
    if not _finite(value):
        raise UsageError(f"value {text[:80]!r} holds a number that is not finite (too large for a float)")
    return value


class _NotFinite(ValueError):
    pass


def _no_constant(name: str):
    raise _NotFinite(name)  # NaN, Infinity, -Infinity: JSON extensions Python would accept


def _finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    return True


def check_type(owner: str, name: str, value: Any, default: Any) -> Any:
    """Check ``value`` against the type of ``default``; ints are accepted for floats."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UsageError(f"{owner}.{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            raise UsageError(f"{owner}.{name} must be an integer, got {value!r}")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{owner}.{name} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise UsageError(f"{owner}.{name} must be a finite number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        # A string default may stand for a union ("valid" | 0.5, "auto" | 3, chain order
        # "natural" | [2, 0, 1]): accept numbers and lists too, and, from the Python API, an
        # object such as a scikit-learn estimator for estimator="logreg". The method checks it.
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{owner}.{name} must be a finite number or a string, got {value!r}")
        api_object = type(value).__module__ != "builtins"
        if not (isinstance(value, (str, int, float, list, tuple)) or api_object) or isinstance(value, bool):
            raise UsageError(f"{owner}.{name} must be a string, got {value!r}")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"{owner}.{name} must be a list, got {value!r}")
        return type(default)(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise UsageError(f"{owner}.{name} must be an object, got {value!r}")
        return value
    return value


def check_params(owner: str, defaults: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    unknown = [key for key in params if key not in defaults]
    if unknown:
        raise UsageError(
            f"Unknown hyperparameter {unknown[0]!r} for {owner}. Valid: {', '.join(defaults)}"
        )
    return {key: check_type(owner, key, value, defaults[key]) for key, value in params.items()}
