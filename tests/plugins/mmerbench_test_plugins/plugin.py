"""A plugin with fixtures for testing the harness itself (never registered by default).

Enable it with ``MMERBENCH_PLUGINS=mmerbench_test_plugins.plugin``. It adds:

- dataset ``tiny``: :func:`mmerbench.testing.fixtures.make_tiny_dataset`;
- dataset ``tiny-single``: its single-label variant;
- dataset ``tiny-table``: a table without text or sequences, its validation split carved from train;
- method ``failing``: raises during ``fit`` (a job failure the runner must record);
- method ``sleepy``: the label prior after sleeping ``seconds`` (to kill a run mid-way);
- method ``bias-only``: a deep method that collapses to the label prior by construction;
- method ``modal-uncertain``: probabilities and a per-modality uncertainty read off the features, with
  many exact ties (what rescoring from stored files must reproduce);
- method ``text-only``: the label prior, declaring that it requires the text modality;
- method ``curve-oracle`` and dataset ``tiny-shuffled-test``: a search with a known answer, and test labels
  permuted (tuning_fixtures.py).
"""

from __future__ import annotations

import time

import numpy as np

import mmerbench
from mmerbench_methods.prior.method import LabelPrior


class FailingMethod(LabelPrior):
    name = "failing"

    def _fit(self, train, valid):
        raise RuntimeError("deliberate failure in fit (mmerbench_test_plugins.plugin)")


class SleepyPrior(LabelPrior):
    name = "sleepy"
    # A "cpu" preset exercises the rule that --device auto picks it without a GPU.
    presets = {"paper": {}, "cpu": {"seconds": 0.01}}

    def __init__(self, seconds: float = 0.5, threshold: str = "valid", random_state: int = 0):
        self.seconds = seconds
        self.threshold = threshold
        self.random_state = random_state

    def _fit(self, train, valid):
        time.sleep(self.seconds)
        self.smoothing = 0.0
        super()._fit(train, valid)


class ModalUncertain(LabelPrior):
    """The label prior nudged by the first feature of the first modality, rounded to tenths so that entries
    tie (and p / 1 - p pairs occur); its uncertainty per modality is the mean |feature| of that modality."""

    name = "modal-uncertain"

    def _predict_proba(self, split):
        first = split.features[split.modalities[0]]
        nudge = np.tanh(np.asarray(first[:, 0, 0], dtype=np.float64))[:, None]
        return np.clip(np.round(self.prior_[None, :] + 0.3 * nudge, 1), 0.0, 1.0)

    def predict_uncertainty(self, split, per_modality: bool = False):
        columns = [np.abs(np.asarray(split.features[m], dtype=np.float64)).mean(axis=(1, 2)) for m in split.modalities]
        per = np.stack(columns, axis=1)[:, None, :] * (1.0 + np.arange(len(self.prior_)))[None, :, None]  # (N, q, M)
        return per if per_modality else per.mean(axis=2)


class TextOnlyPrior(LabelPrior):
    name = "text-only"
    requires = {"modalities": ("text",)}


def load_tiny_single(n_train: int = 48, n_valid: int = 16, n_test: int = 20, seed: int = 0):
    from mmerbench.testing.fixtures import make_tiny_dataset

    return make_tiny_dataset(n_train, n_valid, n_test, seed=seed, single_label=True)


def load_tiny_table(n_train: int = 80, n_test: int = 20, seed: int = 0, valid_fraction: float = 0.25):
    """A table (one step per sample) with one view named ``features`` and no validation split of its own,
    so one is carved from train: like an imported MULAN table, no ``text`` and no sequences."""
    from mmerbench.data.splits import make_dataset, make_split
    from mmerbench.data.validation import with_validation
    from mmerbench.testing.fixtures import make_tiny_split

    rng = np.random.default_rng(seed)
    names = [f"emotion_{j}" for j in range(4)]

    def table(n):
        split = make_tiny_split(n, rng, steps=(1, 1, 1), dims=(8, 5, 3), label_names=names)
        pooled = np.concatenate([split.features[m] for m in split.modalities], axis=-1)
        return make_split({"features": pooled}, split.labels, label_names=names)

    dataset = make_dataset("tiny-table", table(n_train), None, table(n_test), params={"seed": seed})
    return with_validation(dataset, valid_fraction)


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method("failing", "mmerbench_test_plugins.plugin:FailingMethod", version="1",
                        summary="test fixture: fails in fit")
    registry.add_method("sleepy", "mmerbench_test_plugins.plugin:SleepyPrior", version="1",
                        summary="test fixture: label prior after a sleep")
    registry.add_method("modal-uncertain", "mmerbench_test_plugins.plugin:ModalUncertain", version="1",
                        summary="test fixture: tied probabilities and a per-modality uncertainty")
    registry.add_method("text-only", "mmerbench_test_plugins.plugin:TextOnlyPrior", version="1",
                        summary="test fixture: label prior that requires text")
    registry.add_method("bias-only", "mmerbench_test_plugins.collapsing:BiasOnly", version="1",
                        summary="test fixture: a deep method that can only learn the label prior")
    registry.add_method("curve-oracle", "mmerbench_test_plugins.tuning_fixtures:CurveOracle", version="1",
                        summary="test fixture: validation score rises with epoch at a rate set by 'skill'")


@mmerbench.hookimpl
def mmerbench_register_datasets(registry):
    registry.add_dataset("tiny", loader="mmerbench.testing.fixtures:make_tiny_dataset", generated=True,
                         summary="test fixture: small random multimodal data")
    registry.add_dataset("tiny-single", loader="mmerbench_test_plugins.plugin:load_tiny_single", generated=True,
                         summary="test fixture: single-label variant")
    registry.add_dataset("tiny-table", loader="mmerbench_test_plugins.plugin:load_tiny_table", generated=True,
                         summary="test fixture: a table without text or sequences; validation carved")
    registry.add_dataset("tiny-shuffled-test", loader="mmerbench_test_plugins.tuning_fixtures:load_tiny_shuffled_test",
                         generated=True, summary="test fixture: tiny with its test labels permuted")
