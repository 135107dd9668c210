"""Classical multi-label baselines on pooled features: BR, LP and CC.

Every sample becomes one vector: each modality is pooled over its valid time
steps ("mean", or "mean+std"; a missing modality gives zeros), the modalities
are concatenated in the split's order and, by default, standardised with a
StandardScaler fit on the training split. A scikit-learn learner then does the
rest:

- ``br`` (binary relevance): one binary classifier per label.
- ``lp`` (label powerset): one multiclass classifier whose classes are the
  label sets seen in training. A label set never seen in training has no class,
  so LP cannot predict it as a set (a label absent from every training set
  always scores 0). A label's probability is the summed probability of the
  label sets that contain it; thresholding these marginals usually reproduces
  a seen set, but can, rarely, combine labels into a set never seen.
- ``cc`` (classifier chains): scikit-learn's ClassifierChain, each link seeing
  the features plus the earlier labels (true labels in training, predicted ones
  at test time); an ensemble of ``n_chains`` chains averages probabilities.

The base learner is ``estimator``: "logreg" (LogisticRegression(max_iter=1000)),
"svc" (SVC), "rf" (RandomForestClassifier), or any scikit-learn classifier
instance (Python API; it is cloned, never fitted itself), with
``estimator_params`` set on it. A learner without ``predict_proba`` (SVC)
scores sigmoid(decision_function), so threshold 0.5 equals its own decision
(for LP: softmax over the label sets' decision values, so there 0.5 is close
to, not exactly, the argmax label set). A label constant in training is
predicted as that constant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmerbench.data import Split
from mmerbench.errors import UsageError
from mmerbench.method import Method
from mmerbench_methods.classical.estimators import BinaryScorer, class_scores, make_estimator
from mmerbench_methods.classical.features import check_pooling, pooled_features
from mmerbench_methods.classical.search import BR_SPACES, CC_SPACES, LP_SPACES


class PooledFeatureMethod(Method):
    """Shared part of BR / LP / CC: pooled, standardised features and the base learner."""

    requires: dict[str, Any] = {}
    # Types the saved scikit-learn objects hold beyond skops's default trust list (its own scikit-learn
    # estimators): this plugin's BR/CC wrapper, and the tree structure inside a random forest (rebuilt by
    # skops from arrays, no code runs).
    skops_trusted_types: tuple[str, ...] = (
        "mmerbench_methods.classical.estimators.BinaryScorer",
        "sklearn.tree._tree.Tree",
    )
    published_threshold = 0.5

    # BR and LP take exactly these hyperparameters; CC adds its chain options.
    def __init__(
        self,
        estimator="logreg",
        estimator_params: dict | None = None,
        standardize: bool = True,
        pooling: str = "mean",
        random_state: int = 0,
        threshold="valid",
    ):
        self.estimator = estimator
        self.estimator_params = estimator_params
        self.standardize = standardize
        self.pooling = pooling
        self.random_state = random_state
        self.threshold = threshold

    def _fit(self, train: Split, valid: Split | None) -> None:
        check_pooling(self.pooling)
        self._learner()  # refuse a bad estimator or estimator_params before pooling a large split
        self.modalities_ = dict(train.modality_dims)
        X = pooled_features(train, self.pooling)
        if self.standardize:
            from sklearn.preprocessing import StandardScaler

            self.scaler_ = StandardScaler().fit(X)
            X = self.scaler_.transform(X)
        else:
            self.scaler_ = None
        self._fit_labels(X, np.asarray(train.labels).astype(int))

    def _predict_proba(self, split: Split) -> np.ndarray:
        if dict(split.modality_dims) != self.modalities_:
            raise UsageError(
                f"{self.name} was fitted on modalities {self.modalities_} but this split has {dict(split.modality_dims)}"
            )
        if len(split) == 0:
            return np.zeros((0, self.n_labels_))
        X = pooled_features(split, self.pooling, modalities=list(self.modalities_))  # training's order
        if self.scaler_ is not None:
            X = self.scaler_.transform(X)
        return np.clip(self._label_scores(X), 0.0, 1.0)

    # ---- saved models: fitted scikit-learn objects in skops (trusted types only), the rest in extra_state

    # The attributes holding fitted scikit-learn objects (None where a method has none).
    sklearn_attributes: tuple[str, ...] = ("scaler_", "model_")

    def extra_state(self):
        return {"modalities": dict(self.modalities_)}

    def set_extra_state(self, state):
        self.modalities_ = {str(m): int(dim) for m, dim in state["modalities"].items()}

    def _params_for_saving(self):
        params = self.get_params()
        if not isinstance(params["estimator"], str):
            params["estimator"] = None  # an estimator instance is saved in the skops file instead
        return params

    def _save_fitted(self, directory) -> None:
        from mmerbench.io.model_files import write_skops
        from mmerbench.saved_models import ESTIMATORS

        objects = {name: getattr(self, name) for name in self.sklearn_attributes}
        if not isinstance(self.estimator, str):
            objects["estimator (hyperparameter)"] = self.estimator
        write_skops(Path(directory) / ESTIMATORS, objects)

    def _load_fitted(self, directory, device) -> None:
        from mmerbench.io.model_files import ModelFileError, read_skops
        from mmerbench.saved_models import ESTIMATORS

        path = Path(directory) / ESTIMATORS
        objects = read_skops(path, trusted=self.skops_trusted_types)
        expected = set(self.sklearn_attributes)
        if not isinstance(objects, dict) or not expected <= set(objects):
            raise ModelFileError(f"{path}: expected a dict with {sorted(expected)}, found {type(objects).__name__} "
                                 f"{sorted(objects) if isinstance(objects, dict) else ''}")
        for name in self.sklearn_attributes:
            setattr(self, name, objects[name])
        if "estimator (hyperparameter)" in objects:
            self.estimator = objects["estimator (hyperparameter)"]

    def _learner(self, seed_offset: int = 0):
        seed = None if self.random_state is None else int(self.random_state) + seed_offset
        return make_estimator(self.estimator, self.estimator_params, seed)

    # what each method implements
    def _fit_labels(self, X: np.ndarray, Y: np.ndarray) -> None:
        raise NotImplementedError

    def _label_scores(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class BinaryRelevance(PooledFeatureMethod):
    """One binary classifier per label (MultiOutputClassifier)."""

    name = "br"
    version = "1"
    presets: dict[str, dict[str, Any]] = {}
    search_spaces = BR_SPACES  # what `mmerbench tune` may vary (search.py)
    test_params: dict[str, Any] = {}

    def _fit_labels(self, X, Y):
        from sklearn.multioutput import MultiOutputClassifier

        self.model_ = MultiOutputClassifier(BinaryScorer(self._learner())).fit(X, Y)

    def _label_scores(self, X):
        return np.column_stack([proba[:, 1] for proba in self.model_.predict_proba(X)])


class LabelPowerset(PooledFeatureMethod):
    """One multiclass classifier over the label sets seen in training."""

    name = "lp"
    version = "1"
    presets: dict[str, dict[str, Any]] = {}
    search_spaces = LP_SPACES  # what `mmerbench tune` may vary (search.py)
    test_params: dict[str, Any] = {}

    def _fit_labels(self, X, Y):
        # label_sets_[k] is the k-th distinct label set; class_of_row[i] indexes it.
        self.label_sets_, class_of_row = np.unique(Y, axis=0, return_inverse=True)
        class_of_row = class_of_row.ravel()
        self.fit_info_["label_sets_seen"] = int(len(self.label_sets_))
        if len(self.label_sets_) == 1:  # one label set only: predict it
            self.model_ = None
            return
        self.model_ = self._learner().fit(X, class_of_row)

    def extra_state(self):
        return {**super().extra_state(), "label_sets": self.label_sets_}

    def set_extra_state(self, state):
        super().set_extra_state({k: v for k, v in state.items() if k != "label_sets"})
        self.label_sets_ = np.asarray(state["label_sets"])

    def _label_scores(self, X):
        if self.model_ is None:
            return np.tile(self.label_sets_[0].astype(float), (len(X), 1))
        set_proba = class_scores(self.model_, X)  # (N, K) over the learner's classes_
        return set_proba @ self.label_sets_[self.model_.classes_].astype(float)  # (N, q)


class ClassifierChains(PooledFeatureMethod):
    """ClassifierChain, or an averaged ensemble of ``n_chains`` chains."""

    name = "cc"
    version = "1"
    presets: dict[str, dict[str, Any]] = {}
    search_spaces = CC_SPACES  # what `mmerbench tune` may vary (search.py)
    test_params: dict[str, Any] = {"order": "random", "n_chains": 2}

    def __init__(
        self,
        estimator="logreg",
        estimator_params: dict | None = None,
        standardize: bool = True,
        pooling: str = "mean",
        order="natural",
        n_chains: int = 1,
        random_state: int = 0,
        threshold="valid",
    ):
        self.estimator = estimator
        self.estimator_params = estimator_params
        self.standardize = standardize
        self.pooling = pooling
        self.order = order
        self.n_chains = n_chains
        self.random_state = random_state
        self.threshold = threshold

    sklearn_attributes = ("scaler_", "chains_")

    def _chain_order(self):
        """None (natural), "random" (drawn per chain), or a permutation of label indices."""
        if self.order == "natural":
            return None
        if self.order == "random":
            return "random"
        if isinstance(self.order, (list, tuple)):
            names = list(self.label_names_)
            order = [names.index(item) if isinstance(item, str) and item in names else item for item in self.order]
            if sorted(order) == list(range(self.n_labels_)):
                return [int(i) for i in order]
        raise UsageError(
            f"order={self.order!r} is not valid: use 'natural', 'random', or a list holding each of the "
            f"{self.n_labels_} label indices (or names {list(self.label_names_)}) once"
        )

    def _fit_labels(self, X, Y):
        from sklearn.multioutput import ClassifierChain

        if isinstance(self.n_chains, bool) or not isinstance(self.n_chains, int) or self.n_chains < 1:
            raise UsageError(f"n_chains={self.n_chains!r} is not valid: give a positive integer")
        order = self._chain_order()
        seed = None if self.random_state is None else int(self.random_state)
        self.chains_ = [
            ClassifierChain(
                BinaryScorer(self._learner(i)),
                order=order,
                random_state=None if seed is None else seed + i,
            ).fit(X, Y)
            for i in range(self.n_chains)
        ]
        self.fit_info_["chain_orders"] = [np.asarray(chain.order_).tolist() for chain in self.chains_]

    def _label_scores(self, X):
        return np.mean([chain.predict_proba(X) for chain in self.chains_], axis=0)
