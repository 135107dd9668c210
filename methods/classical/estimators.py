"""Base learners for BR / LP / CC: building them by name, and a safe binary wrapper.

``make_estimator`` turns the ``estimator`` hyperparameter ("logreg", "svc",
"rf", or a scikit-learn classifier instance) plus ``estimator_params`` into a
fresh, unfitted estimator; a given instance is cloned, never fitted itself.

``BinaryScorer`` wraps one binary learner so that every learner looks alike to
BR and to scikit-learn's ClassifierChain:
- it always has ``classes_ == [0, 1]`` and a two-column ``predict_proba``;
- a learner without ``predict_proba`` (SVC) scores ``sigmoid(decision_function)``,
  so that threshold 0.5 is exactly the learner's own decision (Platt-scaled
  ``SVC(probability=True)`` is deprecated and would not agree with ``predict``);
- a target that is constant in training is remembered and predicted, since most
  learners refuse to fit a single class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from mmerbench.errors import UsageError

ESTIMATOR_NAMES = ("logreg", "svc", "rf")


def _named_estimator(name: str):
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)
    if name == "svc":
        from sklearn.svm import SVC

        return SVC()
    if name == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier()
    raise UsageError(
        f"estimator={name!r} is not a known base learner: use one of {', '.join(ESTIMATOR_NAMES)} "
        "or pass a scikit-learn classifier instance"
    )


def make_estimator(estimator: Any, estimator_params: dict | None, random_state: int | None):
    """A fresh unfitted learner; ``random_state`` fills the learner's own only when that is None."""
    if estimator_params is not None and not isinstance(estimator_params, dict):
        raise UsageError(f"estimator_params={estimator_params!r} is not valid: give a dict of the learner's parameters")
    if isinstance(estimator, str):
        learner = _named_estimator(estimator)
    elif hasattr(estimator, "fit") and hasattr(estimator, "get_params"):
        learner = clone(estimator)
    else:
        raise UsageError(
            f"estimator={estimator!r} is not valid: use one of {', '.join(ESTIMATOR_NAMES)} "
            "or a scikit-learn classifier instance (with fit, and predict_proba or decision_function)"
        )
    if not (hasattr(learner, "predict_proba") or hasattr(learner, "decision_function")):
        raise UsageError(f"estimator {learner!r} has neither predict_proba nor decision_function; it cannot score labels")
    if estimator_params:
        valid = learner.get_params(deep=False)
        unknown = [key for key in estimator_params if key not in valid]
        if unknown:
            raise UsageError(
                f"estimator_params has {unknown[0]!r}, which {type(learner).__name__} does not take. "
                f"Valid: {', '.join(sorted(valid))}"
            )
        learner.set_params(**estimator_params)
    if random_state is not None and learner.get_params(deep=False).get("random_state", 0) is None:
        learner.set_params(random_state=int(random_state))
    return learner


def positive_scores(learner, X: np.ndarray) -> np.ndarray:
    """(N,) score of the positive class (classes_[-1]) of a fitted binary learner, in [0, 1]."""
    if hasattr(learner, "predict_proba"):
        return learner.predict_proba(X)[:, -1]
    return expit(learner.decision_function(X))


def class_scores(learner, X: np.ndarray) -> np.ndarray:
    """(N, K) scores of a fitted multiclass learner, rows summing to 1, columns in classes_ order.

    Without predict_proba: softmax of the one-vs-rest decision values (two classes:
    sigmoid of the single decision value, so that 0.5 is the learner's decision).
    """
    if hasattr(learner, "predict_proba"):
        return learner.predict_proba(X)
    decision = np.asarray(learner.decision_function(X), dtype=np.float64)
    if decision.ndim == 1:
        positive = expit(decision)
        return np.column_stack([1.0 - positive, positive])
    return softmax(decision, axis=1)


class BinaryScorer(ClassifierMixin, BaseEstimator):
    """One binary label: a learner, or the constant seen in training when only one class was."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y):
        y = np.asarray(y).astype(int).ravel()
        self.classes_ = np.array([0, 1])
        present = np.unique(y)
        if present.size == 1:
            self.constant_ = int(present[0])
            self.estimator_ = None
        else:
            self.constant_ = None
            self.estimator_ = clone(self.estimator).fit(X, y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        n = np.asarray(X).shape[0]
        if self.constant_ is not None:
            positive = np.full(n, float(self.constant_))
        else:
            positive = positive_scores(self.estimator_, X)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X) -> np.ndarray:
        if self.constant_ is not None:
            return np.full(np.asarray(X).shape[0], self.constant_)
        # The learner's own decision; equals predict_proba > 0.5 up to ties at exactly 0.5.
        return np.asarray(self.estimator_.predict(X)).astype(int)
