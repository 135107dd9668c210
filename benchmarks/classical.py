"""Fit and predict time of the classical baselines (BR, LP, CC) on pooled MOSEI-size features.

The sequences of a dataset are mean-pooled once (timed separately); each method
then fits on single-step splits of the pooled vectors, so the figures are the
learners' own cost (StandardScaler + one scikit-learn model per label / label
set / chain link, plus the validation threshold search).

    python benchmarks/classical.py                      # synthetic-mosei (generated and cached on first use)
    python benchmarks/classical.py --random             # a random array of the same shape, no dataset needed
    python benchmarks/classical.py --methods br --estimator svc

Timings are wall-clock on whatever machine runs it; on a shared machine they
are noisy (other processes compete for the cores), so repeat and compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time

import numpy as np

MOSEI_SIZES = {"train": 16326, "valid": 1871, "test": 4659}
MOSEI_DIMS = {"text": 300, "audio": 74, "vision": 35}
# MOSEI-like label frequencies: happy, sad, anger, surprise, disgust, fear.
MOSEI_RATES = np.array([0.52, 0.25, 0.21, 0.09, 0.17, 0.08])


def random_pooled(seed: int = 0) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """Pooled-feature stand-ins of MOSEI's shape whose features carry some label signal."""
    rng = np.random.default_rng(seed)
    width = sum(MOSEI_DIMS.values())
    mixing = rng.normal(size=(len(MOSEI_RATES), width))
    out = {}
    for split, n in MOSEI_SIZES.items():
        labels = (rng.random((n, len(MOSEI_RATES))) < MOSEI_RATES).astype(np.uint8)
        features = labels @ mixing * 0.05 + rng.normal(size=(n, width))  # weak signal, as in real data
        parts, start = {}, 0
        for m, dim in MOSEI_DIMS.items():
            parts[m] = features[:, start : start + dim]
            start += dim
        out[split] = (parts, labels)
    return out


def dataset_pooled(name: str) -> tuple[dict, float]:
    import mmerbench
    from mmerbench_methods.classical.features import pooled_features

    started = time.perf_counter()
    dataset = mmerbench.load_dataset(name)
    print(f"loaded {name} in {time.perf_counter() - started:.1f} s: "
          + ", ".join(f"{k} {len(v)}" for k, v in dataset.splits.items()))
    started = time.perf_counter()
    out = {}
    for split_name, split in dataset.splits.items():
        features = pooled_features(split, "mean")
        parts, start = {}, 0
        for m, dim in split.modality_dims.items():
            parts[m] = features[:, start : start + dim]
            start += dim
        out[split_name] = (parts, np.asarray(split.labels))
    return out, time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic-mosei", help="registered dataset to pool (default synthetic-mosei)")
    parser.add_argument("--random", action="store_true", help="use a random array of MOSEI's pooled shape instead")
    parser.add_argument("--methods", default="br,lp,cc")
    parser.add_argument("--estimator", default="logreg")
    parser.add_argument("--threads", type=int, default=None, help="cap BLAS threads (default: leave as is)")
    args = parser.parse_args(argv)

    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    import sklearn

    import mmerbench
    from mmerbench.data import make_split

    if args.random:
        pooled, pooling_seconds = random_pooled(), None
        source = "random array of MOSEI's pooled shape"
    else:
        pooled, pooling_seconds = dataset_pooled(args.dataset)
        source = f"{args.dataset}, mean-pooled"
    splits = {name: make_split({m: x[:, None, :] for m, x in parts.items()}, labels)
              for name, (parts, labels) in pooled.items()}
    train, valid, test = splits["train"], splits.get("valid"), splits["test"]
    width = sum(train.modality_dims.values())
    print(f"data: {source}; train {len(train)} x {width} features, valid {len(valid) if valid else 0}, "
          f"test {len(test)}, {train.n_labels} labels, {len(np.unique(train.labels, axis=0))} label sets in train")
    if pooling_seconds is not None:
        print(f"pooling all splits: {pooling_seconds:.1f} s")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, scikit-learn {sklearn.__version__} "
          "(shared machines give noisy timings)")
    print("wall = elapsed seconds; cpu = this process's CPU seconds (less sensitive to other load)")
    print(f"{'method':<8}{'fit wall':>10}{'fit cpu':>9}{'predict wall':>14}{'predict cpu':>13}{'threshold':>11}{'test miF1':>11}")
    for name in args.methods.split(","):
        method = mmerbench.make_method(name, estimator=args.estimator)
        started, cpu = time.perf_counter(), time.process_time()
        method.fit(train, valid)
        fit_wall, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        predictions = method.predict(test)
        predict_wall, predict_cpu = time.perf_counter() - started, time.process_time() - cpu
        scores = mmerbench.score(test.labels, predictions)
        print(f"{name:<8}{fit_wall:>10.2f}{fit_cpu:>9.2f}{predict_wall:>14.3f}{predict_cpu:>13.3f}"
              f"{method.threshold_:>11.2f}{scores['mif1']:>11.3f}")
    print("reproduce: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))


if __name__ == "__main__":
    main()
