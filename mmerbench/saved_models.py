"""Saved models: one fitted method as a directory of safe files (format ``mmerbench-model`` v1).

A saved model is a directory (docs/saved-models.md is the full description)::

    mmerbench-model.json      manifest: format name and version, method name and version,
                              hyperparameters, the Method base's fitted state (labels,
                              threshold, fit info), the training data's schema, the JSON part
                              of extra_state(), and the SHA-256 of every other file
    weights.safetensors       torch methods: the model's state dict
    estimators.skops          scikit-learn methods: the fitted estimators
    extra_state.safetensors   the arrays of extra_state(), when there are any

``save_method`` / ``load_method`` read and write one directory (``Method.save`` and
``Method.load`` call them); ``save_job_model`` / ``load_job_model`` do it for a job of a
results directory, under ``<results>/models/<key>/``, atomically.

Nothing is unpickled: the method is found by its registered name (never an import path from
the file), weights and arrays are safetensors, and skops files load only trusted types.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mmerbench.io.model_files import (
    ModelFileError,
    json_number_list,
    read_arrays,
    read_json,
    sha256_of,
    to_json_value,
    write_arrays,
    write_json,
)

FORMAT = "mmerbench-model"
FORMAT_VERSION = 1
MANIFEST = "mmerbench-model.json"
EXTRA_ARRAYS = "extra_state.safetensors"
WEIGHTS = "weights.safetensors"
ESTIMATORS = "estimators.skops"
# The only files a loader ever opens besides the manifest; a manifest naming another is refused.
DATA_FILES = (WEIGHTS, ESTIMATORS, EXTRA_ARRAYS)
MANIFEST_KEYS = ("format", "format_version", "method", "method_version", "params", "fitted", "train_schema",
                 "extra_state", "files", "saved_by", "saved_at")
MODELS_DIR = "models"

__all__ = [
    "ModelFileError", "save_method", "load_method", "read_manifest", "describe_split", "schema_split",
    "FORMAT", "FORMAT_VERSION", "MANIFEST",
]


# ----------------------------------------------------------------------------- the training data's schema


def describe_split(split) -> dict:
    """What a model needs to know of its training data to be rebuilt: modalities, dims, steps, labels."""
    return {
        "modalities": {m: {"dim": int(dim), "steps": int(split.steps[m])} for m, dim in split.modality_dims.items()},
        "label_names": [str(name) for name in split.label_names],
        "n_labels": int(split.n_labels),
        "single_label": bool(split.single_label),
    }


def schema_split(schema: dict):
    """A split with no rows but the training data's modalities, dims, steps and labels.

    ``build_model`` reads shapes from its ``train`` argument; given this it builds the same
    network, whose weights then come from the saved file (state computed from training rows
    is restored by ``set_extra_state``).
    """
    from mmerbench.data.splits import Split

    modalities = schema["modalities"]
    return Split(
        features={m: np.zeros((0, int(v["steps"]), int(v["dim"])), dtype=np.float32) for m, v in modalities.items()},
        lengths={m: np.zeros(0, dtype=np.int64) for m in modalities},
        labels=np.zeros((0, int(schema["n_labels"])), dtype=np.uint8),
        label_names=tuple(schema["label_names"]),
        single_label=bool(schema["single_label"]),
    )


# ----------------------------------------------------------------------------- saving


def save_method(method, directory: str | os.PathLike) -> Path:
    """Write fitted ``method`` into ``directory`` (created if needed); returns the directory."""
    from mmerbench.version import __version__

    method._check_fitted()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = type(method).name or type(method).__name__
    params = to_json_value(method._params_for_saving(), f"hyperparameters of {name}")
    extra_json, extra_arrays = _split_extra_state(method.extra_state(), name)
    method._save_fitted(directory)
    if extra_arrays:
        write_arrays(directory / EXTRA_ARRAYS, extra_arrays)
    files = {file: sha256_of(directory / file) for file in DATA_FILES if (directory / file).is_file()}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "method": name,
        "method_version": str(type(method).version),
        "params": params,
        "fitted": {
            "label_names": [str(x) for x in method.label_names_],
            "n_labels": int(method.n_labels_),
            "single_label": bool(method.single_label_),
            "threshold": to_json_value(method.threshold_, "threshold_"),
            "fit_info": _loose_json(getattr(method, "fit_info_", {})),
        },
        "train_schema": getattr(method, "train_schema_", None),
        "extra_state": {"json": extra_json, "arrays": sorted(extra_arrays)},
        "files": files,
        "saved_by": f"mmerbench {__version__}",
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(directory / MANIFEST, manifest)
    return directory


def _split_extra_state(state: dict, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    if not isinstance(state, dict):
        raise ModelFileError(f"{name}.extra_state() returned {type(state).__name__}, expected a dict")
    json_part, arrays = {}, {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise ModelFileError(f"{name}.extra_state() has key {key!r}; keys must be strings")
        if isinstance(value, np.ndarray):
            arrays[key] = value
        else:
            json_part[key] = to_json_value(value, f"{name}.extra_state()[{key!r}]")
    return json_part, arrays


def _loose_json(value):
    """Informational values (fit_info_): anything not JSON becomes its repr rather than failing the save."""
    try:
        return to_json_value(value, "fit_info_")
    except ModelFileError:
        if isinstance(value, dict):
            return {str(k): _loose_json(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_loose_json(v) for v in value]
        return repr(value)


# ----------------------------------------------------------------------------- loading


def read_manifest(directory: str | os.PathLike) -> dict:
    """The validated manifest of the saved model in ``directory``."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: no saved model here (not a directory)")
    if not path.is_file():
        raise ModelFileError(f"{directory}: no saved model here ({MANIFEST} is missing)")
    manifest = read_json(path)
    unknown = sorted(set(manifest) - set(MANIFEST_KEYS))
    if unknown:
        raise ModelFileError(
            f"{path}: unknown key(s) {unknown}; a {FORMAT} manifest holds only {', '.join(MANIFEST_KEYS)} "
            "(nothing in it may name a class or module to import)"
        )
    missing = [key for key in MANIFEST_KEYS if key not in manifest and key not in ("saved_by", "saved_at")]
    if missing:
        raise ModelFileError(f"{path}: missing key(s) {missing}")
    if manifest["format"] != FORMAT:
        raise ModelFileError(f"{path}: format is {manifest['format']!r}, expected {FORMAT!r}")
    version = manifest["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format_version {version!r} is not one this mmerbench reads (1 to {FORMAT_VERSION}); "
            "a newer mmerbench wrote it: upgrade mmerbench"
        )
    for key, kind in (("method", str), ("method_version", str), ("params", dict), ("fitted", dict),
                      ("extra_state", dict), ("files", dict)):
        if not isinstance(manifest[key], kind):
            raise ModelFileError(f"{path}: {key!r} must be a JSON {kind.__name__}, found {manifest[key]!r}")
    foreign = sorted(set(manifest["files"]) - set(DATA_FILES))
    if foreign:
        raise ModelFileError(f"{path}: lists file(s) {foreign}; a saved model may hold only {', '.join(DATA_FILES)}")
    for file, digest in manifest["files"].items():
        target = directory / file
        if not target.is_file():
            raise ModelFileError(f"{directory}: {file} is listed in {MANIFEST} but missing")
        if sha256_of(target) != digest:
            raise ModelFileError(f"{target}: its SHA-256 differs from the one in {MANIFEST}; the file was changed")
    return manifest


def _method_class(manifest: dict, expected_class: type | None, path: Path) -> type:
    name = manifest["method"]
    if expected_class is not None and (expected_class.name or expected_class.__name__) == name:
        cls = expected_class
    else:
        from mmerbench.plugins import get_registry

        try:
            cls = get_registry().method(name).load()
        except KeyError as exc:  # UnknownNameError: the method is not installed (or the name is bogus)
            raise ModelFileError(f"{path}: saved by method {name!r}, which is not installed here. {exc}") from None
        if expected_class is not None and not issubclass(cls, expected_class):
            raise ModelFileError(
                f"{path}: holds a {name!r} model ({cls.__name__}), not a {expected_class.__name__}"
            )
    if str(cls.version) != manifest["method_version"]:
        raise ModelFileError(
            f"{path}: saved by {name} version {manifest['method_version']}, but the installed {name} is version "
            f"{cls.version}; results would differ, so the model is not loaded (re-run the job)"
        )
    return cls


def _restore_params(cls: type, params: dict, path: Path) -> dict:
    defaults = cls.param_defaults()
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ModelFileError(f"{path}: hyperparameter(s) {unknown} are not {cls.name}'s; valid: {', '.join(defaults)}")
    from mmerbench.errors import UsageError
    from mmerbench.params import check_type

    restored = {}
    for key, value in params.items():
        try:  # the type each default has (a string where a number belongs is refused here, not in the model)
            check_type(cls.name, key, value, defaults[key])
        except UsageError as exc:
            raise ModelFileError(f"{path}: hyperparameter {exc}") from None
        # JSON has no tuples; give back the type the default has, so get_params round-trips.
        restored[key] = tuple(value) if isinstance(defaults[key], tuple) and isinstance(value, list) else value
    return restored


def load_method(directory: str | os.PathLike, *, device: str | None = None, expected_class: type | None = None):
    """The fitted method saved in ``directory``.

    ``device`` (torch methods): where to put the model; default: the device it was fitted on
    when that exists here, else the CPU. ``expected_class``: refuse a model of another class.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    path = directory / MANIFEST
    cls = _method_class(manifest, expected_class, path)
    try:
        method = cls(**_restore_params(cls, manifest["params"], path))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: its hyperparameters are malformed ({type(exc).__name__}: {exc})") from None
    fitted = manifest["fitted"]
    try:
        method.label_names_ = [str(x) for x in fitted["label_names"]]
        method.n_labels_ = int(fitted["n_labels"])
        method.single_label_ = bool(fitted["single_label"])
        threshold = fitted["threshold"]
        if isinstance(threshold, bool):
            raise ValueError(f"threshold {threshold!r} is not a number")
        method.threshold_ = float(threshold) if isinstance(threshold, (int, float)) else \
            json_number_list(threshold, f"{path}: fitted.threshold")
        if not np.all(np.isfinite(method.threshold_)):  # a NaN threshold would score every condition 0.000
            raise ValueError(f"threshold {threshold!r} is not a finite number")
        if len(method.label_names_) != method.n_labels_:
            raise ValueError(f"{len(method.label_names_)} label names for n_labels {method.n_labels_}")
        method.fit_info_ = dict(fitted.get("fit_info") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: 'fitted' is malformed ({type(exc).__name__}: {exc})") from None
    if manifest["train_schema"] is not None:
        method.train_schema_ = _checked_schema(manifest["train_schema"], path)
    try:
        method._load_fitted(directory, device)
        method.set_extra_state(_read_extra_state(directory, manifest))
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: the saved state does not rebuild a {cls.name} model "
                             f"({type(exc).__name__}: {str(exc)[:300]})") from None
    return method


# What a training schema may say: beyond these a network built from it would not fit in memory.
MAX_SCHEMA_DIM, MAX_SCHEMA_STEPS, MAX_SCHEMA_LABELS = 100_000, 100_000, 100_000


def _checked_schema(schema, path: Path) -> dict:
    """The manifest's ``train_schema`` when it is well formed: modalities with positive integer dim and steps,
    label names as many as n_labels; else ModelFileError naming the field."""
    def whole(value, where: str, upper: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= upper:
            raise ModelFileError(f"{path}: train_schema {where} is {str(value)[:40]!r}, not an integer in [1, {upper}]")
        return value

    if not isinstance(schema, dict) or not isinstance(schema.get("modalities"), dict) or not schema["modalities"]:
        raise ModelFileError(f"{path}: train_schema must be an object with a non-empty 'modalities' object")
    for name, spec in schema["modalities"].items():
        if not isinstance(spec, dict):
            raise ModelFileError(f"{path}: train_schema modality {name!r} must be an object with dim and steps")
        whole(spec.get("dim"), f"{name}.dim", MAX_SCHEMA_DIM)
        whole(spec.get("steps"), f"{name}.steps", MAX_SCHEMA_STEPS)
    labels = schema.get("label_names")
    n_labels = whole(schema.get("n_labels"), "n_labels", MAX_SCHEMA_LABELS)
    if not isinstance(labels, list) or len(labels) != n_labels or not all(isinstance(x, str) for x in labels):
        raise ModelFileError(f"{path}: train_schema label_names must be {n_labels} strings")
    if not isinstance(schema.get("single_label"), bool):
        raise ModelFileError(f"{path}: train_schema single_label must be true or false")
    return schema


def _read_extra_state(directory: Path, manifest: dict) -> dict[str, Any]:
    extra = manifest["extra_state"]
    state = dict(extra.get("json") or {})
    names = list(extra.get("arrays") or [])
    if names:
        if EXTRA_ARRAYS not in manifest["files"]:
            raise ModelFileError(f"{directory / MANIFEST}: lists extra arrays {names} but not {EXTRA_ARRAYS}")
        arrays = read_arrays(directory / EXTRA_ARRAYS)
        if sorted(arrays) != sorted(names):
            raise ModelFileError(
                f"{directory / EXTRA_ARRAYS}: holds arrays {sorted(arrays)}, the manifest lists {sorted(names)}"
            )
        state.update(arrays)
    return state
