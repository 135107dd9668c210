"""The three kinds of file a saved model is made of, each read without unpickling anything.

- JSON (the manifest): plain values only; nothing in it is ever imported or instantiated.
- safetensors (torch weights, numpy arrays): a length-prefixed JSON header plus raw bytes; the
  reader is the safetensors library, which has no code-execution path.
- skops (fitted scikit-learn objects): read only after ``skops.io.get_untrusted_types`` has
  listed every type the file would build and each one is in the trusted list; anything else is
  refused before a single object is created.

Every reader turns any failure into :class:`ModelFileError` naming the file and what is wrong.
torch, safetensors and skops are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from mmerbench.errors import MMERBenchError


class ModelFileError(MMERBenchError):
    """A saved model is missing, damaged, from another format version, or holds untrusted content."""


# Size caps: a saved model may come from someone else, and its size must not decide how much memory a
# reader takes. A manifest holds hyperparameters, labels, a training curve and small JSON state.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
# A skops member (schema.json, an array) is read whole by skops: none may expand beyond this, and the
# schema beyond MAX_SKOPS_SCHEMA_BYTES (a forest of a few hundred trees needs a few MiB).
MAX_SKOPS_MEMBER_BYTES = 2 * 1024 ** 3
MAX_SKOPS_SCHEMA_BYTES = 64 * 1024 * 1024
# A weights file holds the model's tensors and a JSON header; this much beyond their bytes is refused.
WEIGHTS_SLACK_BYTES = 8 * 1024 * 1024


# ----------------------------------------------------------------------------- JSON


def to_json_value(value: Any, where: str) -> Any:
    """``value`` as plain JSON (numpy scalars and arrays become numbers and lists), or ModelFileError."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ModelFileError(f"{where}: key {key!r} is not a string; saved JSON needs string keys")
            out[key] = to_json_value(item, f"{where}[{key!r}]")
        return out
    raise ModelFileError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which cannot be saved as JSON "
        "(valid: None, bool, int, float, str, lists and dicts of them, numeric numpy arrays)"
    )


def write_json(path: Path, payload: dict) -> None:
    text = json.dumps(payload, indent=2, sort_keys=False, allow_nan=True)
    _write_bytes(path, text.encode("utf-8"))


def read_json(path: Path, limit: int = MAX_MANIFEST_BYTES) -> dict:
    from mmerbench.io.capped import TooLargeError, read_capped_text

    try:
        text = read_capped_text(path, limit, "a manifest")
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except TooLargeError as exc:
        raise ModelFileError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(payload, dict):
        raise ModelFileError(f"{path}: expected a JSON object at the top, found {type(payload).__name__}")
    return payload


# ----------------------------------------------------------------------------- safetensors


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Numeric / boolean numpy arrays by name, as safetensors."""
    from safetensors.numpy import save_file

    checked = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":
            raise ModelFileError(
                f"array {name!r} has dtype {array.dtype}; saved arrays must be numeric or boolean "
                "(put strings and other values in the JSON part of extra_state)"
            )
        checked[name] = np.ascontiguousarray(array)
    save_file(checked, str(path))
    _usual_permissions(path)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        arrays = dict(load_file(str(path)))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except Exception as exc:  # the library raises its own SafetensorError and others
        raise ModelFileError(f"{path}: not a valid safetensors file ({type(exc).__name__}: {exc})") from None
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ModelFileError(f"{path}: array {name!r} holds values that are not finite (NaN or infinity)")
    return arrays


def write_torch_weights(path: Path, model) -> None:
    """A module's state dict as safetensors (shared tensors are stored once)."""
    from safetensors.torch import save_model

    save_model(model, str(path))
    _usual_permissions(path)


def read_torch_weights(path: Path, model, device) -> None:
    """Load ``path`` into ``model`` strictly: every tensor present, none extra, shapes equal."""
    from safetensors.torch import load_model

    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such file")
    _check_weights_file(path, model)  # before loading: names, dtypes, shapes and size against the model
    try:
        load_model(model, str(path), strict=True, device=str(device))
    except Exception as exc:
        raise ModelFileError(
            f"{path}: cannot be loaded into the {type(model).__name__} built from the saved hyperparameters "
            f"({type(exc).__name__}: {exc})"
        ) from None
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not bool(value.isfinite().all()):
            raise ModelFileError(f"{path}: tensor {name!r} holds values that are not finite (NaN or infinity)")


def _check_weights_file(path: Path, model) -> None:
    """Every tensor of ``path`` has the dtype and shape of the model's, and the file is no larger than they need
    (a tensor relabelled I32 in the header would otherwise be converted and predict garbage)."""
    from safetensors import safe_open

    expected = model.state_dict()
    needed = sum(value.numel() * value.element_size() for value in expected.values())
    size = Path(path).stat().st_size
    if size > needed + WEIGHTS_SLACK_BYTES:
        raise ModelFileError(f"{path}: {size:,} bytes, but the model's tensors need {needed:,}; refused")
    try:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():
                sliced = handle.get_slice(name)
                dtype, shape = sliced.get_dtype(), tuple(sliced.get_shape())
                if name not in expected:
                    continue  # strict loading names it
                want = expected[name]
                want_dtype = _SAFETENSORS_DTYPES.get(str(want.dtype).removeprefix("torch."), str(want.dtype))
                if dtype != want_dtype or shape != tuple(want.shape):
                    raise ModelFileError(f"{path}: tensor {name!r} is {dtype} {list(shape)}, the model's is "
                                         f"{want_dtype} {list(want.shape)}; refused")
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path}: not a valid safetensors file ({type(exc).__name__}: {exc})") from None


_SAFETENSORS_DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
                       "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


# ----------------------------------------------------------------------------- skops


def write_skops(path: Path, objects: dict[str, Any]) -> None:
    from mmerbench.io.skops_import import skops_io

    try:
        skops_io().dump(objects, str(path))
    except Exception as exc:
        raise ModelFileError(
            f"cannot save the scikit-learn objects to {path} with skops ({type(exc).__name__}: {exc})"
        ) from exc


def read_skops(path: Path, trusted: Iterable[str] = ()) -> Any:
    """The object saved in ``path``; refuses (and builds nothing) if it holds a type not trusted.

    ``trusted``: the types the method class declares (its ``skops_trusted_types``) beyond skops's own
    default trust list; the core trusts nothing by name.
    """
    from mmerbench.io.skops_import import skops_io

    skops = skops_io()
    if not Path(path).is_file():
        raise ModelFileError(f"{path}: no such file")
    allowed = set(trusted)
    _check_skops_members(Path(path))
    try:
        untrusted = skops.get_untrusted_types(file=str(path))
    except Exception as exc:
        raise ModelFileError(f"{path}: not a valid skops file ({type(exc).__name__}: {exc})") from None
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise ModelFileError(
            f"{path} holds types that are not trusted, so it was not loaded: {', '.join(refused)}. "
            f"Trusted beyond scikit-learn's own: {', '.join(sorted(allowed))}"
        )
    try:
        return skops.load(str(path), trusted=list(untrusted))
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot be loaded with skops ({type(exc).__name__}: {exc})") from None


def _check_skops_members(path: Path) -> None:
    """A skops file is a zip whose members skops reads whole: refuse one that would expand too far, before."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFileError(f"{path}: not a valid skops file ({type(exc).__name__}: {exc})") from None
    for member in members:
        limit = MAX_SKOPS_SCHEMA_BYTES if member.filename == "schema.json" else MAX_SKOPS_MEMBER_BYTES
        if member.file_size > limit:
            raise ModelFileError(f"{path}: member {member.filename!r} expands to {member.file_size:,} bytes, more "
                                 f"than the {limit:,} a saved model needs; refused before reading it")


# ----------------------------------------------------------------------------- integrity


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _usual_permissions(path: Path) -> None:
    """safetensors writes its files private (0600); give them the permissions any other file gets."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def json_number_list(value, where: str) -> np.ndarray:
    """A JSON list of numbers as a float array (for per-label thresholds)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelFileError(f"{where}: expected a number or a list of numbers, found {value!r}") from None
    if not all(math.isfinite(x) for x in array.ravel()):
        raise ModelFileError(f"{where}: expected finite numbers, found {value!r}")
    return array
