"""The Method base class: scikit-learn estimator conventions for MMER methods.

- ``__init__`` takes explicit keyword hyperparameters with defaults and only
  stores them; its signature *is* the list of hyperparameters.
- ``fit(train, valid=None) -> self``; fitted state lives in attributes ending
  in ``_``. Subclasses implement ``_fit`` and ``_predict_proba``; the base
  class checks inputs, chooses the decision threshold (README, "The protocol") and
  records what happened in ``fit_info_``.
- ``predict_proba(split) -> (N, q)`` in [0, 1]; ``predict(split) -> (N, q)``
  in {0, 1} using ``threshold_``; optional ``predict_uncertainty(split)``.
- ``save(directory)`` / ``Method.load(directory)``: the fitted method as safe
  files (docs/saved-models.md); fitted state outside a torch model goes through
  the ``extra_state`` / ``set_extra_state`` hooks.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mmerbench.data.splits import Split
from mmerbench.errors import UsageError
from mmerbench.evaluation.metrics import best_threshold, micro_f1, threshold_predictions
from mmerbench.saved_models import describe_split

THRESHOLD_POLICIES = ("valid", "valid-per-label", "published")


class NotFittedError(RuntimeError):
    pass


class Method:
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    test_params: ClassVar[dict[str, Any]] = {}
    # e.g. {"modalities": ("text",), "sequences": True}
    requires: ClassVar[dict[str, Any]] = {}
    published_threshold: ClassVar[float] = 0.5
    # preset name (or "default") -> {hyperparameter: distribution}: what `mmerbench tune` may vary
    # (mmerbench.search_spaces; docs/plugins.md, "Search spaces")
    search_spaces: ClassVar[dict[str, dict[str, Any]]] = {}

    # ------------------------------------------------------------------ parameters

    @classmethod
    def param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        names = []
        for parameter in list(signature.parameters.values())[1:]:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its hyperparameters explicitly (no *args/**kwargs)")
            names.append(parameter.name)
        return names

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        signature = inspect.signature(cls.__init__)
        return {name: signature.parameters[name].default for name in cls.param_names()}

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params) -> "Method":
        valid = self.param_names()
        for key, value in params.items():
            if key not in valid:
                raise UsageError(
                    f"Unknown hyperparameter {key!r} for method {self.name or type(self).__name__}. "
                    f"Valid: {', '.join(valid)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, defaults.get(k))]
        return f"{type(self).__name__}({', '.join(changed)})"

    # ------------------------------------------------------------------ fitting

    def fit(self, train: Split, valid: Split | None = None) -> "Method":
        self._check_threshold_param()
        self._check_requirements(train)
        self.label_names_ = list(train.label_names)
        self.n_labels_ = train.n_labels
        self.single_label_ = bool(train.single_label)
        self.train_schema_ = describe_split(train)  # what a saved model needs to rebuild the network
        self.fit_info_: dict[str, Any] = {"has_valid": valid is not None and len(valid) > 0}
        self._fit(train, valid if self.fit_info_["has_valid"] else None)
        self.threshold_ = self._choose_threshold(valid if self.fit_info_["has_valid"] else None)
        self.fit_info_["threshold"] = _jsonable(self.threshold_)
        return self

    def _fit(self, train: Split, valid: Split | None) -> None:
        raise NotImplementedError

    def _predict_proba(self, split: Split) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, split: Split) -> np.ndarray:
        self._check_fitted()
        proba = np.asarray(self._predict_proba(split), dtype=np.float64)
        expected = (len(split), self.n_labels_)
        if proba.shape != expected:
            raise RuntimeError(f"{type(self).__name__}._predict_proba returned shape {proba.shape}, expected {expected}")
        return proba

    def predict(self, split: Split) -> np.ndarray:
        return threshold_predictions(self.predict_proba(split), self.threshold_, self.single_label_)

    # ------------------------------------------------------------------ thresholds

    def _check_threshold_param(self) -> None:
        threshold = getattr(self, "threshold", "valid")
        if isinstance(threshold, str):
            if threshold not in THRESHOLD_POLICIES:
                raise UsageError(
                    f"threshold={threshold!r} is not valid: use one of {', '.join(THRESHOLD_POLICIES)} "
                    "or a number between 0 and 1"
                )
        elif not (isinstance(threshold, (int, float)) and 0 < float(threshold) < 1):
            raise UsageError(f"threshold={threshold!r} is not valid: a fixed threshold must be in (0, 1)")

    def fixed_threshold(self) -> float | None:
        """The threshold known before training (a number or 'published'), else None."""
        threshold = getattr(self, "threshold", "valid")
        if threshold == "published":
            return float(self.published_threshold)
        if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
            return float(threshold)
        return None

    def _choose_threshold(self, valid: Split | None):
        fixed = self.fixed_threshold()
        if fixed is not None:
            return fixed
        if valid is None or self.single_label_:
            if valid is None:
                self.fit_info_["threshold_note"] = "no validation split: threshold 0.5"
            return 0.5
        proba = np.asarray(self._predict_proba(valid), dtype=np.float64)
        per_label = getattr(self, "threshold", "valid") == "valid-per-label"
        return best_threshold(valid.labels, proba, per_label=per_label)

    def selection_score(self, proba: np.ndarray, labels: np.ndarray) -> float:
        """Validation miF1 used for best-epoch selection (at 0.5 or the fixed threshold)."""
        threshold = self.fixed_threshold() or 0.5
        predictions = threshold_predictions(proba, threshold, getattr(self, "single_label_", False))
        return micro_f1(np.asarray(labels).astype(bool), predictions.astype(bool))

    # ------------------------------------------------------------------ saving (docs/saved-models.md)

    def save(self, directory) -> "Path":
        """Write the fitted method into ``directory`` (safetensors / skops / JSON, never pickle)."""
        from mmerbench.saved_models import save_method

        return save_method(self, directory)

    @classmethod
    def load(cls, directory, device: str | None = None) -> "Method":
        """A fitted method saved with ``save``; ``SomeMethod.load`` refuses another method's model."""
        from mmerbench.saved_models import load_method

        return load_method(directory, device=device, expected_class=None if cls is Method else cls)

    def extra_state(self) -> dict[str, Any]:
        """Fitted state kept outside a torch model and the base's own attributes, for saving.

        Values are numpy arrays (numeric or boolean) or JSON values. The base saves
        ``threshold_``, the label names and ``fit_info_`` itself; a torch method's weights and a
        scikit-learn method's estimators are saved by ``_save_fitted``. Override together with
        :meth:`set_extra_state`.
        """
        return {}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned (called after the model itself is rebuilt)."""
        if state:
            raise NotImplementedError(
                f"{type(self).__name__} received saved state {sorted(state)} but does not override set_extra_state"
            )

    def _params_for_saving(self) -> dict[str, Any]:
        """Hyperparameters as saved in JSON; a method whose hyperparameters hold objects overrides it."""
        return self.get_params()

    def _save_fitted(self, directory) -> None:
        """Write files beyond the manifest (torch weights, skops estimators); none for the base."""

    def _load_fitted(self, directory, device: str | None) -> None:
        """Read what ``_save_fitted`` wrote; ``train_schema_`` and the base's state are already set."""

    # ------------------------------------------------------------------ checks

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(train, valid) first")

    def _check_requirements(self, train: Split) -> None:
        # the same rule the runner applies at planning time (there such jobs are "incompatible", not run)
        from mmerbench.compatibility import incompatibility

        reason = incompatibility(self.requires, list(train.features), train.steps)
        if reason:
            raise UsageError(
                f"method {self.name} cannot use this data: it {reason}; the data has modalities "
                f"{train.modalities} with steps {train.steps}"
            )


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return a is b


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
