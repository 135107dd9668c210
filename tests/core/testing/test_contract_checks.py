"""The contract suite catches broken methods: each dummy breaks one rule, the right check fails."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.method import Method
from mmerbench.plugins import register_plugin, unregister_plugin
from mmerbench.search_spaces import LogUniform
from mmerbench.testing import CHECKS, CheckSkipped, check_method, method_checks, parametrize_with_checks


def _pooled(split) -> np.ndarray:
    """Mean over valid steps of every modality, concatenated; zeros for a missing modality."""
    parts = []
    for m in split.modalities:
        x = np.asarray(split.features[m], dtype=np.float64)
        lengths = np.asarray(split.lengths[m])
        valid = np.arange(x.shape[1])[None, :, None] < lengths[:, None, None]
        parts.append((x * valid).sum(axis=1) / np.maximum(lengths, 1)[:, None])
    return np.concatenate(parts, axis=1)


class GoodDummy(Method):
    """A correct method: a seeded random projection plus per-label centroid differences."""

    name = "good-dummy"
    version = "1"
    presets = {"wide": {"scale": 2.0}}
    test_params = {"scale": 0.5}
    requires = {}
    published_threshold = 0.5

    def __init__(self, scale: float = 1.0, random_state: int = 0, threshold="valid"):
        self.scale = scale
        self.random_state = random_state
        self.threshold = threshold

    def _fit(self, train, valid):
        X, Y = _pooled(train), np.asarray(train.labels, dtype=float)
        rng = np.random.default_rng(self.random_state)
        positive = (Y.T @ X) / np.maximum(Y.sum(axis=0), 1)[:, None]
        negative = ((1 - Y).T @ X) / np.maximum((1 - Y).sum(axis=0), 1)[:, None]
        self.weights_ = (positive - negative).T + 0.01 * rng.normal(size=(X.shape[1], Y.shape[1]))
        self.bias_ = -(X.mean(axis=0) @ self.weights_)

    def extra_state(self):
        return {"weights": self.weights_, "bias": self.bias_}

    def set_extra_state(self, state):
        self.weights_, self.bias_ = state["weights"], state["bias"]

    def _scores(self, split):
        return _pooled(split) @ self.weights_ + self.bias_

    def _predict_proba(self, split):
        return 1.0 / (1.0 + np.exp(-self.scale * self._scores(split)))


# --------------------------------------------------------------------------- broken dummies


class ProbaOutOfRange(GoodDummy):
    def _predict_proba(self, split):
        return 2.0 * super()._predict_proba(split)


class IgnoresSeed(GoodDummy):
    def _fit(self, train, valid):
        super()._fit(train, valid)
        self.weights_ = self.weights_ + np.random.default_rng().normal(size=self.weights_.shape)


class DependsOnBatch(GoodDummy):
    def _predict_proba(self, split):
        scores = self._scores(split)
        return 1.0 / (1.0 + np.exp(-(scores - scores.mean(axis=0))))  # centred on whatever batch it gets


class DependsOnPosition(GoodDummy):
    def _predict_proba(self, split):
        ramp = np.linspace(0.0, 0.1, len(split))[:, None]
        return np.clip(super()._predict_proba(split) * 0.9 + ramp, 0.0, 1.0)


class TakesKwargs(GoodDummy):
    def __init__(self, scale: float = 1.0, random_state: int = 0, threshold="valid", **kwargs):
        super().__init__(scale, random_state, threshold)


class ChangesParamInInit(GoodDummy):
    def __init__(self, scale: float = 1.0, random_state: int = 0, threshold="valid"):
        super().__init__(scale * 2, random_state, threshold)


class BuildsStateInInit(GoodDummy):
    def __init__(self, scale: float = 1.0, random_state: int = 0, threshold="valid"):
        super().__init__(scale, random_state, threshold)
        self.weights_ = None


class UnknownParamsIgnored(GoodDummy):
    def set_params(self, **params):
        for key, value in params.items():
            if key in self.param_names():
                setattr(self, key, value)
        return self


class FitReturnsNone(GoodDummy):
    def fit(self, train, valid=None):
        super().fit(train, valid)


class FitChangesParam(GoodDummy):
    def _fit(self, train, valid):
        super()._fit(train, valid)
        self.scale = self.scale + 1.0


class PredictsWhenUnfitted(GoodDummy):
    def predict_proba(self, split):
        if not hasattr(self, "weights_"):
            return np.full((len(split), split.n_labels), 0.5)
        return super().predict_proba(split)


class PredictIgnoresThreshold(GoodDummy):
    def predict(self, split):
        return (self.predict_proba(split) > 0.5).astype(np.uint8)


class NaNWhenModalityMissing(GoodDummy):
    def _scores(self, split):
        scores = super()._scores(split)
        missing = np.stack([np.asarray(split.lengths[m]) == 0 for m in split.modalities], axis=1).any(axis=1)
        scores[missing] = np.nan  # as a mean over zero valid steps would give
        return scores


class CrashesOnConstantLabel(GoodDummy):
    def _fit(self, train, valid):
        counts = np.asarray(train.labels).sum(axis=0)
        if ((counts == 0) | (counts == len(train))).any():
            raise ValueError("This solver needs samples of at least 2 classes in the data")
        super()._fit(train, valid)


class IgnoresSingleLabel(GoodDummy):
    def predict(self, split):
        return (self.predict_proba(split) > self.threshold_).astype(np.uint8)


class NeedsValidSplit(GoodDummy):
    def _fit(self, train, valid):
        super()._fit(train, valid)
        self.valid_rate_ = np.asarray(valid.labels).mean(axis=0)  # None has no labels


class NegativeUncertainty(GoodDummy):
    def predict_uncertainty(self, split):
        return -np.ones((len(split), split.n_labels))


class ForgetsFittedState(GoodDummy):
    """Saves its weights but not its bias: a loaded copy predicts differently."""

    def extra_state(self):
        return {"weights": self.weights_}

    def set_extra_state(self, state):
        self.weights_, self.bias_ = state["weights"], np.zeros(state["weights"].shape[1])


class BadVersionType(GoodDummy):
    version = 1


class PresetWithUnknownKey(GoodDummy):
    presets = {"paper": {"scale": 1.0, "hidden_size": 256}}


class PublishedThresholdOutOfRange(GoodDummy):
    published_threshold = 1.5


class SpaceWithUnknownName(GoodDummy):
    search_spaces = {"default": {"hidden_size": LogUniform(1.0, 10.0)}}


BROKEN = {
    "search_space_unknown_name": (SpaceWithUnknownName, "search_space"),
    "proba_out_of_range": (ProbaOutOfRange, "proba_shape"),
    "ignores_seed": (IgnoresSeed, "same_seed"),
    "depends_on_batch": (DependsOnBatch, "subset_invariance"),
    "depends_on_position": (DependsOnPosition, "permutation_invariance"),
    "takes_kwargs": (TakesKwargs, "init_params"),
    "changes_param_in_init": (ChangesParamInInit, "init_params"),
    "builds_state_in_init": (BuildsStateInInit, "init_params"),
    "unknown_params_ignored": (UnknownParamsIgnored, "get_set_params"),
    "fit_returns_none": (FitReturnsNone, "fit_returns_self"),
    "fit_changes_param": (FitChangesParam, "fit_keeps_params"),
    "predicts_when_unfitted": (PredictsWhenUnfitted, "unfitted_raises"),
    "predict_ignores_threshold": (PredictIgnoresThreshold, "predict_threshold"),
    "nan_when_modality_missing": (NaNWhenModalityMissing, "missing_modality"),
    "crashes_on_constant_label": (CrashesOnConstantLabel, "constant_label"),
    "ignores_single_label": (IgnoresSingleLabel, "single_label"),
    "needs_valid_split": (NeedsValidSplit, "no_valid_split"),
    "negative_uncertainty": (NegativeUncertainty, "uncertainty"),
    "forgets_fitted_state": (ForgetsFittedState, "save_load"),
    "version_not_str": (BadVersionType, "class_attributes"),
    "preset_unknown_key": (PresetWithUnknownKey, "class_attributes"),
    "published_threshold_out_of_range": (PublishedThresholdOutOfRange, "class_attributes"),
}


def _run(method, check_name):
    ((name, check),) = list(method_checks(method, checks=[check_name]))
    check()


def test_good_dummy_passes_every_check():
    check_method(GoodDummy)
    check_method(GoodDummy(scale=3.0))  # an instance: its own parameters are used


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_method_is_caught_by_the_right_check(case):
    cls, check_name = BROKEN[case]
    with pytest.raises(AssertionError, match=rf"failed check '{check_name}'"):
        _run(cls, check_name)


def test_every_check_is_exercised_by_a_broken_method():
    caught = {check_name for _, check_name in BROKEN.values()} | {"registered_version"}
    assert caught == set(CHECKS)


def test_check_method_lists_each_failed_check():
    class TwoFaults(ProbaOutOfRange):
        version = 2

    with pytest.raises(AssertionError) as info:
        check_method(TwoFaults)
    message = str(info.value)
    assert "'class_attributes'" in message and "'proba_shape'" in message
    assert "'same_seed'" not in message


def test_exceptions_inside_a_check_name_the_check():
    with pytest.raises(AssertionError, match=r"failed check 'constant_label'.*ValueError.*2 classes"):
        _run(CrashesOnConstantLabel, "constant_label")


def test_uncertainty_check_skips_without_the_method():
    with pytest.raises(CheckSkipped):
        _run(GoodDummy, "uncertainty")


def test_unknown_check_name_is_refused():
    with pytest.raises(ValueError, match="unknown checks"):
        list(method_checks(GoodDummy, checks=["proba_shapes"]))


@pytest.fixture
def registered_dummy():
    """Register GoodDummy under its name with a stale version; unregister afterwards."""

    class StalePlugin:
        @staticmethod
        @mmerbench.hookimpl
        def mmerbench_register_methods(registry):
            registry.add_method("good-dummy", GoodDummy, version="0", summary="test dummy")

    register_plugin(StalePlugin, "stale-dummy-plugin")
    yield "good-dummy"
    unregister_plugin("stale-dummy-plugin")


def test_registered_version_must_match_the_class(registered_dummy):
    with pytest.raises(AssertionError, match=r"failed check 'registered_version'.*version='0'"):
        _run(registered_dummy, "registered_version")
    with pytest.raises(CheckSkipped):
        _run(GoodDummy, "registered_version")


def test_parametrize_with_checks_ids_name_method_and_check():
    mark = parametrize_with_checks([GoodDummy])
    ids = [param.id for param in mark.args[1]]
    assert ids == [f"good-dummy-{name}" for name in CHECKS]


@parametrize_with_checks([GoodDummy])
def test_parametrized_good_dummy(check):
    check()
