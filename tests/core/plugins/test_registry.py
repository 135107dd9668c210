"""Plugins and the registry: discovery, laziness, errors that help."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import mmerbench
from mmerbench.errors import UnknownNameError, UsageError
from mmerbench.plugins import get_registry, register_plugin, unregister_plugin


def run_cli(*args, env=None, cwd=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=120)


def test_builtins_are_registered_through_the_hooks():
    registry = get_registry()
    assert {"prior", "br", "lp", "cc"} <= set(registry.methods)
    assert registry.methods["br"].origin.startswith("mmerbench_methods.")
    assert "synthetic" in registry.datasets


def test_unknown_method_suggests_and_lists():
    with pytest.raises(UnknownNameError) as info:
        get_registry().method("brr")
    message = str(info.value)
    assert "Unknown method 'brr'. Did you mean: br" in message
    assert "Available: " in message and "cc" in message


def test_unknown_method_on_the_command_line_exits_2():
    result = run_cli("run", "--methods", "brr", "--dry-run")
    assert result.returncode == 2
    assert "Unknown method 'brr'. Did you mean: br?" in result.stderr


class _DuplicatePlugin:
    @staticmethod
    @mmerbench.hookimpl
    def mmerbench_register_methods(registry):
        registry.add_method("br", "somewhere.else:Thing", version="1")


def test_a_duplicate_name_breaks_only_the_plugin_that_registers_it_showing_both_origins():
    register_plugin(_DuplicatePlugin, "duplicate-test-plugin")
    try:
        registry = get_registry()
        broken = {plugin.name: plugin.error for plugin in registry.broken}
        assert "duplicate-test-plugin" in broken
        assert "mmerbench_methods.classical.plugin" in broken["duplicate-test-plugin"]
        assert "duplicate-test-plugin (somewhere.else:Thing)" in broken["duplicate-test-plugin"]
        assert registry.methods["br"].origin == "mmerbench_methods.classical.plugin"  # the first one stays
        assert "lddu" in registry.methods and "synthetic" in registry.datasets
    finally:
        unregister_plugin("duplicate-test-plugin")
    assert "br" in get_registry().methods


class _RaisingPlugin:
    @staticmethod
    @mmerbench.hookimpl
    def mmerbench_register_methods(registry):
        raise RuntimeError("this plugin is broken on purpose")


def test_a_plugin_whose_hook_raises_is_reported_and_others_load():
    register_plugin(_RaisingPlugin, "raising-plugin")
    try:
        registry = get_registry()
        assert "br" in registry.methods
        assert any(p.name == "raising-plugin" and "broken on purpose" in p.error for p in registry.broken)
    finally:
        unregister_plugin("raising-plugin")


def test_a_plugin_that_fails_to_import_is_listed_as_broken():
    result = run_cli("list", "methods", env={"MMERBENCH_PLUGINS": "no_such_plugin_module_xyz"})
    assert result.returncode == 0, result.stderr
    assert "br " in result.stdout
    assert "Broken plugins" in result.stdout and "no_such_plugin_module_xyz" in result.stdout
    assert "ModuleNotFoundError" in result.stdout


def test_a_method_whose_target_fails_to_import_gives_that_error():
    class LazyBroken:
        @staticmethod
        @mmerbench.hookimpl
        def mmerbench_register_methods(registry):
            registry.add_method("lazy-broken", "no_such_module_abc.method:Thing", version="1")

    register_plugin(LazyBroken, "lazy-broken-plugin")
    try:
        from mmerbench.errors import PluginLoadError

        assert "lazy-broken" in get_registry().methods  # listing never imports it
        with pytest.raises(PluginLoadError, match="no_such_module_abc"):
            mmerbench.make_method("lazy-broken")
    finally:
        unregister_plugin("lazy-broken-plugin")


def _write_distribution(root, package: str, entry_name: str, body: str) -> None:
    (root / package).mkdir()
    (root / package / "__init__.py").write_text(textwrap.dedent(body))
    info = root / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[mmerbench]\n{entry_name} = {package}\n")


def test_real_entry_point_discovery(tmp_path):
    _write_distribution(tmp_path, "mmer_good_plugin", "good", """
        import mmerbench
        from mmerbench_methods.prior.method import LabelPrior

        class Constant(LabelPrior):
            name = "entry-point-prior"

        @mmerbench.hookimpl
        def mmerbench_register_methods(registry):
            registry.add_method("entry-point-prior", "mmer_good_plugin:Constant", version="1", summary="from an entry point")
    """)
    _write_distribution(tmp_path, "mmer_bad_plugin", "bad", "raise ImportError('missing dependency foo')\n")
    env = {"PYTHONPATH": str(tmp_path), "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": ""}
    result = run_cli("list", "methods", env=env)
    assert result.returncode == 0, result.stderr
    assert "entry-point-prior" in result.stdout and "[good]" in result.stdout
    assert "bad (mmer_bad_plugin)" in result.stdout and "missing dependency foo" in result.stdout
    assert "br " in result.stdout

    disabled = run_cli("list", "methods", env={**env, "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert "entry-point-prior" not in disabled.stdout and "mmer_bad_plugin" not in disabled.stdout


def test_listing_imports_neither_torch_nor_sklearn():
    code = (
        "import sys, io, contextlib\n"
        "from mmerbench.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['list'])\n"
        "heavy = [m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_unknown_hyperparameter_names_the_valid_ones():
    with pytest.raises(UsageError) as info:
        mmerbench.make_method("br", estimatorr="svc")
    assert "estimatorr" in str(info.value) and "estimator" in str(info.value) and "standardize" in str(info.value)


def test_ill_typed_hyperparameter_is_refused():
    with pytest.raises(UsageError, match="standardize must be true or false"):
        mmerbench.make_method("br", standardize="yes")


def test_unknown_dataset_and_preset():
    with pytest.raises(UnknownNameError, match="Did you mean: synthetic"):
        mmerbench.load_dataset("synthetc")
    with pytest.raises(UnknownNameError, match="preset"):
        mmerbench.make_method("br", preset="no-such-preset")
