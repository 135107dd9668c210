"""Time and peak memory of the restricted unpickler on an MMS2S-like feature pickle.

    python benchmarks/pickle_load.py [--samples 4200] [--keep]

Writes a pickle of ``--samples`` (50, 300) float32 arrays as lists (the MMS2S
layout, arrays small enough to be read rather than memory-mapped), plus
``tgt`` token lists and object-dtype ids, then loads it once with
:func:`mmerbench.io.safe_pickle.load_pickle` in this process and prints the
file size, load time and peak RSS. Run it with the project of another commit
on ``PYTHONPATH`` to compare.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import tempfile
import time

import numpy as np


def write(path: str, samples: int) -> None:
    rng = np.random.default_rng(0)
    sizes = {"train": samples * 5 // 7, "valid": samples * 2 // 21}
    sizes["test"] = samples - sizes["train"] - sizes["valid"]
    data = {split: {"text": [rng.standard_normal((50, 300)).astype(np.float32) for _ in range(n)],
                    "tgt": [[2, 4, 5, 3] for _ in range(n)],
                    "id": np.array([f"v{i}$_$c" for i in range(n)], dtype=object)}
            for split, n in sizes.items()}
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4200)
    parser.add_argument("--keep", action="store_true", help="keep the pickle (in the temporary folder)")
    args = parser.parse_args()
    path = os.path.join(tempfile.gettempdir(), f"mmerbench-pickle-load-{args.samples}.pkl")
    if not os.path.exists(path):
        write(path, args.samples)
    from mmerbench.io.safe_pickle import load_pickle

    start = time.perf_counter()
    load_pickle(path)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"{os.path.getsize(path) / 1e6:.0f} MB pickle: load {seconds:.2f} s, peak RSS {peak:.0f} MB")
    if not args.keep:
        os.unlink(path)


if __name__ == "__main__":
    main()
