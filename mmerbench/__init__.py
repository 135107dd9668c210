"""mmerbench: a pluggable benchmark for multimodal multi-label emotion recognition.

The public API is imported lazily so that ``import mmerbench`` (and
``mmerbench list``) never pulls in torch, scikit-learn or pandas.
"""

from __future__ import annotations

from mmerbench import _moved
from mmerbench.hookspecs import hookimpl
from mmerbench.version import __version__

_moved.install()  # old module paths keep working for one release, with a DeprecationWarning

_LAZY = {
    "score": ("mmerbench.evaluation.metrics", "score"),
    "load_dataset": ("mmerbench.api", "load_dataset"),
    "make_method": ("mmerbench.api", "make_method"),
    "run": ("mmerbench.execution.runner", "run"),
    "load_job_model": ("mmerbench.execution.job_models", "load_job_model"),
    "Method": ("mmerbench.method", "Method"),
    "TorchMethod": ("mmerbench.training", "TorchMethod"),
    "Split": ("mmerbench.data", "Split"),
    "Dataset": ("mmerbench.data", "Dataset"),
    "get_registry": ("mmerbench.plugins", "get_registry"),
    "Batch": ("mmerbench.training", "Batch"),
    "make_split": ("mmerbench.data", "make_split"),
    "make_dataset": ("mmerbench.data", "make_dataset"),
    "with_validation": ("mmerbench.data", "with_validation"),
    "CanonicalWriter": ("mmerbench.data", "CanonicalWriter"),
    "ImporterSpec": ("mmerbench.registry", "ImporterSpec"),
    "ImporterOption": ("mmerbench.registry", "ImporterOption"),
}

__all__ = ["__version__", "hookimpl", *_LAZY]


def __dir__() -> list[str]:
    # The lazy names exist only through __getattr__; list them so that dir() and completion show the API.
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        return getattr(importlib.import_module(module_name), attr)
    raise AttributeError(f"module 'mmerbench' has no attribute {name!r}")
