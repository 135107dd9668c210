"""The run configurations committed beside the published leaderboards stay valid and complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmerbench.config import RunConfig
from mmerbench.plugins import get_registry

LEADERBOARDS = Path(__file__).resolve().parents[3] / "leaderboards"
CONFIGS = sorted(LEADERBOARDS.glob("*.toml"))


def test_there_is_a_config_for_the_main_leaderboard():
    assert LEADERBOARDS / "synthetic.toml" in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_runs_every_built_in_method(path):
    config = RunConfig.from_toml(str(path))  # the same checks `mmerbench run --config` makes
    built_in = {spec.name for spec in get_registry().methods.values()
                if spec.origin.startswith("mmerbench_methods.")}
    assert set(config.methods) == built_in, "a built-in method is missing from (or unknown to) " + path.name
    assert config.datasets == [path.stem]  # leaderboards/<dataset>.toml publishes <dataset>.md
    assert config.device == "auto" and len(config.seeds) >= 3
