"""Packaging: a plain (non-editable) install lists every built-in, and the
``methods/`` and ``datasets/`` folders never shadow other packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from mmerbench.plugins import get_registry

ROOT = Path(__file__).resolve().parent.parent


def _copy_project(target: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        pytest.skip("the project is not a git checkout")
    for name in listed.stdout.splitlines():
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.mark.slow
def test_plain_install_into_a_fresh_venv_lists_every_builtin(tmp_path):
    source = tmp_path / "src"
    _copy_project(source)
    environment = tmp_path / "venv"
    # torch and the other dependencies come from the system site-packages, as
    # DESIGN.md suggests (an unpinned torch would be a multi-GB download).
    # Without a pip of its own the venv uses the system pip and setuptools (no download).
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(environment)
    python = environment / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                              str(source)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {**os.environ, "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("MMERBENCH_PLUGINS", None)
    listed = subprocess.run([str(environment / "bin" / "mmerbench"), "list"], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "Broken plugins" not in listed.stdout, listed.stdout
    registry = get_registry()
    for name in list(registry.methods) + list(registry.datasets):
        origin = (registry.methods.get(name) or registry.datasets.get(name)).origin
        if origin.startswith(("mmerbench_methods.", "mmerbench_datasets.")):
            assert f"  {name} " in listed.stdout, f"built-in {name} missing from the installed package"
    where = subprocess.run([str(python), "-c", "import mmerbench_methods.prior.plugin as p; print(p.__file__)"],
                           cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert str(environment) in where.stdout, where.stdout + where.stderr


def test_folders_never_shadow_installed_packages(tmp_path):
    """From the repository root, ``import datasets`` / ``import methods`` find real packages first."""
    for name in ("datasets", "methods"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("WHO = 'the installed package'\n")
        assert not (ROOT / name / "__init__.py").exists(), f"{name}/__init__.py would shadow installed packages"
    code = "import datasets, methods; print(datasets.WHO, '|', methods.WHO)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.stdout.strip() == "the installed package | the installed package", result.stderr


def test_builtin_import_names_are_distinct():
    import mmerbench_datasets
    import mmerbench_methods

    assert Path(list(mmerbench_methods.__path__)[0]).name == "methods"
    assert Path(list(mmerbench_datasets.__path__)[0]).name == "datasets"
