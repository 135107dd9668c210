"""Paired bootstrap speed: a 12-method table, 5 seeds each, 5000 test samples x 6 labels, 1000 resamples.

    python benchmarks/significance.py [--methods 12] [--seeds 5] [--samples 5000] [--repeats 3]

Times ``compare_to_best`` (the leaderboard mark: miF1, Holm) and the same with
95% intervals for the seven default leaderboard metrics (``--ci``), and the
peak memory of this process.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from mmerbench.evaluation.significance import RowSamples, compare_to_best


def make_rows(methods: int, seeds: int, samples: int, labels: int = 6) -> list[RowSamples]:
    rng = np.random.default_rng(0)
    y = rng.random((samples, labels)) < 0.3
    rows = []
    for m in range(methods):
        flip = 0.10 + 0.01 * m  # rows 0.01 apart in error rate: some close, some clearly worse
        rows.append(RowSamples(f"method{m}", y, [np.where(rng.random(y.shape) < flip, ~y, y) for _ in range(seeds)]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = make_rows(args.methods, args.seeds, args.samples)
    for name, metrics in (("mark (miF1)", ()), ("mark + --ci (7 metrics)",
                                                ("acc", "p", "r", "mif1", "maf1", "hamming", "subset_acc"))):
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            comparison = compare_to_best(rows, n_resamples=args.resamples, interval_metrics=metrics)
            times.append(time.perf_counter() - started)
        marked = sum(comparison.not_worse.values())
        print(f"{name}: {args.methods} rows x {args.seeds} seeds x {args.samples} samples, {args.resamples} "
              f"resamples: median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}); "
              f"{marked} row(s) marked")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
