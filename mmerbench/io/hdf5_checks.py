"""HDF5 objects from someone else's file, checked before a byte of them is read.

A ``.csd`` or ``.h5`` file can make h5py read other files or far more memory than it occupies:

- *external storage*: a dataset whose bytes live in another file (``/etc/passwd`` read as features);
- *external links* and *virtual datasets*: objects that are really parts of other files;
- *non-numeric dtypes* (strings, compounds, references, objects): not features, and tracebacks later;
- *expansion*: a small compressed dataset, or one declared lazily without data, that becomes
  gigabytes when read.

Each is refused with :class:`DataError` naming the file and the object. The expansion limit is the
one the pickle loader has: a single dataset may read at most ``64 MiB + MMERBENCH_HDF5_EXPANSION x the
file's size`` (default 32). Raise ``MMERBENCH_HDF5_EXPANSION`` for a file you trust that needs more.
"""

from __future__ import annotations

import os
from pathlib import Path

from mmerbench.errors import DataError

EXPANSION_ENV = "MMERBENCH_HDF5_EXPANSION"
DEFAULT_EXPANSION = 32.0
BASE_ALLOWANCE = 64 * 1024 * 1024


def expansion_limit(path: str | os.PathLike) -> int:
    """The most bytes one dataset of ``path`` may expand to when read."""
    text = os.environ.get(EXPANSION_ENV, "")
    factor = DEFAULT_EXPANSION
    if text:
        try:
            factor = float(text)
        except ValueError:
            raise DataError(f"{EXPANSION_ENV}={text!r} is not a number (default {DEFAULT_EXPANSION:g})") from None
        if not factor > 0 or factor == float("inf"):
            raise DataError(f"{EXPANSION_ENV}={text!r} must be a finite number > 0 (default {DEFAULT_EXPANSION:g})")
    return int(BASE_ALLOWANCE + factor * Path(path).stat().st_size)


def checked_child(group, name: str, where: str):
    """``group[name]`` after refusing an external link (a soft link inside the file is followed)."""
    import h5py

    link = group.get(name, getlink=True)
    if link is None:
        raise DataError(f"{where} is missing")
    if isinstance(link, h5py.ExternalLink):
        raise DataError(f"{where} is an external link to {link.filename}:{link.path}; objects of other files "
                        "are not read")
    try:
        return group[name]
    except KeyError:  # a dangling soft link
        raise DataError(f"{where} is a link to an object that does not exist") from None


def check_dataset(dataset, where: str, limit: int | None, *, home=None, numeric: bool = True) -> None:
    """Refuse ``dataset`` unless it is stored in this file (``home``: the file it was opened from, which an
    external link anywhere on its path would change), numeric (``numeric=False``: ids and notes may be text),
    and expands to at most ``limit`` bytes (None: read lazily, in slices, so not checked as a whole)."""
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        raise DataError(f"{where} is a {type(dataset).__name__}, expected a dataset")
    if home is not None and Path(dataset.file.filename).resolve() != Path(home.filename).resolve():
        raise DataError(f"{where} lives in {dataset.file.filename} (reached through an external link); "
                        "objects of other files are not read")
    if dataset.is_virtual:
        raise DataError(f"{where} is a virtual dataset (its data lives in other files); not read")
    if dataset.external:
        files = ", ".join(str(entry[0]) for entry in dataset.external)
        raise DataError(f"{where} uses HDF5 external storage ({files}); only data inside the file is read")
    if numeric and dataset.dtype.kind not in "biuf":
        raise DataError(f"{where} has dtype {dataset.dtype}; features and labels must be numbers")
    if not numeric and dataset.dtype.kind not in "biufSUO":
        raise DataError(f"{where} has dtype {dataset.dtype}; expected numbers or text")
    if dataset.dtype.kind == "O" and h5py.check_string_dtype(dataset.dtype) is None:
        raise DataError(f"{where} has dtype {dataset.dtype} (references or objects); expected numbers or text")
    size = int(dataset.size) * max(int(dataset.dtype.itemsize), 16 if dataset.dtype.kind == "O" else 1)
    if limit is not None and size > limit:
        raise DataError(f"{where} would expand to {size:,} bytes when read, more than the {limit:,} allowed for "
                        f"this file (64 MiB + {EXPANSION_ENV} x its size); refused before reading. Set "
                        f"{EXPANSION_ENV} higher for a file you trust")
