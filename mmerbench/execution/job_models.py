"""A finished job's fitted model inside a results folder: ``models/<key>/``, written atomically.

The saved form itself (manifest, weights, skops members) is :mod:`mmerbench.saved_models`.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from mmerbench.io.model_files import ModelFileError
from mmerbench.saved_models import MANIFEST, MODELS_DIR, load_method, save_method


def job_model_dir(results_dir: str | os.PathLike, key: str) -> Path:
    from mmerbench.names import KEY_PATTERN, UnsafeNameError, contained

    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ModelFileError(f"job key {key!r} is not valid (a key is the hex digest shown by `mmerbench results`)")
    try:
        return contained(Path(results_dir) / MODELS_DIR, key)
    except UnsafeNameError as exc:
        raise ModelFileError(str(exc)) from None


def save_job_model(results_dir: str | os.PathLike, key: str, method) -> Path:
    """Save ``method`` as job ``key``'s model, atomically: written to a temporary directory, then renamed.

    A reader sees either no model or a complete one; a model already there (a re-run) is replaced.
    """
    target = job_model_dir(results_dir, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    temporary = target.parent / f".{key}.tmp-{token}"
    try:
        save_method(method, temporary)
        try:
            os.rename(temporary, target)
        except OSError:  # a previous model is there: move it aside, put the new one in place, drop the old
            old = target.parent / f".{key}.old-{token}"
            os.rename(target, old)
            os.rename(temporary, target)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return target


def load_job_model(results_dir: str | os.PathLike, key: str, device: str | None = None):
    """The fitted method of job ``key`` in ``results_dir`` (saved by ``mmerbench run``)."""
    directory = job_model_dir(results_dir, key)
    if not (directory / MANIFEST).is_file():
        raise ModelFileError(
            f"job {key} has no saved model in {Path(results_dir) / MODELS_DIR} (it ran with --no-save-models, "
            "before models were saved, or failed); re-run it with `mmerbench run ... --no-resume` to save one"
        )
    return load_method(directory, device=device)


def save_model_for_record(results_dir: str | os.PathLike, key: str, method, enabled: bool = True) -> dict:
    """The record fields of a job's saved model: ``model_path`` (relative to the results directory, or
    None) and, when saving failed, ``model_error``. A failed save leaves the job's scores valid."""
    if not enabled:
        return {"model_path": None}
    try:
        save_job_model(results_dir, key, method)
    except Exception as exc:  # noqa: BLE001 - the scores stand; only re-evaluation is lost
        return {"model_path": None, "model_error": f"{type(exc).__name__}: {exc}"}
    return {"model_path": f"{MODELS_DIR}/{key}"}
