"""Multi-label tables: ARFF (dense or sparse), CSV with a header row, NPZ -> a :class:`Table`.

A table remembers the file line of each row (ARFF and CSV), so that every later error about a row (a
label that is not 0/1, a missing feature value) names the line a user opens in an editor.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmerbench.errors import DataError, UsageError

@dataclass
class Table:
    """Column names, an (N, C) float matrix, and the file line of each row (``None`` for NPZ)."""

    names: list[str]
    matrix: np.ndarray
    lines: np.ndarray | None = None

    def position(self, row: int) -> str:
        """Where row ``row`` (0-based, among the data rows) is in the file: ``line 7``, or ``row 5`` of an array."""
        if self.lines is None:
            return f"data row {row + 1}"
        return f"line {int(self.lines[row])}"


def read_table(path: Path) -> Table:
    suffix = path.suffix.lower()
    if suffix == ".arff":
        return read_arff(path)
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".npz":
        return read_npz(path)
    raise UsageError(f"{path}: unknown table format {suffix!r}; use .arff, .csv (with a header row) or .npz")


_ATTRIBUTE = re.compile(r"@attribute\s+('(?:[^']|\\')*'|\"[^\"]*\"|\S+)\s+(.+)", re.IGNORECASE)


def read_arff(path: Path) -> Table:
    names, rows, row_lines, in_data = [], [], [], False
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
        row_lines.append(number)
    if not in_data or not names:
        raise DataError(f"{path}: not an ARFF file (no @attribute / @data sections)")
    if not rows:
        raise DataError(f"{path}: no data rows")
    return Table(names, np.array(rows, dtype=np.float64), np.array(row_lines))


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


def read_csv(path: Path) -> Table:
    """A header row, then numbers (pandas parses them, fast); the file line of each row is counted apart."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    lines = _csv_data_lines(path, len(frame))
    table = Table([str(c) for c in frame.columns], np.zeros((0, 0)), lines)
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column].dtype) and not pd.api.types.is_bool_dtype(frame[column].dtype):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & frame[column].notna().to_numpy())
        if bad.size:
            row = int(bad[0])
            raise DataError(f"{path}: {table.position(row)}, column {str(column)!r}: {frame[column].iloc[row]!r} is "
                            "not a number; a table CSV needs a header row and numbers only (empty cells count as "
                            "missing values)")
        frame[column] = numbers
    table.matrix = frame.to_numpy(dtype=np.float64)
    return table


def _csv_data_lines(path: Path, rows: int) -> np.ndarray | None:
    """The file line where each data row starts (a quoted cell may span lines; blank lines are skipped,
    as pandas skips them). ``None`` if the count disagrees with pandas', so no line is ever misnamed."""
    data = path.read_bytes()
    if b'"' not in data:  # no quoted cells: a row is a non-blank line (fast, no parsing)
        numbers = [i for i, line in enumerate(data.splitlines(), start=1) if line.strip(b" \t,")]
        return np.array(numbers[1:]) if len(numbers) - 1 == rows else None
    lines, previous = [], 0
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        try:
            for row in reader:
                first_line, previous = previous + 1, reader.line_num
                if any(cell.strip() for cell in row):
                    lines.append(first_line)
        except csv.Error:
            return None
    lines = lines[1:]  # the header row
    return np.array(lines) if len(lines) == rows else None


def read_npz(path: Path) -> Table:
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


def _read_npz_arrays(path: Path, archive) -> Table:
    keys = set(archive.files)
    if {"X", "Y"} <= keys:
        x, y = archive["X"], archive["Y"]
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise DataError(f"{path}: X {x.shape} and Y {y.shape} must be 2-D with the same number of rows")
        features = [str(n) for n in archive["feature_names"]] if "feature_names" in keys else \
            [f"x{i}" for i in range(x.shape[1])]
        labels = [str(n) for n in archive["label_names"]] if "label_names" in keys else \
            [f"label_{j}" for j in range(y.shape[1])]
        return Table(features + labels, np.hstack([x, y]).astype(np.float64))
    if "data" in keys:
        data = archive["data"]
        if data.ndim != 2:
            raise DataError(f"{path}: 'data' has shape {data.shape}, expected (N, columns)")
        names = [str(n) for n in archive["columns"]] if "columns" in keys else \
            [f"c{i}" for i in range(data.shape[1])]
        return Table(names, data.astype(np.float64))
    raise DataError(f"{path}: an .npz table needs arrays 'X' and 'Y', or 'data'; found {sorted(keys)}")
