"""``mmerbench report`` over a fabricated store of 100 jobs: wall time and peak memory.

    python benchmarks/report.py [--jobs 100] [--samples 600] [--keep DIR]

The store follows the agreed record schema (mmerbench.testing.result_records):
5 datasets x 10 methods x 2 seeds = 100 jobs, each with reliability data,
robustness conditions, per-label scores, and per-epoch curves for half the
methods. The report runs in a child process (``mmerbench report``) so that its
peak memory is its own; saved models do not exist, so the LDDU t-SNE is
skipped (it is measured separately by ``--tsne``, on random latents of the
paper's shape).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def build_store(directory: Path, jobs: int, samples: int) -> None:
    from mmerbench.testing.result_records import make_fake_store

    datasets = ("synthetic", "synthetic-mosei", "m3ed", "cmu-mosei", "synthetic-unaligned")
    seeds = (0, 1)
    per_dataset = max(1, jobs // (len(datasets) * len(seeds)))
    methods = {name: 0.3 + 0.15 * i for i, name in enumerate(
        ["prior", "br", "cc", "lp", "ml-gcn", "lsan", "sgm", "mult", "tailor", "lddu"][:per_dataset])}
    deep = [m for m in methods if m not in ("prior", "br", "cc", "lp", "ml-gcn")]
    make_fake_store(directory, methods, datasets=datasets, seeds=seeds, n_test=samples, deep=deep,
                    own_uncertainty=("lddu",))


def time_tsne() -> float:
    import numpy as np

    from mmerbench.reporting.report import tsne_points

    rng = np.random.default_rng(0)
    mu = rng.normal(size=(200, 3, 6, 64))  # 200 samples, 3 modalities, 6 labels, latent 64
    started = time.perf_counter()
    tsne_points(mu, np.abs(mu), rng.random((200, 6)) < 0.3)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=600, help="test samples per job (synthetic's default: 600)")
    parser.add_argument("--keep", help="build the store and report here instead of a temporary folder")
    parser.add_argument("--tsne", action="store_true", help="also time the LDDU t-SNE on random latents")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="mmerbench-report-bench-"))
    started = time.perf_counter()
    build_store(root / "results", args.jobs, args.samples)
    print(f"fabricated store: {time.perf_counter() - started:.1f} s")
    env = {**os.environ, "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mmerbench.cli.main", "report", "--results", str(root / "results"),
                           "--out", str(root / "report")], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"mmerbench report failed:\n{done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures = len(list((root / "report").glob("figures/**/*.png")))
    print(done.stdout.strip())
    print(f"mmerbench report over {args.jobs} jobs x {args.samples} test samples: wall {wall:.1f} s, "
          f"peak RSS {peak:.0f} MB, {figures} figures")
    if args.tsne:
        print(f"LDDU t-SNE (200 samples x 3 modalities x present labels, latent 64): {time_tsne():.1f} s")


if __name__ == "__main__":
    main()
