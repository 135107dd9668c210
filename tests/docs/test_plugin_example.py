"""The README's worked plugin example, run as a user would run it."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"<!-- plugin-example:start -->\s*```python\n(.*?)```\s*<!-- plugin-example:end -->", text, re.S)
    assert block, "README lost its plugin example markers"
    (tmp_path / "my_mmer_plugin.py").write_text(block.group(1))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_mmer_plugin", None)
    yield tmp_path
    sys.modules.pop("my_mmer_plugin", None)


def test_example_passes_the_contract(plugin_module):
    from mmerbench.testing import check_method

    module = importlib.import_module("my_mmer_plugin")
    check_method(module.NearestCentroid)


def test_example_runs_from_the_command_line(plugin_module, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_module), os.environ["PYTHONPATH"]]),
           "MMERBENCH_PLUGINS": "my_mmer_plugin,mmerbench_test_plugins.plugin"}
    command = [sys.executable, "-m", "mmerbench.cli.main"]
    listed = subprocess.run(command + ["list", "methods"], env=env, capture_output=True, text=True, timeout=60)
    assert "centroid" in listed.stdout and "nearest label centroid" in listed.stdout
    small = ["--set", "synthetic.n_train=400", "--set", "synthetic.n_valid=100", "--set", "synthetic.n_test=200"]
    ran = subprocess.run(command + ["run", "--methods", "centroid,prior", *small, "--results", str(tmp_path / "r")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "| centroid" in ran.stdout
    records = json.loads(subprocess.run(command + ["results", "--results", str(tmp_path / "r")], env=env,
                                        capture_output=True, text=True, timeout=60).stdout)
    centroid = next(r for r in records if r["method"] == "centroid")
    prior = next(r for r in records if r["method"] == "prior")
    # the synthetic cues survive mean pooling in part: the example must learn something
    assert centroid["metrics"]["test"]["mif1"] > prior["metrics"]["test"]["mif1"]
