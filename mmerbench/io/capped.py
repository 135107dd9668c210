"""Reading a file someone else wrote without letting its size decide how much memory is used."""

from __future__ import annotations

import os
from pathlib import Path


class TooLargeError(ValueError):
    """A file is larger than what its kind ever needs."""


def read_capped_bytes(path: str | os.PathLike, limit: int, what: str) -> bytes:
    """The bytes of ``path``, refused (before reading) when larger than ``limit``."""
    path = Path(path)
    size = path.stat().st_size
    if size > limit:
        raise TooLargeError(f"{path}: {what} is {size:,} bytes, more than the {limit:,} such a file ever needs; "
                            "refused without reading it")
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)  # the file may have grown since stat()
    if len(data) > limit:
        raise TooLargeError(f"{path}: {what} is larger than {limit:,} bytes; refused")
    return data


def read_capped_text(path: str | os.PathLike, limit: int, what: str) -> str:
    return read_capped_bytes(path, limit, what).decode("utf-8")
