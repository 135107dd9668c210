"""Datasets as mmerbench sees them: splits, the canonical HDF5 file, integrity, validation carving, protocols.

The names below are the ones ``mmerbench.data`` has always offered, resolved
lazily (so that the command line can import a light module of this package
without numpy or h5py); the code lives in one module per job
(:mod:`~mmerbench.data.splits`, :mod:`~mmerbench.data.canonical`,
:mod:`~mmerbench.data.integrity`, :mod:`~mmerbench.data.validation`,
:mod:`~mmerbench.data.importing`, :mod:`~mmerbench.data.perturb`,
:mod:`~mmerbench.data.protocol_specs`, :mod:`~mmerbench.data.conditions`).
"""

from __future__ import annotations

import importlib

_WHERE = {
    "CanonicalWriter": "canonical", "load_canonical": "canonical", "load_imported": "canonical",
    "verify_file": "canonical", "write_dataset": "canonical",
    "combine_digests": "integrity",
    "FLOAT16_MAX": "splits", "SCHEMA_VERSION": "splits", "SPLIT_NAMES": "splits", "VALIDATION_RULE": "splits",
    "Dataset": "splits", "RowSubset": "splits", "Split": "splits", "_read_rows": "splits", "make_dataset": "splits",
    "make_split": "splits",
    "carve_validation": "validation", "carved_fingerprint": "validation", "recarve_validation": "validation",
    "with_validation": "validation",
}
_PATHS = ("canonical_path", "data_dir", "mmerbench_home")

__all__ = sorted([*_WHERE, *_PATHS])


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"mmerbench.data.{_WHERE[name]}"), name)
    if name in _PATHS:
        return getattr(importlib.import_module("mmerbench.paths"), name)
    raise AttributeError(f"module 'mmerbench.data' has no attribute {name!r}")
