"""Small in-memory datasets for tests of methods and of the harness."""

from __future__ import annotations

import numpy as np

from mmerbench.data.splits import Dataset, make_dataset, make_split


def make_tiny_split(n: int, rng: np.random.Generator, steps=(6, 9, 4), dims=(8, 5, 3), q: int = 4,
                    single_label: bool = False, label_names=None) -> object:
    """Random sequences whose first modality carries a learnable signal for each label."""
    names = ("text", "audio", "vision")
    if single_label:
        classes = rng.integers(0, q, size=n)
        labels = np.eye(q, dtype=np.uint8)[classes]
    else:
        labels = (rng.random((n, q)) < 0.35).astype(np.uint8)
        labels[np.arange(n), rng.integers(0, q, size=n)] = 1  # no empty label sets
    features, lengths = {}, {}
    for name, t, d in zip(names, steps, dims):
        x = rng.normal(size=(n, t, d)).astype(np.float32)
        length = rng.integers(max(1, t // 2), t + 1, size=n)
        if name == "text":
            signal = labels[:, :d] if q >= d else np.pad(labels, ((0, 0), (0, d - q)))
            x[:, 0, :] += 2.0 * signal[:, :d]
        x[np.arange(t)[None, :] >= length[:, None]] = 0.0
        features[name], lengths[name] = x, length
    return make_split(features, labels, lengths, ids=np.array([f"s{i}" for i in range(n)]),
                      label_names=label_names or [f"emotion_{j}" for j in range(q)], single_label=single_label)


def make_tiny_dataset(n_train: int = 48, n_valid: int = 16, n_test: int = 20, seed: int = 0, q: int = 4,
                      single_label: bool = False, steps=(6, 9, 4), dims=(8, 5, 3)) -> Dataset:
    rng = np.random.default_rng(seed)
    names = [f"emotion_{j}" for j in range(q)]
    splits = [make_tiny_split(n, rng, steps, dims, q, single_label, names) for n in (n_train, n_valid, n_test)]
    return make_dataset("tiny", *splits, params={"seed": seed})


# --------------------------------------------------------------------------- variants of a dataset


def _replace_splits(dataset: Dataset, transform, **changes) -> Dataset:
    from dataclasses import replace

    splits = {name: transform(split.to_memory()) for name, split in dataset.splits.items()}
    return replace(dataset, train=splits["train"], valid=splits.get("valid"), test=splits["test"], **changes)


def with_missing_modalities(dataset: Dataset, every: int = 3) -> Dataset:
    """A copy where every ``every``-th sample lacks one modality (length 0, features zeroed).

    The dropped modality cycles through the split's modalities, so each one is
    missing for some samples and no sample loses all of them (with two or more
    modalities).
    """

    def drop(split):
        names = split.modalities
        for position, i in enumerate(range(0, len(split), every)):
            m = names[position % len(names)]
            split.features[m][i] = 0.0
            split.lengths[m][i] = 0
        return split

    return _replace_splits(dataset, drop, name=f"{dataset.name}-missing")


def as_single_label(dataset: Dataset) -> Dataset:
    """A copy with one-hot labels: each row keeps its first positive label (label 0 if none)."""

    def one_hot(split):
        labels = np.asarray(split.labels)
        classes = np.where(labels.any(axis=1), labels.argmax(axis=1), 0)
        split.labels = np.eye(labels.shape[1], dtype=np.uint8)[classes]
        split.single_label = True
        return split

    return _replace_splits(dataset, one_hot, name=f"{dataset.name}-single", single_label=True)


def make_learnable_dataset(n_train: int = 96, n_valid: int = 32, n_test: int = 64, seed: int = 0, q: int = 3,
                           steps=(5, 8, 4), dims=(6, 4, 3), strength: float = 1.5) -> Dataset:
    """Small data any working sequence model learns in a few dozen steps (for learning tests).

    Each sample has one or two of ``q`` labels (so the label prior is a weak
    baseline, miF1 about 0.5); a present label j adds ``strength`` to feature
    j at every valid step of text and audio; vision is noise only. Lengths vary
    per sample and modality.
    """
    rng = np.random.default_rng(seed)
    names = ("text", "audio", "vision")
    label_names = [f"emotion_{j}" for j in range(q)]

    def split(n: int):
        labels = np.zeros((n, q), dtype=np.uint8)
        labels[np.arange(n), rng.integers(0, q, size=n)] = 1
        second = rng.random(n) < 0.3
        labels[np.flatnonzero(second), rng.integers(0, q, size=int(second.sum()))] = 1
        features, lengths = {}, {}
        for name, t, d in zip(names, steps, dims):
            length = rng.integers(max(1, t // 2), t + 1, size=n)
            x = rng.normal(size=(n, t, d)).astype(np.float32)
            if name != "vision":
                x[:, :, : min(q, d)] += strength * labels[:, None, : min(q, d)]
            x[np.arange(t)[None, :] >= length[:, None]] = 0.0
            features[name], lengths[name] = x, length
        return make_split(features, labels, lengths, label_names=label_names)

    return make_dataset("learnable", split(n_train), split(n_valid), split(n_test), params={"seed": seed})


def random_masked_inputs(dims: dict, lengths: dict, steps: dict, seed: int = 0):
    """Random (features, masks) tensors for model-level tests; padded steps are zero.

    ``dims``: modality -> feature dim; ``lengths``: modality -> valid steps per
    sample; ``steps``: modality -> padded length.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    features, masks = {}, {}
    for m, dim in dims.items():
        mask = torch.arange(steps[m])[None, :] < torch.tensor(lengths[m])[:, None]
        features[m] = torch.randn(len(lengths[m]), steps[m], dim, generator=generator) * mask[..., None]
        masks[m] = mask
    return features, masks
