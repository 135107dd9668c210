"""The unpickler's allow-list: each allowed global name and the builder it stands for.

A pickle names globals and calls them. Here a name never resolves to the real
class or function: :data:`ALLOWED_GLOBALS` maps each allowed ``(module,
name)`` to a *builder* that makes only plain data (or a placeholder of
:mod:`mmerbench.io.pickle_data`), checking its arguments first and charging what
it allocates to the file's :class:`~mmerbench.io.pickle_data.Limits`. A builder of
``None`` marks a name allowed only as an argument (``numpy.ndarray`` for
``_reconstruct``, ``object`` for ``copyreg._reconstructor``).
:data:`mmerbench.io.torch_globals.TORCH_GLOBALS` is added inside
``.pt`` files. Growing either list is a security decision: a test pins them.
"""

from __future__ import annotations

import _compat_pickle
from typing import Any, Callable

import numpy as np

from mmerbench.io.pickle_data import ArrayHolder, DtypeHolder, UnsafePickleError, simple_dtype




class AllowedGlobal:
    """An allowed global: what REDUCE / NEWOBJ / BUILD may do with it (nothing else is callable)."""

    def __init__(self, name: str, build: Callable | None):
        self.name, self._build = name, build

    def call(self, unpickler: Any, args: tuple) -> Any:
        if self._build is None:
            raise UnsafePickleError(f"refused to call {self.name}: it is allowed only as an argument")
        if type(args) is not tuple:
            raise UnsafePickleError(f"refused to call {self.name} with non-tuple arguments")
        try:
            return self._build(unpickler, *args)
        except TypeError as exc:
            raise UnsafePickleError(f"refused {self.name} with arguments of types "
                                    f"{[type(a).__name__ for a in args]}: {exc}") from None

    def __repr__(self) -> str:
        return f"<allowed global {self.name}>"


def _copy_container(kind: type, what: str):
    def build(unpickler, items=()):
        if type(items) not in (list, tuple, set, frozenset, dict):
            raise UnsafePickleError(f"refused {what}() of a {type(items).__name__}")
        unpickler.limits.charge(16 + 8 * len(items), f"{what}() of {len(items)} items")
        value = kind(items)
        if kind in (tuple, frozenset):
            unpickler.note_hashable(value)
        return value
    return build


def _scalar_builder(kind: type, accepted: tuple):
    def build(unpickler, *args):
        if not all(type(a) in accepted for a in args):
            raise UnsafePickleError(f"refused {kind.__name__}() of {[type(a).__name__ for a in args]}")
        return kind(*args)
    return build


def _bytes_builder(kind: type):
    def build(unpickler, data=b"", encoding=None):
        if type(data) is str and encoding in ("latin1", "latin-1"):
            unpickler.limits.charge(len(data), f"{kind.__name__} of {len(data)} bytes")
            return kind(data, "latin1")
        if type(data) in (bytes, bytearray) and encoding is None:
            unpickler.limits.charge(len(data), f"{kind.__name__} of {len(data)} bytes")
            return kind(data)
        raise UnsafePickleError(f"refused {kind.__name__}() of a {type(data).__name__}")
    return build


def _codecs_encode(unpickler, text, encoding="utf-8"):
    # Protocol 2 pickles of Python 3 bytes store them as latin-1 text.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("refused _codecs.encode other than of text to latin1")
    unpickler.limits.charge(len(text), f"bytes of {len(text)} characters")
    return text.encode("latin1")


def _plain_dict(unpickler, *args):
    """OrderedDict() / OrderedDict(pairs) / defaultdict(factory): a plain (ordered) dict."""
    if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, AllowedGlobal, type(None)))):
        raise UnsafePickleError(f"refused a dict of {[type(a).__name__ for a in args]}")
    value = {}
    if args and isinstance(args[0], (list, tuple)):  # protocol 0/1 OrderedDict([[key, value], ...])
        unpickler.limits.charge(16 + 16 * len(args[0]), f"a dict of {len(args[0])} items")
        for pair in args[0]:
            if type(pair) not in (list, tuple) or len(pair) != 2:
                raise UnsafePickleError("refused a dict built from something other than key/value pairs")
            value[pair[0]] = pair[1]
    return value


def _namespace(unpickler, *args):
    if args:
        raise UnsafePickleError("refused argparse.Namespace with positional arguments")
    return unpickler.new_namespace()


def _reconstructor(unpickler, cls, base, state):
    # Protocol 0/1 rebuild of a plain object: allowed for argparse.Namespace only.
    if getattr(cls, "name", None) != "argparse.Namespace" or getattr(base, "name", None) != "builtins.object" \
            or state is not None:
        raise UnsafePickleError(f"refused copyreg._reconstructor of {cls!r}: only argparse.Namespace objects")
    return unpickler.new_namespace()


def _dtype(unpickler, code, align=False, copy=True):
    simple_dtype(code)  # refuse unknown or structured codes now; BUILD may still set order and size
    return DtypeHolder(code)


def _reconstruct(unpickler, cls, shape, typecode):
    if getattr(cls, "name", None) != "numpy.ndarray":
        raise UnsafePickleError(f"refused numpy _reconstruct of {cls!r}: only numpy.ndarray")
    return ArrayHolder()


def _numpy_scalar(unpickler, dtype, data=None):
    if not isinstance(dtype, DtypeHolder):
        raise UnsafePickleError("refused a numpy scalar without a dtype")
    resolved = dtype.resolve()
    if resolved.kind == "O":
        return data
    if type(data) is str:
        data = data.encode("latin1")
    if type(data) not in (bytes, bytearray) or len(data) != resolved.itemsize:
        raise UnsafePickleError(f"refused a numpy {resolved} scalar of {len(data or b'')} bytes")
    return np.frombuffer(data, dtype=resolved, count=1)[0].item()


def _frombuffer(unpickler, buffer, dtype, shape, order="C"):
    if not isinstance(dtype, DtypeHolder):
        raise UnsafePickleError("refused numpy _frombuffer without a dtype")
    return unpickler.make_array(shape, dtype.resolve(), order == "F", buffer)


ALLOWED_GLOBALS: dict[tuple[str, str], Callable | None] = {
    ("builtins", "list"): _copy_container(list, "list"),
    ("builtins", "tuple"): _copy_container(tuple, "tuple"),
    ("builtins", "set"): _copy_container(set, "set"),
    ("builtins", "frozenset"): _copy_container(frozenset, "frozenset"),
    ("builtins", "dict"): _plain_dict,
    ("builtins", "int"): _scalar_builder(int, (int, bool, str, bytes)),
    ("builtins", "float"): _scalar_builder(float, (int, bool, float, str)),
    ("builtins", "complex"): _scalar_builder(complex, (int, bool, float)),
    ("builtins", "bool"): _scalar_builder(bool, (int, bool)),
    ("builtins", "str"): _scalar_builder(str, (str,)),
    ("builtins", "bytes"): _bytes_builder(bytes),
    ("builtins", "bytearray"): _bytes_builder(bytearray),
    ("builtins", "object"): None,  # only as copyreg._reconstructor's base
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _codecs_encode,
    ("collections", "OrderedDict"): _plain_dict,
    ("collections", "defaultdict"): _plain_dict,
    ("argparse", "Namespace"): _namespace,
    ("numpy", "ndarray"): None,  # only as _reconstruct's class
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
}

ALLOWED_DESCRIPTION = (
    "only numpy arrays/dtypes/scalars, builtin containers and scalars, collections.OrderedDict/defaultdict, "
    "argparse.Namespace (and torch tensors inside .pt files) are allowed"
)


def canonical_global(module: str, name: str) -> tuple[str, str]:
    """Python 2 and numpy 2 names -> the names :data:`ALLOWED_GLOBALS` uses."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    if module.startswith("numpy._core."):
        module = "numpy.core." + module[len("numpy._core."):]
    return module, name
