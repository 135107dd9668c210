"""Test isolation: no third-party plugins, a private MMERBENCH_HOME, few threads."""

from __future__ import annotations

import os
import sys

os.environ["MMERBENCH_DISABLE_PLUGIN_AUTOLOAD"] = "1"

# The test-only plugins (tests/plugins/mmerbench_test_plugins) are importable here and in every worker
# process a test starts (local spawn, Ray, submitit), which inherit PYTHONPATH.
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")
if TEST_PLUGINS not in sys.path:
    sys.path.insert(0, TEST_PLUGINS)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (TEST_PLUGINS, os.environ.get("PYTHONPATH")) if p)

import pytest  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(scope="session", autouse=True)
def _private_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("mmerbench-home")
    previous = os.environ.get("MMERBENCH_HOME")
    os.environ["MMERBENCH_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("MMERBENCH_HOME", None)
    else:
        os.environ["MMERBENCH_HOME"] = previous


@pytest.fixture(autouse=True)
def _few_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def shared_data():
    """Path to ../shared/data (real files), or skip when it is absent (as on users' machines)."""
    path = os.path.abspath(SHARED_DATA)
    if not os.path.isdir(path):
        pytest.skip(f"real data folder {path} is absent (it sits beside the project only in development and CI)")
    return path


@pytest.fixture
def tiny_dataset():
    """A small random in-memory multimodal dataset (aligned lengths differ per modality)."""
    from mmerbench.testing.fixtures import make_tiny_dataset

    return make_tiny_dataset()


@pytest.fixture
def testing_plugin(monkeypatch):
    """Register mmerbench_test_plugins.plugin (tiny datasets, failing/sleepy methods), also in workers."""
    from mmerbench.plugins import reset_registry

    monkeypatch.setenv("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin")
    reset_registry()
    yield
    monkeypatch.delenv("MMERBENCH_PLUGINS")
    reset_registry()
