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


# ------------------------------------------------------------------ the static site (test_site*.py)

SITE_SIZES = ("n_train=240", "n_valid=80", "n_test=120")
SCRIPT_METHOD = "<script>window.pwned=1</script>"  # a method name that must render as text
SITE_TITLE = 'test <img src=x onerror="window.pwned=2">'  # so must --title


@pytest.fixture(scope="session")
def site_stores(tmp_path_factory):
    """A small real results folder (prior, br, cc x 2 seeds on small synthetic data, `--protocol missing`)
    and a fabricated one with two more datasets, one of them with a `<script>` method name."""
    from mmerbench.cli import main
    from mmerbench.testing.result_records import make_fake_store

    root = tmp_path_factory.mktemp("site-stores")
    real = root / "real"
    sizes = [arg for size in SITE_SIZES for arg in ("--set", f"synthetic.{size}")]
    assert main(["run", "--methods", "prior,br,cc", "--seeds", "0,1", "--protocol", "missing", "--jobs", "2",
                 "--device", "cpu", "--no-save-models", *sizes, "--results", str(real)]) == 0
    fake = root / "fabricated"
    make_fake_store(fake, {"prior": 0.2, "br": 1.0, "cc": 1.1}, datasets=("synthetic-single",), seeds=(0, 1),
                    n_test=90, robustness=False)
    records = make_fake_store(fake, {"prior": 0.2, "br": 1.0, "cc": 0.9}, datasets=("synthetic-unaligned",),
                              seeds=(0,), n_test=90, robustness=False)
    _add_script_row(fake, records[0])
    return real, fake


def _add_script_row(results, like: dict) -> None:
    """A job whose method name is markup (its key, a file name, may not hold the name's '/')."""
    import numpy as np

    from mmerbench.store import ResultStore
    from mmerbench.testing.result_records import fake_job

    with np.load(results / "predictions" / f"{like['key']}.npz") as arrays:
        labels = arrays["test_labels"]
    record, arrays = fake_job(SCRIPT_METHOD, like["dataset"], 0, labels, 1.2, label_names=like["label_names"],
                              robustness=False)
    record["key"] = "script-row-s0"
    with ResultStore(results) as store:
        store.save_predictions(record["key"], arrays)
        store.put(record)


@pytest.fixture(scope="session")
def built_site(site_stores, tmp_path_factory):
    from mmerbench.reporting.site.builder import build_site

    return build_site(list(site_stores), tmp_path_factory.mktemp("site") / "out", title=SITE_TITLE)
