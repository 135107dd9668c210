"""A job's printed command runs: every value survives the shell and the parser unchanged (issue 19)."""

from __future__ import annotations

import shlex

import pytest

from mmerbench.cli.main import build_parser
from mmerbench.config import RunConfig
from mmerbench.execution.planning import Job, reproduce_command

VALUES = {
    "pairs": ["DR", "SR"],               # a list (its JSON has a comma and, by default, a space)
    "title": "two words and 'quotes'",   # a string with a space and quotes
    "lr": 0.0005,                        # a float
    "flag": False,
    "nested": {"a": [1, 2.5]},
}


def _job(**overrides) -> Job:
    return Job(method="lddu", method_version="2", dataset="synthetic", dataset_params={"n_train": 300},
               dataset_fingerprint="f" * 16, seed=3, params={}, preset="cpu", overrides=overrides,
               threshold_policy="valid", notes=[])


@pytest.mark.parametrize("name", sorted(VALUES))
def test_the_printed_command_parses_back_to_the_same_value(name):
    command = reproduce_command(_job(**{name: VALUES[name]}), "auto")
    words = shlex.split(command)
    assert words[:2] == ["mmerbench", "run"]
    config = RunConfig.from_args(build_parser().parse_args(words[1:]))
    assert config.settings == {f"lddu.{name}": VALUES[name], "synthetic.n_train": 300}
    assert (config.methods, config.datasets, config.seeds, config.preset) == (["lddu"], ["synthetic"], [3], "cpu")
