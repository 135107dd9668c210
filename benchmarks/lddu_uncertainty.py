"""Is LDDU's ||sigma|| a better uncertainty than the predictive entropy of the same model? (issue 12, item 4)

For each LDDU configuration, fitted once per seed on a synthetic dataset
whose true per-sample noise level is known (``meta["noise"]``, (N, M)), on
the test split:

- ``unc_auroc``: per label, the AUROC of the uncertainty score for the
  model's errors (error = thresholded prediction != truth, at the threshold
  chosen on validation), averaged over labels that have both errors and
  non-errors (sklearn ``roc_auc_score``); 0.5 = no better than chance;
- ``aurc``: per label, the area under the risk-coverage curve (entries
  sorted from most to least certain; risk at coverage k/N = error rate among
  the k most certain), averaged over labels; lower is better; the label's
  error rate is what a random order gives;
- ``noise_spearman``: Spearman correlation (scipy) between a sample's mean
  uncertainty over labels and its true noise (mean over modalities).

Each is computed for the method's own score (LDDU's ||sigma||) and for the
Bernoulli entropy of the same model's probabilities. Configurations (all at
the ``cpu`` preset's sizes, so that they run on a CPU):

- ``paper-losses``: the ``cpu`` preset with the paper's L_scl weight (0.8);
- ``cpu``: the ``cpu`` preset as is (L_scl weight 0.1);
- ``cpu+anchor``: the ``cpu`` preset with the sigma anchor ``weight_kl``.

    python benchmarks/lddu_uncertainty.py --seeds 0 --weight-kl 0.01
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np

CONFIGS = {
    "paper-losses": {"weight_scl": 0.8},
    "cpu": {},
    "cpu+anchor": None,  # filled from --weight-kl
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic", help="a dataset with meta['noise'] (default synthetic)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--weight-kl", type=float, default=0.01)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the numbers here (JSON)")
    return parser.parse_args(argv)


def bernoulli_entropy(proba: np.ndarray) -> np.ndarray:
    p = np.clip(proba, 1e-7, 1 - 1e-7)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def error_auroc(uncertainty: np.ndarray, errors: np.ndarray) -> float:
    """Mean over labels (with both outcomes) of the AUROC of uncertainty for errors."""
    from sklearn.metrics import roc_auc_score

    scores = [roc_auc_score(errors[:, j], uncertainty[:, j]) for j in range(errors.shape[1])
              if 0 < errors[:, j].sum() < errors.shape[0]]
    return float(np.mean(scores)) if scores else float("nan")


def aurc(uncertainty: np.ndarray, errors: np.ndarray) -> float:
    """Mean over labels of the area under the risk-coverage curve (most certain first)."""
    areas = []
    for j in range(errors.shape[1]):
        order = np.argsort(uncertainty[:, j], kind="stable")
        risks = np.cumsum(errors[order, j]) / np.arange(1, errors.shape[0] + 1)
        areas.append(float(risks.mean()))
    return float(np.mean(areas))


def noise_spearman(uncertainty: np.ndarray, noise: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(uncertainty.mean(axis=1), noise.mean(axis=1)).statistic)


def scores_for(uncertainty: np.ndarray, errors: np.ndarray, noise: np.ndarray | None) -> dict:
    out = {"unc_auroc": error_auroc(uncertainty, errors), "aurc": aurc(uncertainty, errors)}
    if noise is not None:
        out["noise_spearman"] = noise_spearman(uncertainty, noise)
    return out


def evaluate(method, test) -> dict:
    proba = method.predict_proba(test)
    labels = np.asarray(test.labels).astype(bool)
    errors = (proba > method.threshold_) != labels
    noise = np.asarray(test.meta["noise"]) if "noise" in (test.meta or {}) else None
    own = scores_for(method.predict_uncertainty(test), errors, noise)
    entropy = scores_for(bernoulli_entropy(proba), errors, noise)
    result = {**own, **{f"{k}_entropy": v for k, v in entropy.items()}}
    result["error_rate"] = float(errors.mean())
    micro_tp = float((proba > method.threshold_)[labels].sum())
    result["test_mif1"] = 2 * micro_tp / float((proba > method.threshold_).sum() + labels.sum())
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from mmerbench.api import load_dataset, make_method

    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset)
    configs = dict(CONFIGS, **{"cpu+anchor": {"weight_kl": args.weight_kl}})
    results = {}
    for name in args.configs:
        runs = []
        for seed in args.seeds:
            method = make_method("lddu", preset="cpu", device="cpu", random_state=seed, **configs[name])
            method.fit(dataset.train, dataset.valid)
            runs.append(evaluate(method, dataset.test))
            print(f"{name} seed {seed}: " + json.dumps({k: round(v, 4) for k, v in runs[-1].items()}), flush=True)
        results[name] = {key: statistics.mean(run[key] for run in runs) for key in runs[0]}
    print(f"\n{'config':14s} {'own AUROC':>9s} {'ent AUROC':>9s} {'own AURC':>9s} {'ent AURC':>9s} "
          f"{'own rho':>8s} {'ent rho':>8s} {'miF1':>6s}")
    for name, r in results.items():
        print(f"{name:14s} {r['unc_auroc']:9.3f} {r['unc_auroc_entropy']:9.3f} {r['aurc']:9.4f} "
              f"{r['aurc_entropy']:9.4f} {r.get('noise_spearman', float('nan')):8.3f} "
              f"{r.get('noise_spearman_entropy', float('nan')):8.3f} {r['test_mif1']:6.3f}")
    print(f"(dataset {args.dataset}, seeds {args.seeds}; means over seeds)")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=1)
    return results


if __name__ == "__main__":
    main()
