"""What a restricted unpickling may produce, and the checks on the result (see :mod:`mmerbench.io.safe_pickle`).

While loading, numpy arrays, dtypes and ``argparse.Namespace`` objects are
placeholders of this module (:class:`ArrayHolder`, :class:`DtypeHolder`,
:class:`NamespaceDict`); :func:`finish` replaces them by plain values and
refuses anything else, cycles, nesting deeper than the depth limit, and data
whose size counted as a tree exceeds the :class:`Limits` of the file.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import numpy as np

from mmerbench.errors import DataError

EXPANSION_ENV = "MMERBENCH_PICKLE_EXPANSION"
DEPTH_ENV = "MMERBENCH_PICKLE_MAX_DEPTH"
DEFAULT_EXPANSION = 32.0
DEFAULT_MAX_DEPTH = 100
DEPTH_CEILING = 500  # the finishing pass recurses once per level; stay well inside Python's limit
BASE_ALLOWANCE = 64 << 20  # bytes any file may materialise, however small

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats
LIST_KINDS = "USO"  # str, bytes and object arrays become nested lists


class UnsafePickleError(DataError):
    """A pickle asked for something outside the allow-list, or over a limit."""


# --------------------------------------------------------------------------- limits


def _env_number(name: str, default: float, kind: type) -> float:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        raise DataError(f"{name}={text!r} is not a number (default {default})") from None
    if value <= 0:
        raise DataError(f"{name}={text!r} must be > 0 (default {default})")
    return value


class Limits:
    """The depth and materialised-size limits for one file of ``file_size`` bytes."""

    def __init__(self, file_size: int):
        self.file_size = int(file_size)
        self.expansion = _env_number(EXPANSION_ENV, DEFAULT_EXPANSION, float)
        self.max_depth = min(int(_env_number(DEPTH_ENV, DEFAULT_MAX_DEPTH, int)), DEPTH_CEILING)
        self.max_bytes = int(BASE_ALLOWANCE + self.expansion * self.file_size)
        self.charged = 0

    def charge(self, nbytes: int, what: str) -> None:
        """Count bytes about to be allocated; refuse before allocating past the limit."""
        self.charged += int(nbytes)
        if self.charged > self.max_bytes:
            raise UnsafePickleError(f"{what} would bring the data past {self.max_bytes} bytes "
                                    f"materialised, {self.describe_size()}")

    def describe_size(self) -> str:
        return (f"the limit for a file of {self.file_size} bytes (64 MiB + {self.expansion:g} x its size; "
                f"set {EXPANSION_ENV} to raise the factor for a file you trust)")

    def too_deep(self) -> UnsafePickleError:
        return UnsafePickleError(f"data nested deeper than {self.max_depth} levels (set {DEPTH_ENV} "
                                 f"up to {DEPTH_CEILING} for a file you trust)")


# --------------------------------------------------------------------------- what loading produces


class FileSpan:
    """Bytes left in the file: (path, offset, length), for an array to memory-map."""

    def __init__(self, path: str, offset: int, length: int):
        self.path, self.offset, self.length = path, offset, length


class ArrayHolder:
    """What numpy's ``_reconstruct`` gives: empty until BUILD brings the array's state."""

    value: Any = None
    built = False


class DtypeHolder:
    """A dtype code from the file; BUILD may set its byte order and item size."""

    def __init__(self, code: str):
        self.code, self.order, self.itemsize = code, "=", None

    def resolve(self) -> np.dtype:
        return simple_dtype(self.code, self.order, self.itemsize)


class NamespaceDict(dict):
    """An ``argparse.Namespace`` while loading; a plain dict in the result."""


def simple_dtype(code: str, order: str = "=", itemsize: int | None = None) -> np.dtype:
    """The dtype a numpy code names, if it is bool/int/float, fixed-width str/bytes, or object."""
    if not isinstance(code, str) or not code or len(code) > 8:
        raise UnsafePickleError(f"refused the dtype {code!r}: only bool, integer and float arrays "
                                "(and str, bytes or object arrays, read as lists) are allowed")
    kind = code.lstrip("<>|=")[:1]
    if kind == "O":
        return np.dtype(object)
    try:
        dtype = np.dtype(code)
    except (TypeError, ValueError):
        raise UnsafePickleError(f"refused the dtype {code!r}: not a numpy type code") from None
    if dtype.kind not in NUMERIC_KINDS + "US" or dtype.fields is not None or dtype.subdtype is not None:
        raise UnsafePickleError(f"refused the dtype {code!r} (kind {dtype.kind!r}): only bool, integer and "
                                "float arrays (and str, bytes or object arrays, read as lists) are allowed")
    if dtype.kind in "US" and itemsize is not None and itemsize >= 0:
        unit = 4 if dtype.kind == "U" else 1
        if itemsize == 0 or itemsize % unit:
            raise UnsafePickleError(f"refused the dtype {code!r} with item size {itemsize}")
        dtype = np.dtype(f"{dtype.kind}{itemsize // unit}")
    elif itemsize not in (None, -1) and itemsize != dtype.itemsize:
        raise UnsafePickleError(f"refused the dtype {code!r}: item size {itemsize} is not {dtype.itemsize}")
    if dtype.itemsize == 0:
        raise UnsafePickleError(f"refused the dtype {code!r}: item size 0")
    return dtype.newbyteorder(order) if order in "<>" and dtype.kind in NUMERIC_KINDS + "U" else dtype


def nest(flat: list, shape: tuple) -> Any:
    """A flat list in C order -> nested lists of ``shape`` (the items themselves are kept)."""
    holder = np.empty(len(flat), dtype=object)
    for i, item in enumerate(flat):  # one by one: an item that is itself a list stays one item
        holder[i] = item
    return holder.reshape(shape).tolist()


# --------------------------------------------------------------------------- finishing


def finish(value, limits: Limits, resolve: Callable | None = None) -> Any:
    """Replace loading placeholders by their values; refuse cycles, depth and size over the limits.

    Shared references stay shared (each object is visited once), but the size
    is counted as a tree, as any consumer that walks the result would see it.
    ``resolve`` turns torch's deferred legacy tensors into arrays.
    """
    done: dict[int, tuple[Any, int]] = {}
    active: set[int] = set()
    # Three Python frames per level of nesting; the depth limit, not Python's, must decide.
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, 4 * limits.max_depth + 500))

    def visit(obj, depth: int) -> tuple[Any, int]:
        kind = type(obj)
        if obj is None or kind in (bool, int, float, complex):
            return obj, 8
        if kind in (str, bytes, bytearray):
            return obj, 32 + len(obj)
        key = id(obj)
        if key in done:
            return done[key]
        if depth > limits.max_depth:
            raise limits.too_deep()
        if key in active:
            raise UnsafePickleError("refused a container that contains itself (a reference cycle)")
        active.add(key)
        result, weight = _visit_object(obj, depth, visit, resolve)
        active.discard(key)
        if weight > limits.max_bytes:
            raise UnsafePickleError(f"the data expand to more than {limits.max_bytes} bytes when read "
                                    f"(shared references count each time), {limits.describe_size()}")
        done[key] = (result, weight)
        return result, weight

    try:
        return visit(value, 0)[0]
    finally:
        sys.setrecursionlimit(previous_limit)


def _visit_object(obj, depth, visit, resolve) -> tuple[Any, int]:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in NUMERIC_KINDS or obj.dtype.fields is not None:
            raise UnsafePickleError(f"refused an array of dtype {obj.dtype}")
        return obj, 96 + obj.size * obj.dtype.itemsize
    if isinstance(obj, ArrayHolder):
        if not obj.built:
            raise UnsafePickleError("refused an array whose state never came (incomplete pickle)")
        return visit(obj.value, depth)
    if isinstance(obj, DtypeHolder):
        return obj.resolve().str, 40
    if resolve is not None and resolve.accepts(obj):
        return visit(resolve(obj), depth)
    if type(obj) in (list, dict, NamespaceDict, tuple, set, frozenset):
        return _visit_container(obj, depth, visit)
    name = getattr(obj, "name", None) if type(obj).__name__ == "AllowedGlobal" else type(obj).__name__
    raise UnsafePickleError(f"refused {name} as a value: data may hold only numbers, strings, containers and arrays")


def _visit_container(obj, depth, visit) -> tuple[Any, int]:
    weight = 64
    if type(obj) is list:
        for i, item in enumerate(obj):
            new, size = visit(item, depth + 1)
            weight += 8 + size
            if new is not item:
                obj[i] = new
        return obj, weight
    if isinstance(obj, dict):
        pairs, changed = [], type(obj) is not dict
        for key, item in obj.items():
            new_key, key_size = visit(key, depth + 1)
            new_item, item_size = visit(item, depth + 1)
            weight += 16 + key_size + item_size
            changed = changed or new_key is not key or new_item is not item
            pairs.append((new_key, new_item))
        if type(obj) is not dict:
            return dict(pairs), weight
        if changed:
            obj.clear()
            obj.update(pairs)
        return obj, weight
    items, changed = [], False
    for item in obj:
        new, size = visit(item, depth + 1)
        weight += 8 + size
        changed = changed or new is not item
        items.append(new)
    if not changed:
        return obj, weight
    if type(obj) is set:
        obj.clear()
        obj.update(items)
        return obj, weight
    return type(obj)(items), weight
