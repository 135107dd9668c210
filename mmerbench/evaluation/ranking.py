"""Across several datasets: mean rank, the Friedman test and Nemenyi's critical difference (Demšar 2006).

Tests come from maintained libraries (scipy's Friedman test and studentized
range distribution, scikit-posthocs' Nemenyi post-hoc test); only the
bookkeeping is written here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class RankAnalysis:
    configurations: list[str]
    datasets: list[str]
    scores: np.ndarray  # (datasets, configurations) mean score over seeds
    mean_ranks: dict[str, float]  # rank 1 = best
    friedman_statistic: float | None
    friedman_p: float | None
    critical_difference: float | None
    nemenyi_p: "object | None"  # pandas DataFrame of pairwise p-values, or None
    note: str


def score_matrix(rows_by_dataset: dict[str, dict[str, float]]) -> tuple[list[str], list[str], np.ndarray]:
    """Keep the configurations present on every dataset: (configurations, datasets, scores)."""
    datasets = sorted(rows_by_dataset)
    shared = set.intersection(*(set(rows) for rows in rows_by_dataset.values())) if datasets else set()
    configurations = sorted(shared)
    scores = np.array([[rows_by_dataset[d][c] for c in configurations] for d in datasets], dtype=float)
    return configurations, datasets, scores.reshape(len(datasets), len(configurations))


def nemenyi_critical_difference(n_configurations: int, n_datasets: int, alpha: float = 0.05) -> float:
    """CD = q_alpha * sqrt(k (k + 1) / (6 N)), q_alpha the studentized range quantile / sqrt(2)."""
    from scipy.stats import studentized_range

    q_alpha = studentized_range.ppf(1 - alpha, n_configurations, math.inf) / math.sqrt(2)
    return float(q_alpha * math.sqrt(n_configurations * (n_configurations + 1) / (6.0 * n_datasets)))


def rank_analysis(rows_by_dataset: dict[str, dict[str, float]], higher_is_better: bool = True,
                  alpha: float = 0.05) -> RankAnalysis:
    """``rows_by_dataset[dataset][configuration] = score``; configurations missing anywhere are left out."""
    from scipy import stats

    configurations, datasets, scores = score_matrix(rows_by_dataset)
    k, n = len(configurations), len(datasets)
    if k == 0 or n == 0:
        return RankAnalysis(configurations, datasets, scores, {}, None, None, None, None,
                            "no configuration ran on every dataset: no ranks")
    ranks = np.vstack([stats.rankdata(-row if higher_is_better else row) for row in scores])
    mean_ranks = dict(zip(configurations, ranks.mean(0).tolist()))
    if n < 2 or k < 3:
        why = f"{n} dataset(s) and {k} configuration(s) on all of them"
        return RankAnalysis(configurations, datasets, scores, mean_ranks, None, None, None, None,
                            f"the Friedman test needs at least 2 datasets and 3 configurations; here {why}")
    import pandas as pd
    import scikit_posthocs

    statistic, p_value = stats.friedmanchisquare(*scores.T)
    oriented = scores if higher_is_better else -scores
    nemenyi = scikit_posthocs.posthoc_nemenyi_friedman(pd.DataFrame(oriented, columns=configurations))
    note = "" if n >= 5 else f"only {n} datasets: the Friedman and Nemenyi tests have little power"
    return RankAnalysis(configurations, datasets, scores, mean_ranks, float(statistic), float(p_value),
                        nemenyi_critical_difference(k, n, alpha), nemenyi, note)
