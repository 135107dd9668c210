"""What the warm server prepares once for every job it forks: the plugin registry and the run's datasets.

A job forked from :mod:`~mmerbench.execution.warm_pool`'s server starts with the server's memory, copy on
write. The server imports the worker's modules (its preload); the last module it imports,
:mod:`~mmerbench.execution.warm_server_setup`, calls :func:`prepare` here, which also

- builds the plugin registry (plugin discovery: every built-in plugin module, the entry points), kept for
  the jobs of runs whose plugin environment (``MMERBENCH_PLUGINS``, ``MMERBENCH_DISABLE_PLUGIN_AUTOLOAD``)
  is the server's, rebuilt by a job otherwise (:func:`adopt_registry`);
- prepares the first use of the run's methods (``MMERBENCH_WARM_METHODS``): imports each method's class and
  what its first use imports — torch's optimisers import ``torch._dynamo`` on first use (measured 7.3 s of a
  tiny deep job's 7.9 s under load); a method without torch run options is saved with skops, whose import
  walks scikit-learn's estimators (measured 2.8 s of a br job's model save), imported without torch
  (:mod:`~mmerbench.io.skops_import`);
- loads the datasets the run named when it started the server (``MMERBENCH_WARM_DATASETS``), with every
  check a load makes (structure, the stored digests, the file's stamp): once, instead of once per job.
  A job takes one only when its fingerprint is the one the job was planned on
  (:class:`~mmerbench.execution.job_dataset.JobDatasets`), and loads the dataset itself otherwise;
  a dataset read lazily from its HDF5 file is not kept (an open HDF5 file is not shared across a fork);
- inspects the thread pools of the native libraries loaded so far (threadpoolctl), so that a job sets its
  thread count on them without inspecting every loaded library again (:func:`thread_controller`); a library
  a job loads later reads the thread count from the environment the job sets first;
- freezes the garbage collector's view of everything loaded so far (``gc.freeze``), so that a job's
  collections do not write to, and so copy, every page of the server's heap.

Each of these is an optimisation: a failure here leaves the job to do the work itself, as a job of the
spawn pool does.
"""

from __future__ import annotations

import gc
import json
import os
from typing import Any

DATASETS_ENV = "MMERBENCH_WARM_DATASETS"  # set only while the driver starts the server (warm_pool.py)
METHODS_ENV = "MMERBENCH_WARM_METHODS"  # likewise: the registered names of the methods the server prepares for
# The thread count of a job, set while the server starts so that its native libraries load with it.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
TORCH_FIRST_USE = "torch._dynamo"

_preloaded: dict[tuple[str, str], Any] = {}  # (dataset name, its parameters as JSON) -> Dataset
_registry_environment: dict[str, str | None] | None = None  # the plugin environment the registry was built in
_thread_controller = None  # threadpoolctl's view of the native thread pools loaded in the server
_notes: list[str] = []  # why something was not prepared (read by tests; the jobs never depend on it)


def dataset_key(name: str, params: dict | None) -> tuple[str, str]:
    return name, json.dumps(params or {}, sort_keys=True)


def encode_methods(methods) -> str:
    """The value of ``MMERBENCH_WARM_METHODS`` for registered method names."""
    return json.dumps(list(methods))


def encode_datasets(datasets) -> str:
    """The value of ``MMERBENCH_WARM_DATASETS`` for ``[(name, params), ...]``."""
    return json.dumps([{"dataset": name, "dataset_params": params or {}} for name, params in datasets])


def _plugin_environment() -> dict[str, str | None]:
    from mmerbench.plugins import DISABLE_AUTOLOAD_ENV, EXTRA_PLUGINS_ENV

    return {name: os.environ.get(name) for name in (DISABLE_AUTOLOAD_ENV, EXTRA_PLUGINS_ENV)}


def prepare() -> None:
    """In the server, after its imports: the registry, the datasets, then the frozen heap."""
    global _registry_environment
    from mmerbench.plugins import get_registry

    try:
        get_registry()
        _registry_environment = _plugin_environment()
    except Exception as exc:  # noqa: BLE001 - the jobs discover the plugins themselves
        _notes.append(f"registry: {type(exc).__name__}: {exc}")
    for name in _requested_methods():
        _prepare_method(name)
    for name, params in _requested_datasets():
        _preload(name, params)
    _inspect_thread_pools()
    gc.collect()
    gc.freeze()


def _requested_methods() -> list[str]:
    try:
        return [str(name) for name in json.loads(os.environ.get(METHODS_ENV) or "[]")]
    except (ValueError, TypeError) as exc:
        _notes.append(f"{METHODS_ENV}: {exc}")
        return []


def _prepare_method(name: str) -> None:
    """Import the method's class and what its first use in a job would import."""
    import importlib

    from mmerbench.api import method_class
    from mmerbench.io.skops_import import skops_io

    try:
        if getattr(method_class(name), "run_options", None):
            importlib.import_module(TORCH_FIRST_USE)
        else:
            skops_io()
    except Exception as exc:  # noqa: BLE001 - the job meets the same error, reported as its own failure
        _notes.append(f"{name}: {type(exc).__name__}: {exc}")


def _requested_datasets() -> list[tuple[str, dict]]:
    try:
        entries = json.loads(os.environ.get(DATASETS_ENV) or "[]")
        return [(str(entry["dataset"]), dict(entry.get("dataset_params") or {})) for entry in entries]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        _notes.append(f"{DATASETS_ENV}: {exc}")
        return []


def _preload(name: str, params: dict) -> None:
    from mmerbench.api import load_dataset

    try:
        dataset = load_dataset(name, **params)
    except Exception as exc:  # noqa: BLE001 - the job meets the same error, reported as its own failure
        _notes.append(f"{name}: {type(exc).__name__}: {exc}")
        return
    if not _in_memory(dataset):
        _notes.append(f"{name}: read lazily from its file, so each job opens it")
        return
    _preloaded[dataset_key(name, params)] = dataset


def _in_memory(dataset) -> bool:
    import numpy as np

    splits = [split for split in (dataset.train, dataset.valid, dataset.test) if split is not None]
    return all(isinstance(array, np.ndarray) for split in splits for array in split.features.values())


def _inspect_thread_pools() -> None:
    global _thread_controller
    try:
        from threadpoolctl import ThreadpoolController

        _thread_controller = ThreadpoolController()
    except Exception as exc:  # noqa: BLE001 - scikit-learn brings threadpoolctl; without it a job inspects itself
        _notes.append(f"thread pools: {type(exc).__name__}: {exc}")


def thread_controller():
    """threadpoolctl's controller of the server's native thread pools, or None outside a warm server's job."""
    return _thread_controller


def preloaded(name: str, params: dict | None):
    """The dataset the server loaded under this name and these parameters, or None."""
    return _preloaded.get(dataset_key(name, params))


def adopt_registry() -> None:
    """In a job, once its environment is the run's: keep the server's registry when the plugin environment is
    the one it was built in, else make the job discover the plugins of its own environment."""
    from mmerbench.plugins import reset_registry

    if _registry_environment is None or _registry_environment != _plugin_environment():
        reset_registry()
