"""Public entry points: ``load_dataset`` and ``make_method`` by registered name."""

from __future__ import annotations

import inspect
from typing import Any

from mmerbench.errors import UnknownNameError
from mmerbench.params import check_params
from mmerbench.plugins import get_registry


def method_class(name: str) -> type:
    return get_registry().method(name).load()


def resolve_method_params(name: str, preset: str | None = None, **params) -> tuple[type, dict[str, Any]]:
    """The class and its full hyperparameters: defaults < preset < explicit params."""
    cls = method_class(name)
    defaults = cls.param_defaults()
    resolved = dict(defaults)
    if preset is not None:
        if preset not in cls.presets:
            raise UnknownNameError(f"preset of method {name!r}", preset, list(cls.presets))
        resolved.update(check_params(f"{name} preset {preset}", defaults, dict(cls.presets[preset])))
    resolved.update(check_params(name, defaults, params))
    return cls, resolved


def make_method(name: str, preset: str | None = None, **params):
    """An unfitted method by registered name, e.g. ``make_method("br", estimator="svc")``."""
    cls, resolved = resolve_method_params(name, preset, **params)
    return cls(**resolved)


# A parameter every dataset has (``--set DATASET.train_missing_rate=0.3``): modalities dropped from train
# and valid samples at that rate, for training under missing modalities (mmerbench.data.perturb).
TRAIN_MISSING_RATE = "train_missing_rate"


def dataset_param_defaults(name: str) -> dict[str, Any]:
    spec = get_registry().dataset(name)
    function = spec.load_function()
    signature = inspect.signature(function)
    defaults = {
        key: parameter.default
        for key, parameter in signature.parameters.items()
        if key != "name" and parameter.default is not inspect.Parameter.empty
    }
    defaults.setdefault(TRAIN_MISSING_RATE, 0.0)
    return defaults


def load_dataset(name: str, **params):
    """A :class:`mmerbench.data.Dataset` by registered name, e.g. ``load_dataset("synthetic")``."""
    checked = check_params(f"dataset {name}", dataset_param_defaults(name), params)
    rate = checked.pop(TRAIN_MISSING_RATE, 0.0)
    dataset = _load_registered(name, checked)
    if rate:
        from mmerbench.data.perturb import with_train_missing

        dataset = with_train_missing(dataset, rate)
    return dataset


def _load_registered(name: str, checked: dict[str, Any]):
    spec = get_registry().dataset(name)
    function = spec.load_function()
    if spec.loader is None:
        return function(name=name, **checked)
    dataset = function(**checked)
    dataset.params = {**dataset_param_defaults(name), **dataset.params, **checked}
    return dataset
