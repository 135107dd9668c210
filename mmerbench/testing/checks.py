"""The contract every method plugin must pass, as scikit-learn's ``check_estimator``.

Three ways to run it::

    from mmerbench.testing import check_method
    check_method(MyMethod)        # a class, an instance, or a registered name

    from mmerbench.testing import parametrize_with_checks

    @parametrize_with_checks([MyMethod])      # default: every registered method
    def test_contract(check):                 # one test per check: test_contract[mine-proba_shape]
        check()

    for name, check in method_checks("br"):   # (check name, zero-argument callable)
        check()

Checks run on the class's ``test_params`` (on CPU: a ``device`` parameter is
set to "cpu") and on a small random dataset (``make_tiny_dataset``: three
modalities of different lengths with padded steps) or the dataset given, plus
variants derived from it: a modality missing for some samples, single-label
labels, a label constant in training. The fitted model is shared by the
checks of one method, so the whole suite costs about six fits.

The ``save_load`` check saves the fitted model to a temporary directory and
loads it back (``Method.save`` / ``Method.load``, docs/saved-models.md): a
method whose fitted state lives outside its torch model must implement
``extra_state`` / ``set_extra_state``.

A failed check raises AssertionError whose message names the method and the
check. A check that does not apply (no ``predict_uncertainty``; the registered
version when given a class rather than a name) is skipped.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import Any, Callable, Iterator, Sequence

import numpy as np

BATCH_TOLERANCE = 1e-5


class CheckSkipped(Exception):
    """Raised by a check that does not apply to this method."""


class CheckContext:
    """One method under test: its class, its parameters, the data, and a shared fit."""

    def __init__(self, method, dataset=None):
        self.method = method
        self.given_dataset = dataset
        self._fit_outcome = None

    # -- what is being checked --------------------------------------------------------

    @property
    def label(self) -> str:
        if isinstance(self.method, str):
            return self.method
        cls = self.method if isinstance(self.method, type) else type(self.method)
        return vars(cls).get("name") or cls.__name__  # an inherited name would mislabel a subclass

    @cached_property
    def spec(self):
        if not isinstance(self.method, str):
            return None
        from mmerbench.plugins import get_registry

        return get_registry().method(self.method)

    @cached_property
    def cls(self) -> type:
        if isinstance(self.method, str):
            return self.spec.load()
        return self.method if isinstance(self.method, type) else type(self.method)

    @cached_property
    def params(self) -> dict[str, Any]:
        """The parameters every check builds the method with."""
        if isinstance(self.method, (str, type)):
            params = dict(getattr(self.cls, "test_params", {}) or {})
        else:
            params = dict(self.method.get_params())
        if "device" in _init_parameters(self.cls):
            params["device"] = "cpu"  # "same seed, same result" is promised on CPU
        return params

    def new(self, **overrides):
        return self.cls(**{**self.params, **overrides})

    # -- data ---------------------------------------------------------------------------

    @cached_property
    def dataset(self):
        from mmerbench.testing.fixtures import make_tiny_dataset

        return make_tiny_dataset() if self.given_dataset is None else self.given_dataset

    @property
    def train(self):
        return self.dataset.train

    @property
    def valid(self):
        return self.dataset.valid

    @property
    def test(self):
        return self.dataset.test

    # -- the shared fit -------------------------------------------------------------------

    @property
    def fit_record(self) -> tuple[Any, Any, dict, dict]:
        """(instance, what fit returned, params before fit, params after fit).

        Fitted once; a fit that raised is not retried by every later check
        (a failing deep fit would otherwise be paid for once per check).
        """
        if self._fit_outcome is None:
            try:
                method = self.new()
                before = method.get_params()
                returned = method.fit(self.train, self.valid)
                self._fit_outcome = (method, returned, before, method.get_params())
            except Exception as exc:
                self._fit_outcome = exc
        if isinstance(self._fit_outcome, Exception):
            error = self._fit_outcome
            raise AssertionError(
                f"the shared fit(train, valid) with {self.params} raised {type(error).__name__}: {error}"
            ) from error
        return self._fit_outcome

    @property
    def fitted(self):
        return self.fit_record[0]

    @cached_property
    def test_proba(self) -> np.ndarray:
        return np.asarray(self.fitted.predict_proba(self.test))


# ------------------------------------------------------------------------------ helpers


def _init_parameters(cls: type) -> dict[str, inspect.Parameter]:
    return dict(list(inspect.signature(cls.__init__).parameters.items())[1:])


def _same_value(a, b) -> bool:
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    try:
        return bool(np.all(a == b))
    except Exception:
        return False


def _same_saved_value(a, b) -> bool:
    """Equal, or (an estimator-like object, which a load rebuilds) the same type with the same repr."""
    if hasattr(a, "get_params") and not isinstance(a, type):
        return type(a) is type(b) and repr(a) == repr(b)
    return _same_value(a, b)


def _assert_proba(proba, n: int, q: int, what: str) -> None:
    proba = np.asarray(proba)
    assert proba.shape == (n, q), f"{what}: shape {proba.shape}, expected ({n}, {q})"
    assert np.issubdtype(proba.dtype, np.floating), f"{what}: dtype {proba.dtype}, expected floats"
    bad = ~np.isfinite(proba)
    assert not bad.any(), f"{what}: {int(bad.sum())} values are NaN or infinite"
    assert proba.min(initial=0.0) >= 0.0 and proba.max(initial=0.0) <= 1.0, (
        f"{what}: values range over [{proba.min():.6g}, {proba.max():.6g}], expected within [0, 1]"
    )


def _assert_close(actual, expected, what: str, tolerance: float = BATCH_TOLERANCE) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if actual.size:
        difference = float(np.max(np.abs(actual - expected)))
        assert difference <= tolerance, f"{what}: probabilities differ by up to {difference:.3g} (tolerance {tolerance:g})"


def _relabelled(split, labels: np.ndarray):
    from dataclasses import replace

    return replace(split.to_memory(), labels=labels.astype(np.uint8))


# ------------------------------------------------------------------------------ the checks


def check_class_attributes(ctx: CheckContext) -> None:
    """name, version, presets, test_params, requires, published_threshold are present and well-typed."""
    from mmerbench.errors import UsageError
    from mmerbench.params import check_params

    cls = ctx.cls
    for attribute in ("name", "version", "presets", "test_params", "requires", "published_threshold"):
        assert hasattr(cls, attribute), f"class attribute {attribute!r} is missing"
    assert isinstance(cls.name, str) and cls.name, f"name must be a non-empty str, got {cls.name!r}"
    assert isinstance(cls.version, str) and cls.version, f"version must be a non-empty str, got {cls.version!r}"
    assert isinstance(cls.requires, dict), f"requires must be a dict, got {type(cls.requires).__name__}"
    threshold = cls.published_threshold
    assert isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and 0 < threshold < 1, (
        f"published_threshold must be a number in (0, 1), got {threshold!r}"
    )
    defaults = cls.param_defaults()
    assert isinstance(cls.presets, dict), f"presets must be a dict of dicts, got {type(cls.presets).__name__}"
    for preset, values in cls.presets.items():
        assert isinstance(values, dict), f"preset {preset!r} must be a dict of hyperparameters, got {values!r}"
        try:
            check_params(f"{cls.name} preset {preset}", defaults, values)
        except UsageError as exc:
            raise AssertionError(f"preset {preset!r}: {exc}") from None
    assert isinstance(cls.test_params, dict), f"test_params must be a dict, got {type(cls.test_params).__name__}"
    try:
        check_params(f"{cls.name} test_params", defaults, cls.test_params)
    except UsageError as exc:
        raise AssertionError(f"test_params: {exc}") from None


def check_search_space(ctx: CheckContext) -> None:
    """Each declared search space names real hyperparameters with valid distributions, and configurations
    sampled from it (on top of its preset) pass the parameter check and construct the method."""
    from mmerbench.errors import UsageError
    from mmerbench.params import check_params
    from mmerbench.search_spaces import DEFAULT_SPACE, overrides_from_sample, sample_space, space_problems

    cls = ctx.cls
    spaces = getattr(cls, "search_spaces", None)
    if not spaces:
        raise CheckSkipped("the method declares no search space (it cannot be tuned)")
    assert isinstance(spaces, dict), f"search_spaces must be a dict of preset -> space, got {type(spaces).__name__}"
    defaults = cls.param_defaults()
    for space_name, space in spaces.items():
        problems = space_problems(cls, space_name, space)
        assert not problems, "; ".join(problems)
        preset = {} if space_name == DEFAULT_SPACE else dict(cls.presets[space_name])
        for seed in range(3):
            base = {**defaults, **preset}
            overrides = overrides_from_sample(sample_space(space, seed), base)
            try:
                checked = check_params(f"{cls.name} search space {space_name}", defaults, overrides)
            except UsageError as exc:
                raise AssertionError(f"search space {space_name!r}: a sampled configuration {overrides} was "
                                     f"refused: {exc}") from None
            params = {**base, **checked}
            method = cls(**params)
            got = method.get_params()
            changed = [k for k in checked if not _same_value(got[k], checked[k])]
            assert not changed, f"search space {space_name!r}: constructing with {overrides} changed {changed}"


def check_registered_version(ctx: CheckContext) -> None:
    """The registry's name and version for the method equal the class's ``name`` and ``version``."""
    if ctx.spec is None:
        raise CheckSkipped("checked by class, not by registered name")
    assert ctx.cls.name == ctx.spec.name, (
        f"registered as {ctx.spec.name!r} but the class says name = {ctx.cls.name!r}"
    )
    assert str(ctx.cls.version) == ctx.spec.version, (
        f"registered with version={ctx.spec.version!r} but the class says version = {ctx.cls.version!r}; "
        "update the plugin's add_method(..., version=...) whenever the class's version is bumped"
    )


def check_init_params(ctx: CheckContext) -> None:
    """__init__ lists explicit keyword hyperparameters with defaults and only stores them."""
    parameters = _init_parameters(ctx.cls)
    for name, parameter in parameters.items():
        assert parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD), (
            f"__init__ takes *{'*' if parameter.kind == parameter.VAR_KEYWORD else ''}{name}: "
            "hyperparameters must be explicit keyword arguments"
        )
        assert parameter.default is not parameter.empty, f"hyperparameter {name!r} has no default"
    given = {**{name: p.default for name, p in parameters.items()}, **ctx.params}
    method = ctx.cls(**given)
    public = {key for key in vars(method) if not key.startswith("_")}
    missing = sorted(set(parameters) - public)
    extra = sorted(public - set(parameters))
    assert not missing, f"__init__ does not store hyperparameters {missing} as attributes of the same name"
    assert not extra, (
        f"__init__ sets attributes {extra} that are not hyperparameters; build fitted state in fit "
        "(attributes ending in '_')"
    )
    for name, value in given.items():
        stored = getattr(method, name)
        assert _same_value(stored, value), (
            f"__init__ changed hyperparameter {name!r}: given {value!r}, stored {stored!r} "
            "(store it unchanged; convert or validate it in fit)"
        )


def check_get_set_params(ctx: CheckContext) -> None:
    """get_params returns the constructor's arguments; set_params round-trips and rejects unknown names."""
    method = ctx.new()
    params = method.get_params()
    expected = set(_init_parameters(ctx.cls))
    assert set(params) == expected, f"get_params keys {sorted(params)} differ from __init__'s {sorted(expected)}"
    for name, value in ctx.params.items():
        assert _same_value(params[name], value), f"get_params()[{name!r}] is {params[name]!r}, constructed with {value!r}"
    returned = method.set_params(**params)
    assert returned is method, "set_params must return self"
    after = method.get_params()
    changed = [name for name in params if not _same_value(after[name], params[name])]
    assert not changed, f"set_params(**get_params()) changed {changed}"
    clone = type(method)(**method.get_params())
    cloned = clone.get_params()
    changed = [name for name in params if not _same_value(cloned[name], params[name])]
    assert not changed, f"type(m)(**m.get_params()) does not reproduce parameters {changed}"
    try:
        method.set_params(not_a_hyperparameter_xyz=1)
    except Exception as exc:  # any error type will do, as long as it names the key
        assert "not_a_hyperparameter_xyz" in str(exc), f"set_params with an unknown key raised {exc!r} without naming it"
    else:
        raise AssertionError("set_params(not_a_hyperparameter_xyz=1) did not raise")


def check_unfitted_raises(ctx: CheckContext) -> None:
    """predict_proba and predict on an unfitted method raise."""
    for what in ("predict_proba", "predict"):
        method = ctx.new()
        try:
            getattr(method, what)(ctx.test)
        except Exception:
            continue
        raise AssertionError(f"{what} on an unfitted method returned instead of raising")


def check_fit_returns_self(ctx: CheckContext) -> None:
    """fit(train, valid) returns the method itself."""
    method, returned, _, _ = ctx.fit_record
    assert returned is method, f"fit returned {type(returned).__name__ if returned is not None else None}, not self"


def check_fit_keeps_params(ctx: CheckContext) -> None:
    """fit does not change the hyperparameters (fitted state goes in attributes ending in '_')."""
    _, _, before, after = ctx.fit_record
    changed = [name for name in before if not _same_value(before[name], after.get(name))]
    assert not changed, f"fit changed hyperparameters {changed}: " + ", ".join(
        f"{name}: {before[name]!r} -> {after.get(name)!r}" for name in changed
    )


def check_proba_shape(ctx: CheckContext) -> None:
    """predict_proba returns (N, q) finite floats in [0, 1]."""
    _assert_proba(ctx.test_proba, len(ctx.test), ctx.test.n_labels, "predict_proba(test)")


def check_predict_threshold(ctx: CheckContext) -> None:
    """predict returns {0, 1} of shape (N, q), equal to predict_proba thresholded at threshold_."""
    from mmerbench.evaluation.metrics import threshold_predictions

    method = ctx.fitted
    assert hasattr(method, "threshold_"), "a fitted method has no threshold_"
    threshold = np.asarray(method.threshold_, dtype=float)
    assert threshold.ndim == 0 or threshold.shape == (ctx.test.n_labels,), (
        f"threshold_ must be a number or one per label, got shape {threshold.shape}"
    )
    assert np.all((threshold > 0) & (threshold < 1)), f"threshold_ must be within (0, 1), got {method.threshold_!r}"
    predictions = np.asarray(method.predict(ctx.test))
    assert predictions.shape == (len(ctx.test), ctx.test.n_labels), f"predict: shape {predictions.shape}"
    assert np.isin(predictions, (0, 1)).all(), "predict returned values other than 0 and 1"
    expected = threshold_predictions(ctx.test_proba, method.threshold_, bool(getattr(method, "single_label_", False)))
    mismatched = int((predictions != expected).sum())
    assert not mismatched, f"predict disagrees with predict_proba > threshold_ ({method.threshold_!r}) in {mismatched} cells"


def check_same_seed(ctx: CheckContext) -> None:
    """A fresh copy, type(m)(**m.get_params()), fitted on the same data gives identical probabilities."""
    again = type(ctx.fitted)(**ctx.fitted.get_params()).fit(ctx.train, ctx.valid)
    second = np.asarray(again.predict_proba(ctx.test))
    assert second.shape == ctx.test_proba.shape, f"second fit: shape {second.shape}, first {ctx.test_proba.shape}"
    difference = float(np.max(np.abs(second - ctx.test_proba))) if second.size else 0.0
    assert difference == 0.0, (
        f"two fits with the same parameters (random_state included) differ by up to {difference:.3g}: "
        "seed every source of randomness from random_state"
    )


def check_permutation_invariance(ctx: CheckContext) -> None:
    """Predicting a permuted split gives the permuted probabilities."""
    order = np.random.default_rng(12345).permutation(len(ctx.test))
    permuted = ctx.fitted.predict_proba(ctx.test.take(order))
    _assert_close(permuted, ctx.test_proba[order], "predict_proba of a permuted split vs the permuted probabilities")


def check_subset_invariance(ctx: CheckContext) -> None:
    """Predicting a subset (every other row; one sample alone) gives those rows' probabilities."""
    rows = np.arange(0, len(ctx.test), 2)
    _assert_close(ctx.fitted.predict_proba(ctx.test.take(rows)), ctx.test_proba[rows],
                  "predict_proba of every other row vs those rows of the full prediction")
    last = np.array([len(ctx.test) - 1])
    _assert_close(ctx.fitted.predict_proba(ctx.test.take(last)), ctx.test_proba[last],
                  "predict_proba of the last sample alone vs its row of the full prediction")


def check_no_valid_split(ctx: CheckContext) -> None:
    """fit(train, None) works and gives valid probabilities."""
    method = ctx.new().fit(ctx.train, None)
    _assert_proba(method.predict_proba(ctx.test), len(ctx.test), ctx.test.n_labels, "after fit(train, None)")


def check_missing_modality(ctx: CheckContext) -> None:
    """Some samples lack a modality (length 0): fit and predict give finite probabilities."""
    from mmerbench.testing.fixtures import with_missing_modalities

    if len(ctx.train.modalities) < 2:
        raise CheckSkipped("the data has a single modality")
    data = with_missing_modalities(ctx.dataset)
    method = ctx.new().fit(data.train, data.valid)
    _assert_proba(method.predict_proba(data.test), len(data.test), data.test.n_labels,
                  "with a modality missing for some samples")


def check_single_label(ctx: CheckContext) -> None:
    """On single-label (one-hot) data, predict gives exactly one positive per row."""
    from mmerbench.testing.fixtures import as_single_label

    data = as_single_label(ctx.dataset)
    method = ctx.new().fit(data.train, data.valid)
    _assert_proba(method.predict_proba(data.test), len(data.test), data.test.n_labels, "on single-label data")
    positives = np.asarray(method.predict(data.test)).sum(axis=1)
    assert (positives == 1).all(), f"single-label predict gave {sorted(set(positives.tolist()))} positives per row, expected 1"


def check_constant_label(ctx: CheckContext) -> None:
    """A label never positive and a label always positive in training do not break fit or predict."""
    labels = np.asarray(ctx.train.labels).copy()
    if labels.shape[1] < 2:
        raise CheckSkipped("the data has a single label")
    labels[:, 0] = 0
    labels[:, 1] = 1
    method = ctx.new().fit(_relabelled(ctx.train, labels), ctx.valid)
    _assert_proba(method.predict_proba(ctx.test), len(ctx.test), ctx.test.n_labels,
                  "with label 0 never and label 1 always positive in training")


def check_uncertainty(ctx: CheckContext) -> None:
    """predict_uncertainty, where defined, returns (N, q) finite non-negative values."""
    if not callable(getattr(ctx.fitted, "predict_uncertainty", None)):
        raise CheckSkipped("no predict_uncertainty")
    uncertainty = np.asarray(ctx.fitted.predict_uncertainty(ctx.test))
    expected = (len(ctx.test), ctx.test.n_labels)
    assert uncertainty.shape == expected, f"predict_uncertainty: shape {uncertainty.shape}, expected {expected}"
    assert np.isfinite(uncertainty).all(), "predict_uncertainty returned NaN or infinite values"
    assert (uncertainty >= 0).all(), f"predict_uncertainty returned negative values (min {uncertainty.min():.3g})"
    if "per_modality" in inspect.signature(ctx.fitted.predict_uncertainty).parameters:
        per_modality = np.asarray(ctx.fitted.predict_uncertainty(ctx.test, per_modality=True))
        expected = (len(ctx.test), ctx.test.n_labels, len(ctx.test.modalities))
        assert per_modality.shape == expected, (
            f"predict_uncertainty(per_modality=True): shape {per_modality.shape}, expected {expected} (N, q, M)")
        assert np.isfinite(per_modality).all() and (per_modality >= 0).all(), (
            "predict_uncertainty(per_modality=True) returned NaN, infinite or negative values")


def check_save_load(ctx: CheckContext) -> None:
    """save -> load gives the same parameters, threshold, probabilities, predictions (and uncertainty).

    Fitted state outside a torch model's weights and the base's own attributes must go through
    ``extra_state`` / ``set_extra_state``; a forgotten attribute shows up here.
    """
    import tempfile

    method = ctx.fitted
    with tempfile.TemporaryDirectory(prefix="mmerbench-save-load-") as directory:
        method.save(directory)
        loaded = type(method).load(directory, device="cpu" if "device" in _init_parameters(ctx.cls) else None)
    assert type(loaded) is type(method), f"load returned a {type(loaded).__name__}, saved a {type(method).__name__}"
    before, after = method.get_params(), loaded.get_params()
    changed = [name for name in before if not _same_saved_value(before[name], after.get(name))]
    assert not changed, "hyperparameters changed through save -> load: " + ", ".join(
        f"{name}: {before[name]!r} -> {after.get(name)!r}" for name in changed)
    assert np.array_equal(np.asarray(loaded.threshold_), np.asarray(method.threshold_)), (
        f"threshold_ changed through save -> load: {method.threshold_!r} -> {loaded.threshold_!r}")
    proba = np.asarray(loaded.predict_proba(ctx.test))
    _assert_close(proba, ctx.test_proba, "predict_proba after save -> load vs before", tolerance=0.0)
    mismatched = int((np.asarray(loaded.predict(ctx.test)) != np.asarray(method.predict(ctx.test))).sum())
    assert not mismatched, f"predict after save -> load differs from before in {mismatched} cells"
    if callable(getattr(method, "predict_uncertainty", None)):
        _assert_close(loaded.predict_uncertainty(ctx.test), method.predict_uncertainty(ctx.test),
                      "predict_uncertainty after save -> load vs before", tolerance=0.0)


CHECKS: dict[str, Callable[[CheckContext], None]] = {
    "class_attributes": check_class_attributes,
    "registered_version": check_registered_version,
    "search_space": check_search_space,
    "init_params": check_init_params,
    "get_set_params": check_get_set_params,
    "unfitted_raises": check_unfitted_raises,
    "fit_returns_self": check_fit_returns_self,
    "fit_keeps_params": check_fit_keeps_params,
    "proba_shape": check_proba_shape,
    "predict_threshold": check_predict_threshold,
    "same_seed": check_same_seed,
    "permutation_invariance": check_permutation_invariance,
    "subset_invariance": check_subset_invariance,
    "no_valid_split": check_no_valid_split,
    "missing_modality": check_missing_modality,
    "single_label": check_single_label,
    "constant_label": check_constant_label,
    "uncertainty": check_uncertainty,
    "save_load": check_save_load,
}


# ------------------------------------------------------------------------------ runners


def _bound(ctx: CheckContext, name: str, check: Callable[[CheckContext], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            check(ctx)
        except CheckSkipped:
            raise
        except AssertionError as exc:
            raise AssertionError(f"method {ctx.label!r} failed check {name!r}: {exc}") from exc
        except Exception as exc:
            raise AssertionError(
                f"method {ctx.label!r} failed check {name!r}: it raised {type(exc).__name__}: {exc}"
            ) from exc

    run.__name__ = f"check_{name}"
    run.__doc__ = check.__doc__
    return run


def method_checks(method, dataset=None, checks: Sequence[str] | None = None) -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield ``(check name, zero-argument callable)`` for one method.

    ``method`` is a Method subclass, an instance (its parameters are used
    instead of ``test_params``), or a registered name. The callables share one
    fitted model, raise AssertionError naming the method and the check, and
    raise :class:`CheckSkipped` when a check does not apply.
    """
    ctx = CheckContext(method, dataset)
    names = list(CHECKS) if checks is None else list(checks)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks {unknown}; available: {', '.join(CHECKS)}")
    for name in names:
        yield name, _bound(ctx, name, CHECKS[name])


class CheckReport:
    """Which checks :func:`check_method` ran: passed, skipped (with why) and failed (with the message)."""

    def __init__(self, method: str):
        self.method = method
        self.passed: list[str] = []
        self.skipped: dict[str, str] = {}
        self.failed: dict[str, str] = {}

    @property
    def ran(self) -> list[str]:
        """Every check that ran to a verdict (passed or failed), in the order run."""
        return self.passed + list(self.failed)

    def __str__(self) -> str:
        lines = [f"method {self.method!r}: {len(self.passed)} passed, {len(self.skipped)} skipped, "
                 f"{len(self.failed)} failed"]
        lines += [f"  passed  {name}" for name in self.passed]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped.items()]
        lines += [f"  FAILED  {name}: {message}" for name, message in self.failed.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<CheckReport {str(self).splitlines()[0]}>"


def check_method(method, dataset=None, *, verbose: bool = False) -> CheckReport:
    """Run every check and return a :class:`CheckReport` of what ran (``print(report)`` lists each check).

    Raises one AssertionError listing each failed check (and, below, the whole report). ``verbose=True``
    prints the report too.
    """
    report = CheckReport(CheckContext(method).label)
    for name, check in method_checks(method, dataset):
        try:
            check()
        except CheckSkipped as exc:
            report.skipped[name] = str(exc)
            continue
        except AssertionError as exc:
            report.failed[name] = str(exc)
            continue
        report.passed.append(name)
    if verbose:
        print(report)
    if report.failed:
        raise AssertionError(f"{len(report.failed)} contract check(s) failed:\n" + "\n".join(report.failed.values())
                             + "\n\n" + str(report))
    return report


def registered_method_names() -> list[str]:
    from mmerbench.plugins import get_registry

    return sorted(get_registry().methods)


def parametrize_with_checks(methods: Sequence | None = None, dataset=None):
    """A ``pytest.mark.parametrize("check", ...)`` decorator: one test per (method, check).

    ``methods`` are classes, instances or registered names (default: every
    registered method). Test ids read ``<method>-<check>``; a check that does
    not apply is reported as skipped. Nothing is imported or fitted at
    collection time: a method that fails to import fails its tests instead.
    """
    import pytest

    def skipping(check: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                check()
            except CheckSkipped as exc:
                pytest.skip(str(exc))

        run.__name__, run.__doc__ = check.__name__, check.__doc__
        return run

    params = []
    for method in registered_method_names() if methods is None else methods:
        label = CheckContext(method).label
        for name, check in method_checks(method, dataset):
            params.append(pytest.param(skipping(check), id=f"{label}-{name}"))
    return pytest.mark.parametrize("check", params)
