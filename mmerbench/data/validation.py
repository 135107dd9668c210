"""The validation split carved from train when a dataset has none (a documented, seeded rule)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from mmerbench.data.splits import VALIDATION_RULE, Dataset, Split
from mmerbench.errors import DataError


# --------------------------------------------------------------------------- validation split


def carve_validation(train: Split, fraction: float, seed: int = 0) -> tuple[Split, Split]:
    """Split ``train`` into (train, valid) by iterative stratification.

    Rule (``iterative-stratification-v1``): Sechidis et al.'s iterative
    stratification (2011), as implemented by the maintained
    ``iterative-stratification`` package (``MultilabelStratifiedShuffleSplit``
    with ``test_size=fraction`` and ``random_state=seed``): labels are served
    rarest first, so each label's positives are shared between the parts in
    proportion to their sizes, rare labels and rare combinations included.
    Deterministic given ``seed``. Both parts keep the original sample order.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {fraction}")
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    labels = np.asarray(train.labels).astype(np.int64)
    n = labels.shape[0]
    if labels.shape[1] == 1:  # one label reads as "binary", not multi-label: add its complement
        labels = np.hstack([labels, 1 - labels])
    if n < 2:
        raise DataError(f"cannot carve a validation split of fraction {fraction} from {n} samples")
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    _, valid_rows = next(splitter.split(np.zeros((n, 1)), labels))
    valid_mask = np.zeros(n, dtype=bool)
    valid_mask[valid_rows] = True
    if not valid_mask.any() or valid_mask.all():
        raise DataError(f"cannot carve a validation split of fraction {fraction} from {n} samples")
    # Subsets, not copies: a MOSEI-size train split stays on disk.
    return train.subset(np.flatnonzero(~valid_mask)), train.subset(np.flatnonzero(valid_mask))


def carved_fingerprint(file_fingerprint: str, valid_fraction: float, seed: int = 0) -> str:
    """The splits fingerprint of a dataset whose validation split is carved from train (rule, fraction, seed)."""
    tag = f"{file_fingerprint}|{VALIDATION_RULE}|fraction={valid_fraction}|seed={seed}"
    return hashlib.sha256(tag.encode()).hexdigest()[:16]


def with_validation(dataset: Dataset, valid_fraction: float, seed: int = 0) -> Dataset:
    """Carve a validation split from train when the dataset has none or an empty one (``carve_validation``)."""
    if dataset.valid is not None and len(dataset.valid) > 0:
        return dataset
    if not valid_fraction:
        if dataset.valid is not None:  # an empty split is no split: say so in one way only
            dataset = replace(dataset, valid=None, notes=list(dataset.notes), params=dict(dataset.params))
        dataset.notes.append("no validation split (valid_fraction=0): fixed epochs, threshold 0.5 unless fixed")
        dataset.params["valid_fraction"] = 0
        return dataset
    train, valid = carve_validation(dataset.train, valid_fraction, seed)
    return replace(
        dataset,
        train=train,
        valid=valid,
        fingerprint=carved_fingerprint(dataset.fingerprint, valid_fraction, seed),
        file_fingerprint=dataset.file_fingerprint or dataset.fingerprint,
        uncarved_train=dataset.train,
        valid_seed=seed,
        params={**dataset.params, "valid_fraction": valid_fraction},
        notes=dataset.notes + [f"validation carved from train: {VALIDATION_RULE}, fraction {valid_fraction}, seed {seed}"],
    )


def recarve_validation(dataset: Dataset, seed: int) -> Dataset:
    """The same dataset with its carved validation split drawn again with ``seed`` (``--resample-valid``).

    A dataset that came with its own validation split is returned unchanged: there is nothing to re-draw.
    """
    if dataset.uncarved_train is None or dataset.valid_seed == seed:
        return dataset
    fraction = float(dataset.params["valid_fraction"])
    carved_note = f"validation carved from train: {VALIDATION_RULE}, fraction {fraction}, seed {dataset.valid_seed}"
    uncarved = replace(dataset, train=dataset.uncarved_train, valid=None, fingerprint=dataset.file_fingerprint,
                       uncarved_train=None, valid_seed=None, notes=[n for n in dataset.notes if n != carved_note])
    return with_validation(uncarved, fraction, seed)
