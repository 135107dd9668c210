"""The search-space contract: every built-in declares a usable space; broken declarations are refused by name."""

from __future__ import annotations

import pytest

from mmerbench.api import method_class
from mmerbench.errors import UsageError
from mmerbench.method import Method
from mmerbench.search_spaces import Choice, IntRange, LogUniform, Uniform, method_space, overrides_from_sample
from mmerbench.testing.checks import check_search_space, CheckContext, registered_method_names

BUILT_IN = registered_method_names()


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_declares_a_space_for_its_cpu_preset_and_its_defaults(name):
    cls = method_class(name)
    expected = {"default"} | ({"cpu"} if "cpu" in cls.presets else set())
    assert expected <= set(cls.search_spaces), f"{name} declares {sorted(cls.search_spaces)}"
    check_search_space(CheckContext(cls))  # names exist, distributions valid, sampled configurations construct
    assert method_space(cls, "cpu" if "cpu" in cls.presets else None)


class _Toy(Method):
    name = "toy"
    version = "1"

    def __init__(self, lr: float = 0.01, width: int = 8, options: dict | None = None, random_state: int = 0,
                 threshold: str = "valid"):
        self.lr = lr
        self.width = width
        self.options = options
        self.random_state = random_state
        self.threshold = threshold


def _with_space(space, presets=None):
    return type("ToyWithSpace", (_Toy,), {"search_spaces": {"default": space}, "presets": presets or {}})


def test_a_usable_space_passes_and_dotted_names_fill_a_dict_hyperparameter():
    cls = _with_space({"lr": LogUniform(1e-4, 1e-1), "width": IntRange(4, 16), "options.C": Uniform(0.1, 1.0)})
    check_search_space(CheckContext(cls))
    assert overrides_from_sample({"options.C": 0.5, "lr": 0.1}, {"options": {"keep": 1}}) == {
        "lr": 0.1, "options": {"keep": 1, "C": 0.5}}


@pytest.mark.parametrize("space, says", [
    ({"learning_rate": LogUniform(1e-4, 1e-1)}, "'learning_rate' is not a hyperparameter"),
    ({"lr": LogUniform(0.0, 1e-1)}, "0 < low < high"),
    ({"lr": Uniform(1.0, 0.5)}, "low < high"),
    ({"width": IntRange(4, 4)}, "low < high"),
    ({"width": Choice([8])}, "at least two values"),
    ({"width": Choice([{"a": 1}, {"b": 2}])}, "each value must be"),
    ({"width": (4, 8)}, "use Uniform, LogUniform, IntRange or Choice"),
    ({"random_state": IntRange(0, 9)}, "set by the run"),
    ({"width": Choice(["narrow", "wide"])}, "was refused"),  # an int hyperparameter sampled as strings
])
def test_a_broken_space_is_refused_naming_the_parameter_and_the_problem(space, says):
    cls = _with_space(space)
    with pytest.raises(AssertionError, match=says):
        check_search_space(CheckContext(cls))


def test_a_space_for_a_preset_the_method_lacks_is_refused_and_tune_names_what_is_declared():
    cls = type("ToyOdd", (_Toy,), {"search_spaces": {"gpu": {"lr": LogUniform(1e-4, 1e-1)}}, "presets": {}})
    with pytest.raises(AssertionError, match="neither 'default' nor a preset"):
        check_search_space(CheckContext(cls))
    with pytest.raises(UsageError, match=r"declares no search space for its defaults \(it declares: gpu\)"):
        method_space(cls, None)
