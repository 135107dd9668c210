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
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmerbench.io.model_files import ModelFileError, to_json_value

if TYPE_CHECKING:  # torch is imported only where a deep job needs it (classical workers stay light)
    import torch

CHECKPOINTS_DIR = "checkpoints"
FORMAT_VERSION = 1
LATEST = "latest.json"
STATE = "state.json"
TENSORS = "tensors.safetensors"


def checkpoint_dir(results_dir: str | os.PathLike, key: str) -> Path:
    if not key or any(part in key for part in ("/", "\\", "..")) or key.startswith("."):
        raise ModelFileError(f"job key {key!r} is not valid for a checkpoint directory")
    return Path(results_dir) / CHECKPOINTS_DIR / key


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

    def load(self) -> dict | None:
        """The latest complete checkpoint as plain values and CPU tensors, or None when there is none."""
        pointer = self.directory / LATEST
        if not pointer.is_file():
            return None
        try:
            latest = json.loads(pointer.read_text())
            target = self.directory / str(latest["directory"])
            state = json.loads((target / STATE).read_text())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{pointer}: the checkpoint cannot be read ({type(exc).__name__}: {exc}); "
                                 f"delete {self.directory} to start the job afresh") from None
        if state.get("format_version") != FORMAT_VERSION or state.get("key") != self.key:
            raise ModelFileError(f"{target / STATE}: checkpoint of format {state.get('format_version')!r} "
                                 f"for job {state.get('key')!r}, expected format {FORMAT_VERSION} for job "
                                 f"{self.key!r}; delete {self.directory} to start the job afresh")
        state["tensors"] = _load_tensors(target / TENSORS)
        return state

    def restore(self, state: dict, *, model, optimizer, scheduler, shuffler: np.random.Generator, method) -> dict:
        """Put a loaded checkpoint back into the loop's objects; returns loop, curve and best weights."""
        import torch

        tensors = state["tensors"]
        model.load_state_dict(_prefixed(tensors, "model/"), strict=True)
        optimizer.load_state_dict(_unflatten_optimizer(state["optimizer"], tensors, optimizer))
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
