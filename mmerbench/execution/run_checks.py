"""Values of a run checked before anything runs (or is written), each with a message that says what is valid."""

from __future__ import annotations

import numbers
import re

from mmerbench.errors import DataError, UsageError

SEED_LIMIT = 2**32  # numpy and torch seeds are unsigned 32-bit
_DEVICE = re.compile(r"^(auto|cpu|cuda(:(\d+))?)$")


def check_seeds(seeds) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise UsageError(f"seeds must be a list of integers, got {seeds!r}")
    checked = []
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < SEED_LIMIT:
            raise UsageError(f"seed {seed!r} is not valid: seeds are integers from 0 to {SEED_LIMIT - 1} (< 2^32)")
        checked.append(int(seed))
    if not checked:
        raise UsageError("no seeds given: use --seeds 0,1,2")
    return checked


def check_device(device, cuda_devices: int) -> str:
    """``auto``, ``cpu``, or a CUDA device this machine has (``cuda``, ``cuda:k``)."""
    match = _DEVICE.match(device) if isinstance(device, str) else None
    if match is None:
        raise UsageError(f"--device {device!r} is not valid: use auto (GPU when present, else CPU), cpu, "
                         "cuda or cuda:k")
    if device.startswith("cuda"):
        index = int(match.group(3) or 0)
        if index >= cuda_devices:
            have = f"CUDA devices 0 to {cuda_devices - 1}" if cuda_devices else "no CUDA device"
            raise UsageError(f"--device {device!r}: this machine has {have}; use auto or cpu"
                             + (f" or cuda:0..cuda:{cuda_devices - 1}" if cuda_devices else ""))
    return device


def check_results_path(results) -> None:
    if results is None or not str(results).strip():
        raise UsageError("--results is empty: give a results directory, e.g. --results ./mmerbench-results")


def check_splits_for_evaluation(dataset, name: str) -> None:
    """A job needs something to train on and something to score; zeros in bold are not a result."""
    for split_name in ("train", "test"):
        split = getattr(dataset, split_name, None)
        if split is None or len(split) == 0:
            raise DataError(
                f"dataset {name} has an empty {split_name} split (0 samples): there is nothing to "
                f"{'train on' if split_name == 'train' else 'evaluate'}. Check its parameters "
                f"(--set {name}.PARAM=VALUE) or re-import it with a {split_name} split."
            )
