"""Multi-label tables: ARFF (dense or sparse), CSV with a header row, NPZ -> (column names, float matrix)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from mmerbench.errors import DataError, UsageError


def read_table(path: Path) -> tuple[list[str], np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".arff":
        return read_arff(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".npz":
        return read_npz(path)
    raise UsageError(f"{path}: unknown table format {suffix!r}; use .arff, .csv (with a header row) or .npz")


_ATTRIBUTE = re.compile(r"@attribute\s+('(?:[^']|\\')*'|\"[^\"]*\"|\S+)\s+(.+)", re.IGNORECASE)


def read_arff(path: Path) -> tuple[list[str], np.ndarray]:
    names, rows, in_data = [], [], False
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("%"):
            continue
        if not in_data:
            lower = line.lower()
            if lower.startswith("@attribute"):
                match = _ATTRIBUTE.match(line)
                if not match:
                    raise DataError(f"{path}: line {number}: malformed @attribute")
                kind = match.group(2).strip().lower()
                if not (kind in ("numeric", "real", "integer") or kind.startswith("{")):
                    raise DataError(f"{path}: line {number}: attribute type {kind!r} is not numeric or nominal")
                names.append(match.group(1).strip("'\""))
            elif lower.startswith("@data"):
                in_data = True
            continue
        rows.append(_arff_row(line, len(names), path, number))
    if not in_data or not names:
        raise DataError(f"{path}: not an ARFF file (no @attribute / @data sections)")
    if not rows:
        raise DataError(f"{path}: no data rows")
    return names, np.array(rows, dtype=np.float64)


def _arff_row(line: str, width: int, path: Path, number: int) -> list[float]:
    def value(text: str) -> float:
        text = text.strip().strip("'\"")
        if text == "?":
            return float("nan")
        try:
            return float(text)
        except ValueError:
            raise DataError(f"{path}: line {number}: value {text!r} is not a number") from None

    if line.startswith("{"):  # sparse: {index value, ...}
        if not line.endswith("}"):
            raise DataError(f"{path}: line {number}: a sparse row must end with '}}'")
        row = [0.0] * width
        for item in line.strip("{}").split(","):
            if item.strip():
                parts = item.split()
                if len(parts) != 2 or not parts[0].isdigit():
                    raise DataError(f"{path}: line {number}: sparse entry {item.strip()!r} is not 'INDEX VALUE'")
                index = int(parts[0])
                if not 0 <= index < width:
                    raise DataError(f"{path}: line {number}: index {index} outside 0..{width - 1}")
                row[index] = value(parts[1])
        return row
    parts = line.split(",")
    if len(parts) != width:
        raise DataError(f"{path}: line {number}: {len(parts)} values, the header declares {width} attributes")
    return [value(p) for p in parts]


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column].dtype) and not pd.api.types.is_bool_dtype(frame[column].dtype):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & frame[column].notna().to_numpy())
        if bad.size:
            row = int(bad[0])
            raise DataError(f"{path}: column {str(column)!r}, row {row + 1} (line {row + 2} of the file): "
                            f"{frame[column].iloc[row]!r} is not a number; a table CSV needs a header row and "
                            "numbers only (empty cells count as missing values)")
        frame[column] = numbers
    return [str(c) for c in frame.columns], frame.to_numpy(dtype=np.float64)


def read_npz(path: Path) -> tuple[list[str], np.ndarray]:
    """NPZ: ``X`` (N, F) and ``Y`` (N, q) (optional ``feature_names`` / ``label_names``; labels are the
    last q columns), or one ``data`` (N, C) matrix with optional ``columns`` names."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    with archive:
        try:
            return _read_npz_arrays(path, archive)
        except ValueError as exc:  # object arrays: np.load refuses to unpickle them
            raise DataError(f"{path}: an array holds Python objects or cannot be read ({exc}); an .npz table "
                            "must hold numeric arrays only (and string arrays for names)") from None


def _read_npz_arrays(path: Path, archive) -> tuple[list[str], np.ndarray]:
    keys = set(archive.files)
    if {"X", "Y"} <= keys:
        x, y = archive["X"], archive["Y"]
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise DataError(f"{path}: X {x.shape} and Y {y.shape} must be 2-D with the same number of rows")
        features = [str(n) for n in archive["feature_names"]] if "feature_names" in keys else \
            [f"x{i}" for i in range(x.shape[1])]
        labels = [str(n) for n in archive["label_names"]] if "label_names" in keys else \
            [f"label_{j}" for j in range(y.shape[1])]
        return features + labels, np.hstack([x, y]).astype(np.float64)
    if "data" in keys:
        data = archive["data"]
        if data.ndim != 2:
            raise DataError(f"{path}: 'data' has shape {data.shape}, expected (N, columns)")
        names = [str(n) for n in archive["columns"]] if "columns" in keys else \
            [f"c{i}" for i in range(data.shape[1])]
        return names, data.astype(np.float64)
    raise DataError(f"{path}: an .npz table needs arrays 'X' and 'Y', or 'data'; found {sorted(keys)}")
