"""Where mmerbench keeps its files (kept free of heavy imports: `mmerbench list` uses it)."""

from __future__ import annotations

import os
from pathlib import Path


def mmerbench_home() -> Path:
    return Path(os.environ.get("MMERBENCH_HOME") or Path.home() / ".mmerbench")


def data_dir() -> Path:
    return mmerbench_home() / "data"


def canonical_path(name: str) -> Path:
    """The canonical HDF5 file of an imported dataset."""
    return data_dir() / f"{name}.h5"
