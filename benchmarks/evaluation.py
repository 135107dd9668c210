"""Cost of the evaluation beyond accuracy (issue 10): scoring one job, and ``--protocol missing``.

1. Scoring: everything a job gets beyond accuracy (ECE pooled and per label,
   Brier, NLL, reliability data, per-label uncertainty AUROC / AURC for the
   method's own score and the entropy baseline, noise Spearman overall and per
   modality) for one job of 5000 x 6 test entries (and 1000 x 6 validation
   entries, whose quantiles normalise the test uncertainty). Target: well
   under a second.
2. ``--protocol missing`` on ``synthetic``: the test split under the 7
   modality combinations costs 6 extra prediction passes (the full combination
   is the plain test split, whose probabilities are reused), no refit. Timed
   against one plain test prediction for br and lddu (cpu preset; trained for
   ``--lddu-epochs`` epochs only, since the cost of a prediction pass does not
   depend on how well the model learned).

    python benchmarks/evaluation.py
    python benchmarks/evaluation.py --skip-protocol      # scoring only (no training)

Timings are wall-clock on whatever machine runs it; on a shared machine they
are noisy, so repeat and compare.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np


def scoring(repeats: int) -> None:
    from mmerbench.evaluation.job_scores import SplitOutputs, beyond_accuracy
    from mmerbench.evaluation.metrics import score, threshold_predictions

    rng = np.random.default_rng(0)

    def split(n):
        labels = (rng.random((n, 6)) < 0.25).astype(np.uint8)
        proba = np.clip(0.5 * labels + 0.6 * rng.random((n, 6)), 0, 1)
        return SplitOutputs(proba, labels, uncertainty=rng.random((n, 6)),
                            uncertainty_per_modality=rng.random((n, 6, 3)), noise=rng.random((n, 3)))

    outputs = {"valid": split(1000), "test": split(5000)}
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for out in outputs.values():  # the accuracy scores the worker computed before, for comparison
            score(out.labels, threshold_predictions(out.proba, 0.5), out.proba)
        mid = time.perf_counter()
        beyond_accuracy(outputs, 0.5, modalities=["text", "audio", "vision"])
        times.append((mid - started, time.perf_counter() - mid))
    accuracy = statistics.median(t[0] for t in times)
    beyond = statistics.median(t[1] for t in times)
    print(f"scoring one job (valid 1000x6 + test 5000x6, own + entropy uncertainty, per-modality noise rho): "
          f"{beyond * 1000:.1f} ms beyond accuracy (median of {repeats}); accuracy scores {accuracy * 1000:.1f} ms")


def protocol_cost(methods, lddu_epochs: int, repeats: int) -> None:
    import mmerbench
    from mmerbench.execution.protocols import evaluate_conditions

    dataset = mmerbench.load_dataset("synthetic")
    for name in methods:
        params = {"epochs": lddu_epochs} if name == "lddu" else {}
        preset = "cpu" if name == "lddu" else None
        method = mmerbench.make_method(name, preset=preset, **params)
        started = time.perf_counter()
        method.fit(dataset.train, dataset.valid)
        fit = time.perf_counter() - started
        plain_times, protocol_times = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            proba = method.predict_proba(dataset.test)
            plain_times.append(time.perf_counter() - started)
            result = evaluate_conditions(method, dataset, ["missing"], seed=0, test_proba=proba)
            protocol_times.append(result.seconds)
        plain, protocol = statistics.median(plain_times), statistics.median(protocol_times)
        print(f"{name}: fit {fit:.1f} s; one test prediction pass {plain:.3f} s; --protocol missing "
              f"{protocol:.3f} s = {protocol / plain:.1f} passes' time, {result.prediction_passes} extra prediction "
              f"passes, no refit; {len(result.metrics) - 1} combinations scored + their mean; errors: "
              f"{result.errors or 'none'} (median of {repeats})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", default="br,lddu")
    parser.add_argument("--lddu-epochs", type=int, default=1)
    parser.add_argument("--skip-protocol", action="store_true")
    args = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} cores, numpy {np.__version__}")
    scoring(args.repeats)
    if not args.skip_protocol:
        protocol_cost([m for m in args.methods.split(",") if m], args.lddu_epochs, args.repeats)


if __name__ == "__main__":
    main()
