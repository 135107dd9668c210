"""Harness speed: `mmerbench list` wall time and `mmerbench.score` on 5000 x 6.

    python benchmarks/harness.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def time_list(repeats: int) -> list[float]:
    times = []
    env = {**os.environ, "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mmerbench.cli.main", "list"], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - started)
    return times


def time_score(repeats: int) -> list[float]:
    import mmerbench

    rng = np.random.default_rng(0)
    y_true = (rng.random((5000, 6)) < 0.3).astype(np.uint8)
    y_pred = (rng.random((5000, 6)) < 0.3).astype(np.uint8)
    mmerbench.score(y_true, y_pred)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        mmerbench.score(y_true, y_pred)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    listing = time_list(args.repeats)
    scoring = time_score(args.repeats * 10)
    print(f"mmerbench list: median {statistics.median(listing):.3f} s, max {max(listing):.3f} s "
          f"over {len(listing)} runs (whole process, python start-up included)")
    print(f"mmerbench.score on 5000 x 6: median {statistics.median(scoring) * 1000:.2f} ms over {len(scoring)} calls")
    print(f"reproduce: python benchmarks/harness.py --repeats {args.repeats}")


if __name__ == "__main__":
    main()
