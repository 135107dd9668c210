"""Classical baselines BR / LP / CC: pooling, base learners, edge cases, and the MULAN reference."""

from __future__ import annotations

import os

import numpy as np
import pytest

import mmerbench
from mmerbench.data import make_split
from mmerbench.errors import UsageError
from mmerbench.testing import make_tiny_dataset
from mmerbench_methods.classical.features import pool_sequences, pooled_features


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_dataset(seed=3)


# --------------------------------------------------------------------------- the MULAN reference


def _read_arff(path: str) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import arff

    data, _ = arff.loadarff(path)
    table = np.array([[float(v.decode() if isinstance(v, bytes) else v) for v in row] for row in data])
    return table[:, :72], table[:, 72:].astype(np.uint8)  # 72 features, then the 6 emotions


def _emotion_splits(folder: str, views: dict[str, slice]):
    splits = []
    for part in ("train", "test"):
        X, Y = _read_arff(os.path.join(folder, "mulan_emotions", f"emotions-{part}.arff"))
        splits.append(make_split({name: X[:, None, cols] for name, cols in views.items()}, Y))
    return splits


@pytest.mark.parametrize("views", [
    {"all": slice(0, 72)},
    {"timbre": slice(0, 64), "rhythm": slice(64, 72)},
], ids=["one-view", "timbre+rhythm"])
def test_br_svc_reproduces_the_mulan_emotions_reference(shared_data, views):
    train, test = _emotion_splits(shared_data, views)
    assert (len(train), len(test), sum(train.modality_dims.values())) == (391, 202, 72)
    method = mmerbench.make_method("br", estimator="svc", estimator_params={"gamma": "auto"},
                                   standardize=False, threshold=0.5).fit(train)
    scores = mmerbench.score(test.labels, method.predict(test))
    assert scores["hamming"] == pytest.approx(0.26485148514851486, abs=1e-12)
    assert scores["subset_acc"] == pytest.approx(0.14356435643564355, abs=1e-12)


# --------------------------------------------------------------------------- pooling


def test_pooling_uses_valid_steps_only_and_zeros_for_a_missing_modality():
    x = np.array([[[1.0, 10.0], [3.0, 30.0], [99.0, 99.0]],   # 2 valid steps; the third is stale padding
                  [[5.0, 50.0], [7.0, 70.0], [9.0, 90.0]],    # 3 valid steps
                  [[4.0, 4.0], [4.0, 4.0], [4.0, 4.0]]])      # missing modality (length 0)
    lengths = np.array([2, 3, 0])
    np.testing.assert_allclose(pool_sequences(x, lengths, "mean"), [[2, 20], [7, 70], [0, 0]])
    pooled = pool_sequences(x, lengths, "mean+std")
    np.testing.assert_allclose(pooled[:, 2:], [[1, 10], [np.std([5, 7, 9]), np.std([50, 70, 90])], [0, 0]])
    with pytest.raises(UsageError, match="pooling='max'.*mean, mean\\+std"):
        pool_sequences(x, lengths, "max")


def test_pooled_features_concatenate_modalities_in_order(tiny):
    split = tiny.train
    features = pooled_features(split, "mean+std")
    widths = [2 * d for d in split.modality_dims.values()]
    assert features.shape == (len(split), sum(widths))
    audio = pool_sequences(split.features["audio"], split.lengths["audio"], "mean+std")
    start = widths[0]
    np.testing.assert_allclose(features[:, start:start + widths[1]], audio)


# --------------------------------------------------------------------------- base learners


def test_svc_scores_are_the_sigmoid_of_its_decision_function(tiny):
    from sklearn.svm import SVC

    method = mmerbench.make_method("br", estimator="svc", threshold=0.5).fit(tiny.train, tiny.valid)
    X = method.scaler_.transform(pooled_features(tiny.test, "mean"))
    for j in range(tiny.test.n_labels):
        svc = SVC(random_state=0).fit(method.scaler_.transform(pooled_features(tiny.train, "mean")), tiny.train.labels[:, j])
        expected = 1.0 / (1.0 + np.exp(-svc.decision_function(X)))
        np.testing.assert_allclose(method.predict_proba(tiny.test)[:, j], expected, rtol=1e-10)
        np.testing.assert_array_equal(method.predict(tiny.test)[:, j], svc.predict(X))


def test_an_estimator_instance_round_trips_and_is_never_fitted_itself(tiny):
    from sklearn.linear_model import LogisticRegression

    learner = LogisticRegression(C=0.3, max_iter=500)
    from mmerbench_methods.classical.method import BinaryRelevance

    method = BinaryRelevance(estimator=learner, estimator_params={"C": 0.05})
    assert method.get_params()["estimator"] is learner
    clone = type(method)(**method.get_params())
    first = method.fit(tiny.train, tiny.valid).predict_proba(tiny.test)
    np.testing.assert_array_equal(clone.fit(tiny.train, tiny.valid).predict_proba(tiny.test), first)
    assert not hasattr(learner, "coef_") and learner.C == 0.3
    fitted_c = {estimator.estimator_.C for estimator in method.model_.estimators_}
    assert fitted_c == {0.05}  # estimator_params applied on the clone
    method.set_params(estimator="logreg", estimator_params=None)
    assert method.get_params()["estimator"] == "logreg"


@pytest.mark.parametrize("params, message", [
    ({"estimator": "xgboost"}, r"estimator='xgboost'.*logreg, svc, rf"),
    ({"estimator_params": {"not_a_param": 1}}, r"'not_a_param'.*LogisticRegression.*Valid:"),
    ({"estimator_params": [1, 2]}, r"estimator_params=\[1, 2\]"),
    ({"pooling": "median"}, r"pooling='median'"),
])
def test_bad_hyperparameters_get_clear_errors(tiny, params, message):
    from mmerbench_methods.classical.method import BinaryRelevance

    with pytest.raises(UsageError, match=message):
        BinaryRelevance(**params).fit(tiny.train, tiny.valid)


def test_predicting_other_modalities_is_refused(tiny):
    method = mmerbench.make_method("br").fit(tiny.train, tiny.valid)
    other = make_split({"text": np.zeros((3, 2, 8))}, np.zeros((3, 4)))
    with pytest.raises(UsageError, match="fitted on modalities"):
        method.predict_proba(other)


def test_standardisation_is_fit_on_train_only(tiny):
    method = mmerbench.make_method("br").fit(tiny.train, tiny.valid)
    np.testing.assert_allclose(method.scaler_.mean_, pooled_features(tiny.train).mean(axis=0))
    assert mmerbench.make_method("br", standardize=False).fit(tiny.train).scaler_ is None


@pytest.mark.parametrize("name", ["br", "lp", "cc"])
def test_random_forest_is_deterministic_for_a_seed(tiny, name):
    params = {"estimator": "rf", "estimator_params": {"n_estimators": 10}}
    first = mmerbench.make_method(name, random_state=1, **params).fit(tiny.train).predict_proba(tiny.test)
    again = mmerbench.make_method(name, random_state=1, **params).fit(tiny.train).predict_proba(tiny.test)
    other = mmerbench.make_method(name, random_state=2, **params).fit(tiny.train).predict_proba(tiny.test)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


# --------------------------------------------------------------------------- constant labels


def _with_labels(split, labels):
    return make_split(split.features, labels, split.lengths, label_names=split.label_names)


@pytest.mark.parametrize("name", ["br", "lp", "cc"])
@pytest.mark.parametrize("estimator", ["logreg", "svc"])
def test_labels_constant_in_training_are_predicted_as_constants(tiny, name, estimator):
    labels = np.asarray(tiny.train.labels).copy()
    labels[:, 1] = 0
    labels[:, 2] = 1
    method = mmerbench.make_method(name, estimator=estimator, threshold=0.5).fit(_with_labels(tiny.train, labels))
    proba = method.predict_proba(tiny.test)
    np.testing.assert_array_equal(proba[:, 1], 0.0)
    np.testing.assert_allclose(proba[:, 2], 1.0, atol=1e-12)
    assert 0 < proba[:, 0].std()  # the other labels are still learned


@pytest.mark.parametrize("name", ["br", "lp", "cc"])
def test_a_single_label_set_in_training_is_predicted_everywhere(tiny, name):
    labels = np.tile([1, 0, 1, 0], (len(tiny.train), 1))
    method = mmerbench.make_method(name, threshold=0.5).fit(_with_labels(tiny.train, labels))
    np.testing.assert_array_equal(method.predict(tiny.test), np.tile([1, 0, 1, 0], (len(tiny.test), 1)))


# --------------------------------------------------------------------------- LP and CC specifics


def test_lp_label_probability_sums_its_label_sets(tiny):
    method = mmerbench.make_method("lp").fit(tiny.train, tiny.valid)
    X = method.scaler_.transform(pooled_features(tiny.test))
    set_proba = method.model_.predict_proba(X)
    seen = {tuple(row) for row in np.asarray(tiny.train.labels)}
    assert {tuple(row) for row in method.label_sets_} == seen
    assert method.fit_info_["label_sets_seen"] == len(seen)
    expected = np.array([[sum(p for p, s in zip(row, method.label_sets_) if s[j]) for j in range(4)] for row in set_proba])
    np.testing.assert_allclose(method.predict_proba(tiny.test), expected, rtol=1e-12)


def test_lp_never_scores_a_label_absent_from_every_training_set(tiny):
    labels = np.asarray(tiny.train.labels).copy()
    labels[:, 3] = 0
    labels[labels.sum(axis=1) == 0, 0] = 1
    method = mmerbench.make_method("lp").fit(_with_labels(tiny.train, labels))
    np.testing.assert_array_equal(method.predict_proba(tiny.test)[:, 3], 0.0)


def test_cc_orders(tiny):
    natural = mmerbench.make_method("cc").fit(tiny.train)
    assert natural.fit_info_["chain_orders"] == [[0, 1, 2, 3]]
    names = list(tiny.train.label_names)
    listed = mmerbench.make_method("cc", order=[names[2], 0, 3, 1]).fit(tiny.train)
    assert listed.fit_info_["chain_orders"] == [[2, 0, 3, 1]]
    random = mmerbench.make_method("cc", order="random", n_chains=3, random_state=5).fit(tiny.train)
    again = mmerbench.make_method("cc", order="random", n_chains=3, random_state=5).fit(tiny.train)
    assert random.fit_info_["chain_orders"] == again.fit_info_["chain_orders"]
    assert len({tuple(order) for order in random.fit_info_["chain_orders"]}) > 1
    np.testing.assert_allclose(
        random.predict_proba(tiny.test),
        np.mean([chain.predict_proba(random.scaler_.transform(pooled_features(tiny.test))) for chain in random.chains_], axis=0),
    )
    for bad in ([0, 1, 2], [0, 1, 1, 2], "reverse"):
        with pytest.raises(UsageError, match="order=.*is not valid"):
            mmerbench.make_method("cc", order=bad).fit(tiny.train)
    with pytest.raises(UsageError, match="n_chains=0"):
        mmerbench.make_method("cc", n_chains=0).fit(tiny.train)


def test_cc_feeds_earlier_labels_to_later_links(tiny):
    # The last link of a natural-order chain sees the features plus the q-1 earlier labels.
    method = mmerbench.make_method("cc").fit(tiny.train)
    width = pooled_features(tiny.train).shape[1]
    last = method.chains_[0].estimators_[-1].estimator_
    assert last.coef_.shape == (1, width + tiny.train.n_labels - 1)


def test_single_label_data_predicts_one_class_per_row():
    data = make_tiny_dataset(single_label=True, seed=1)
    for name in ("br", "lp", "cc"):
        predictions = mmerbench.make_method(name).fit(data.train, data.valid).predict(data.test)
        assert (predictions.sum(axis=1) == 1).all()


def test_modalities_listed_in_another_order_keep_the_training_layout(tiny):
    method = mmerbench.make_method("br").fit(tiny.train, tiny.valid)
    test = tiny.test
    reordered = make_split({m: test.features[m] for m in reversed(test.modalities)}, test.labels,
                           {m: test.lengths[m] for m in reversed(test.modalities)})
    assert reordered.modalities != test.modalities
    np.testing.assert_array_equal(method.predict_proba(reordered), method.predict_proba(test))


def test_make_method_takes_an_estimator_instance_but_still_type_checks_strings(tiny):
    from sklearn.svm import LinearSVC

    method = mmerbench.make_method("br", estimator=LinearSVC(C=0.1), threshold=0.5).fit(tiny.train)
    assert isinstance(method.estimator, LinearSVC)
    assert method.predict_proba(tiny.test).shape == (len(tiny.test), 4)  # sigmoid of decision_function
    for bad in (True, {"a": 1}):
        with pytest.raises(UsageError, match="br.pooling must be a string"):
            mmerbench.make_method("br", pooling=bad)
