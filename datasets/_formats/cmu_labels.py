"""What a CMU label file holds, and the check that a file given as labels is one.

CMU-MOSEI's ``CMU_MOSEI_Labels.csd`` has root ``All Labels`` and 7 columns:
sentiment in [-3, 3], then the intensities of happy, sad, anger, surprise,
disgust and fear in [0, 3]. CMU-MOSI's ``CMU_MOSI_Opinion_Labels.csd`` has
root ``Opinion Segment Labels`` and one column, sentiment in [-3, 3]. A file
given as labels that is anything else (a word-vector or acoustic sequence has
the same layout: 300 GloVe or 74 COVAREP columns) must be refused, naming
what was found, instead of read as labels from its first columns.
"""

from __future__ import annotations

import numpy as np

from mmerbench.errors import DataError

SENTIMENT_RANGE = (-3.0, 3.0)
EMOTION_RANGE = (0.0, 3.0)
EMOTION_COLUMNS = 7  # sentiment, happy, sad, anger, surprise, disgust, fear
SENTIMENT_COLUMNS = 1
EXPECTED = ("a labels file has a root group named like 'All Labels' (MOSEI) or 'Opinion Segment Labels' "
            "(MOSI) and 7 columns -- sentiment in [-3, 3], then happy, sad, anger, surprise, disgust, fear "
            "intensities in [0, 3] -- or, for sentiment labels, 1 column in [-3, 3]")


def allowed_columns(kind: str) -> tuple[int, ...]:
    """Column counts a labels file may have for ``--label-kind``."""
    return (EMOTION_COLUMNS,) if kind == "emotions" else (SENTIMENT_COLUMNS, EMOTION_COLUMNS)


def check_label_sequence(path, root: str, columns: int, kind: str) -> None:
    """Refuse a computational sequence that is not a labels file, before any value is read."""
    problems = []
    if "label" not in root.lower():
        problems.append(f"its root group is {root!r}")
    if columns not in allowed_columns(kind):
        wanted = " or ".join(map(str, allowed_columns(kind)))
        hint = " (a one-column sentiment file needs --label-kind sentiment)" \
            if kind == "emotions" and columns == SENTIMENT_COLUMNS else ""
        problems.append(f"its features have {columns} columns ({wanted} for --label-kind {kind}){hint}")
    if problems:
        raise DataError(f"{path} is not a CMU labels file: {' and '.join(problems)}; {EXPECTED}")


def check_label_values(values: np.ndarray, where: str) -> None:
    """values (n, 1 or 7) of one video: sentiment in [-3, 3], emotion intensities in [0, 3], no NaN."""
    if np.isnan(values).any():
        raise DataError(f"{where} has NaN labels")
    for name, columns, (low, high) in (("sentiment", values[:, :1], SENTIMENT_RANGE),
                                       ("emotion intensities", values[:, 1:], EMOTION_RANGE)):
        if columns.size and (columns.min() < low or columns.max() > high):
            raise DataError(f"{where}: {name} range from {columns.min():.4g} to {columns.max():.4g}, outside "
                            f"[{low:g}, {high:g}]: not CMU labels; {EXPECTED}")


def check_sentiment_scores(scores: np.ndarray, where: str) -> None:
    """MMSA / MulT sentiment scores (N,): finite and in [-3, 3]."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if np.isnan(scores).any():
        raise DataError(f"{where}: NaN in sample {int(np.flatnonzero(np.isnan(scores))[0])}")
    low, high = SENTIMENT_RANGE
    outside = (scores < low) | (scores > high)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(f"{where}: sample {row} has sentiment {scores[row]:.4g}, outside [{low:g}, {high:g}]; "
                        "CMU sentiment scores lie in [-3, 3]: is this the labels array?")
