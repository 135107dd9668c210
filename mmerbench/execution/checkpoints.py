"""Per-epoch checkpoints of a deep job, so a job killed mid-training resumes where it stopped.

Layout, under ``<results>/checkpoints/<job key>/``::

    latest.json                 which epoch directory is complete (replaced atomically, last)
    epoch-0003/state.json       epoch, early-stopping state, curve, scheduler, optimiser groups,
                                numpy shuffler state, the JSON part of extra_state()
    epoch-0003/tensors.safetensors
                                model weights, best weights, optimiser tensors, torch RNG states,
                                the arrays of extra_state()

Nothing is unpickled when loading: JSON is read as plain values and tensors by safetensors
(a header plus raw bytes). A kill while an epoch directory is being written leaves that directory
unreferenced by ``latest.json``; it is ignored and removed by the next save.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmerbench.io.capped import read_capped_text
from mmerbench.io.model_files import ModelFileError, to_json_value
from mmerbench.names import KEY_PATTERN, UnsafeNameError, contained

if TYPE_CHECKING:  # torch is imported only where a deep job needs it (classical workers stay light)
    import torch

CHECKPOINTS_DIR = "checkpoints"
FORMAT_VERSION = 1
LATEST = "latest.json"
STATE = "state.json"
TENSORS = "tensors.safetensors"
EPOCH_FOLDER = re.compile(r"^epoch-[0-9]{4,9}$")
MAX_STATE_BYTES = 256 * 1024 * 1024  # curves and optimiser groups of a long run stay far below


def checkpoint_dir(results_dir: str | os.PathLike, key: str) -> Path:
    """``<results>/checkpoints/<key>``: a real folder inside the results folder (a symlink is refused, since
    saving deletes old epoch folders in it)."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise ModelFileError(f"job key {key!r} is not valid for a checkpoint directory (20 lower-case hex digits)")
    base = Path(results_dir) / CHECKPOINTS_DIR
    if base.is_symlink():
        raise ModelFileError(f"{base} is a symbolic link; checkpoints are written and deleted only in a real "
                             f"folder of the results directory. Remove the link")
    try:
        return contained(base, key, refuse_symlink=True)
    except UnsafeNameError as exc:
        raise ModelFileError(f"{exc}; delete it to start the job afresh") from None


def discard_checkpoints(results_dir: str | os.PathLike, key: str) -> None:
    """``--no-resume``: the job's kept checkpoints go, so the forced re-run trains from its first epoch."""
    directory = checkpoint_dir(results_dir, key)
    if directory.is_dir():
        shutil.rmtree(directory)


def latest_epoch(directory: str | os.PathLike) -> int | None:
    """The last finished epoch checkpointed in ``directory``, or None (no checkpoint, or unreadable)."""
    try:
        return int(json.loads((Path(directory) / LATEST).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class JobCheckpoints:
    """Save and restore the training loop's whole state at epoch ends, for one job."""

    def __init__(self, directory: str | os.PathLike, key: str):
        self.directory = Path(directory)
        self.key = key

    # ------------------------------------------------------------------ saving

    def save(self, epoch: int, *, model, optimizer, scheduler, shuffler: np.random.Generator,
             loop: dict[str, Any], curve: list[dict], best_state: dict | None, extra: dict[str, Any]) -> None:
        import torch

        if self.directory.is_symlink():  # old epoch folders are deleted below: never through a link
            raise ModelFileError(f"{self.directory} is a symbolic link; checkpoints are written only in a real "
                                 "folder of the results directory. Remove the link")
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"epoch-{epoch:04d}"
        if target.exists():  # left by a run killed while writing it
            shutil.rmtree(target)
        target.mkdir()
        tensors: dict[str, torch.Tensor] = {}
        for name, value in model.state_dict().items():
            tensors[f"model/{name}"] = value
        for name, value in (best_state or {}).items():
            tensors[f"best/{name}"] = value
        optimizer_json = _flatten_optimizer(optimizer.state_dict(), tensors)
        tensors["rng/torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            for index, state in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda/{index}"] = state
        extra_json = {}
        for name, value in extra.items():
            if isinstance(value, np.ndarray):
                tensors[f"extra/{name}"] = torch.from_numpy(np.ascontiguousarray(value))
            else:
                extra_json[name] = to_json_value(value, f"extra_state()[{name!r}]")
        state = {
            "format_version": FORMAT_VERSION,
            "key": self.key,
            "epoch": int(epoch),
            "loop": to_json_value(loop, "early-stopping state"),
            "curve": to_json_value(curve, "curve"),
            "has_best": best_state is not None,
            "optimizer": optimizer_json,
            "scheduler": to_json_value(scheduler.state_dict(), "scheduler state") if scheduler is not None else None,
            "shuffler": to_json_value(shuffler.bit_generator.state, "shuffler state"),
            "extra_json": extra_json,
        }
        _save_tensors(tensors, target / TENSORS)
        _write_text(target / STATE, json.dumps(state))
        # The pointer moves last: until it does, the previous epoch stays the one resumed from.
        _write_text(self.directory / LATEST, json.dumps({"epoch": int(epoch), "directory": target.name}))
        for old in self.directory.glob("epoch-*"):
            if old.name != target.name:
                shutil.rmtree(old, ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    # ------------------------------------------------------------------ loading

    def load(self, epochs: int | None = None) -> dict | None:
        """The latest complete checkpoint as plain values and CPU tensors, or None when there is none.

        Everything in it is checked before use: the folder ``latest.json`` names is an ``epoch-NNNN``
        folder of this job (no link, nothing outside), the epoch lies in [0, ``epochs``] and the scores
        are finite numbers. The tensors are checked against the model in :meth:`restore`.
        """
        if self.directory.is_symlink():
            raise ModelFileError(f"{self.directory} is a symbolic link; checkpoints are read only from a real "
                                 f"folder of the results directory. Delete it to start the job afresh")
        pointer = self.directory / LATEST
        if not pointer.is_file():
            return None
        try:
            latest = read_capped_text(pointer, 4096, "a checkpoint pointer")
            latest = json.loads(latest)
            name = latest["directory"]
            if not isinstance(name, str) or not EPOCH_FOLDER.match(name):
                raise ValueError(f"it names the folder {str(name)[:80]!r}, not an epoch-NNNN folder of this job")
            target = contained(self.directory, name, refuse_symlink=True)
            state = json.loads(read_capped_text(target / STATE, MAX_STATE_BYTES, "a checkpoint state"))
        except UnsafeNameError as exc:
            raise ModelFileError(f"{pointer}: {exc}; delete {self.directory} to start the job afresh") from None
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ModelFileError(f"{pointer}: the checkpoint cannot be read ({type(exc).__name__}: {exc}); "
                                 f"delete {self.directory} to start the job afresh") from None
        if state.get("format_version") != FORMAT_VERSION or state.get("key") != self.key:
            raise ModelFileError(f"{target / STATE}: checkpoint of format {state.get('format_version')!r} "
                                 f"for job {state.get('key')!r}, expected format {FORMAT_VERSION} for job "
                                 f"{self.key!r}; delete {self.directory} to start the job afresh")
        problem = state_problem(state, epochs)
        if problem:
            raise ModelFileError(f"{target / STATE}: {problem}; the checkpoint cannot be resumed. Delete "
                                 f"{self.directory} to start the job afresh")
        state["tensors"] = _load_tensors(target / TENSORS)
        return state

    def restore(self, state: dict, *, model, optimizer, scheduler, shuffler: np.random.Generator, method) -> dict:
        """Put a loaded checkpoint back into the loop's objects; returns loop, curve and best weights."""
        import torch

        tensors = state["tensors"]
        problem = tensors_problem(tensors, model.state_dict(), state.get("has_best"))
        if problem is None:
            try:
                model.load_state_dict(_prefixed(tensors, "model/"), strict=True)
                optimizer.load_state_dict(_unflatten_optimizer(state["optimizer"], tensors, optimizer))
            except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
                problem = f"it does not fit this model or optimiser ({type(exc).__name__}: {str(exc)[:200]})"
        if problem is not None:
            raise ModelFileError(f"checkpoint {self.directory}: {problem}. Delete {self.directory} to start "
                                 "the job afresh")
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        shuffler.bit_generator.state = state["shuffler"]
        torch.set_rng_state(tensors["rng/torch"])
        cuda_states = [tensors[f"rng/cuda/{i}"] for i in range(len(_prefixed(tensors, "rng/cuda/")))]
        if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        extra = dict(state["extra_json"])
        extra.update({name: value.numpy() for name, value in _prefixed(tensors, "extra/").items()})
        if extra:
            method.set_extra_state(extra)
        return {
            "loop": state["loop"],
            "curve": state["curve"],
            "best_state": _prefixed(tensors, "best/") if state["has_best"] else None,
        }


# ---------------------------------------------------------------------- validation


def state_problem(state, epochs: int | None) -> str | None:
    """What is wrong with a checkpoint's JSON state, or None."""
    if not isinstance(state, dict):
        return "its state is not a JSON object"
    epoch = state.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0 or (epochs is not None and epoch > epochs):
        return f"epoch {str(epoch)[:40]!r} is not an epoch of this job (an integer in [0, {epochs}])"
    loop = state.get("loop")
    if not isinstance(loop, dict) or not all(name in loop for name in ("best_score", "best_epoch", "waited",
                                                                        "stopped")):
        return "its early-stopping state lacks best_score, best_epoch, waited or stopped"
    score, best_epoch, waited = loop["best_score"], loop["best_epoch"], loop["waited"]
    if not _number(score) or math.isnan(score) or (math.isinf(score) and (score > 0 or best_epoch)):
        return f"best score {score!r} is not a finite number"  # -inf only before any epoch was scored
    for name, value in (("best epoch", best_epoch), ("patience count", waited)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= epoch:
            return f"{name} {str(value)[:40]!r} is not an integer in [0, {epoch}]"
    curve = state.get("curve")
    if not isinstance(curve, list) or len(curve) > epoch:
        return f"its curve is not a list of at most {epoch} epochs"
    for row in curve:
        if not isinstance(row, dict) or any(_number(v) and not math.isfinite(v) for v in row.values()):
            return "its curve holds a value that is not a finite number"
    return None


def tensors_problem(tensors: dict, model_state: dict, has_best) -> str | None:
    """Weights whose names, shapes or dtypes differ from the model's, or that are not finite, or None."""
    import torch

    for prefix in ("model/",) + (("best/",) if has_best else ()):
        saved = _prefixed(tensors, prefix)
        if set(saved) != set(model_state):
            missing = sorted(set(model_state) - set(saved))[:3]
            extra = sorted(set(saved) - set(model_state))[:3]
            return f"its {prefix[:-1]} weights do not match the model (missing {missing}, unexpected {extra})"
        for name, value in saved.items():
            expected = model_state[name]
            if tuple(value.shape) != tuple(expected.shape) or value.dtype != expected.dtype:
                return (f"{prefix}{name} is {value.dtype} {tuple(value.shape)}, the model has "
                        f"{expected.dtype} {tuple(expected.shape)}")
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                return f"{prefix}{name} holds values that are not finite"
    return None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------------- optimiser state


def _flatten_optimizer(state_dict: dict, tensors: dict[str, torch.Tensor]) -> dict:
    """Optimiser tensors go to ``tensors``; the rest (groups, scalar state) stays JSON."""
    import torch

    per_parameter = {}
    for index, values in state_dict["state"].items():
        plain = {}
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{name}"] = value
            else:
                plain[name] = to_json_value(value, f"optimizer state {index}.{name}")
        per_parameter[str(index)] = plain
    return {"state": per_parameter, "param_groups": to_json_value(state_dict["param_groups"], "optimizer groups")}


def _unflatten_optimizer(saved: dict, tensors: dict[str, torch.Tensor], optimizer) -> dict:
    state = {}
    for index, plain in saved["state"].items():
        values = dict(plain)
        values.update(_prefixed(tensors, f"optimizer/{index}/"))
        state[int(index)] = values
    groups = []
    for current, group in zip(optimizer.state_dict()["param_groups"], saved["param_groups"]):
        # JSON turned tuples (Adam's betas) into lists; give them back the type the optimiser built.
        groups.append({name: tuple(value) if isinstance(current.get(name), tuple) else value
                       for name, value in group.items()})
    return {"state": state, "param_groups": groups}


# ---------------------------------------------------------------------- files


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    # clone() gives every entry its own storage (safetensors refuses shared ones, e.g. tied weights).
    save_file({name: value.detach().cpu().contiguous().clone() for name, value in tensors.items()}, str(path))
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:
        raise ModelFileError(f"{path}: not a valid checkpoint tensor file ({type(exc).__name__}: {exc}); "
                             f"delete {path.parent.parent} to start the job afresh") from None


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def attach_checkpoints(method, results_dir: str | os.PathLike, key: str) -> JobCheckpoints | None:
    """Make a deep method checkpoint each epoch of its fit (classical methods have no epochs)."""
    import sys

    if "mmerbench.training" not in sys.modules:  # no deep method was imported, so this one has no epochs
        return None
    from mmerbench.training import TorchMethod

    if not isinstance(method, TorchMethod):
        return None
    checkpoints = JobCheckpoints(checkpoint_dir(results_dir, key), key)
    method._checkpoints = checkpoints
    return checkpoints
