"""Packaging: a plain (non-editable) install lists every built-in, and the
``methods/`` and ``datasets/`` folders never shadow other packages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from mmerbench.plugins import get_registry

ROOT = Path(__file__).resolve().parents[2]


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


def _fresh_venv(path: Path) -> Path:
    """A venv with its own pip (so builds use the project's declared build requirements, fetched into an
    isolated build environment as `pip install .` does), which sees this environment's packages (torch,
    numpy, ...) through a .pth line placed after its own site-packages."""
    venv.EnvBuilder(with_pip=True).create(path)
    python = path / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    outer = sysconfig.get_paths()["purelib"]
    # A path added by a .pth line is searched but its own .pth files are not run, so this environment's
    # editable finder for mmerbench (if any) stays out of the fresh venv.
    (Path(own) / "zz_outer_environment.pth").write_text(outer + "\n")
    return python


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", *args], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"pip install {' '.join(args)} failed:\n{done.stdout}{done.stderr}"


def _clean_env() -> dict:
    env = {**os.environ, "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("MMERBENCH_PLUGINS", None)
    env.pop("PYTHONPATH", None)
    return env


def _assert_lists_every_builtin(environment: Path, workdir: Path) -> None:
    listed = subprocess.run([str(environment / "bin" / "mmerbench"), "list"], cwd=workdir, env=_clean_env(),
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "Broken plugins" not in listed.stdout, listed.stdout
    registry = get_registry()
    for name in list(registry.methods) + list(registry.datasets):
        origin = (registry.methods.get(name) or registry.datasets.get(name)).origin
        if origin.startswith(("mmerbench_methods.", "mmerbench_datasets.")):
            assert f"  {name} " in listed.stdout, f"built-in {name} missing from the installed package"


def _where(python: Path, workdir: Path, code: str) -> str:
    done = subprocess.run([str(python), "-c", code], cwd=workdir, env=_clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_install_then_editable_install_into_a_fresh_venv(tmp_path):
    """The README's order: `pip install .`, later `pip install -e .`, in a venv that has only its own pip."""
    source = tmp_path / "src"
    _copy_project(source)
    environment = tmp_path / "venv"
    python = _fresh_venv(environment)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()

    _pip(python, str(source))
    _assert_lists_every_builtin(environment, workdir)
    installed = _where(python, workdir, "import mmerbench_methods.prior.plugin as p; print(p.__file__)")
    assert installed.startswith(str(environment)), installed
    info = _where(python, workdir, "import mmerbench.execution.provenance as r; print(r.build_info())")
    assert "'version': '0.1.0'" in info, info

    _pip(python, "-e", str(source))
    site = Path(_where(python, workdir, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    for package in ("mmerbench_methods", "mmerbench_datasets"):
        assert not (site / package).exists(), f"`pip install -e .` left {site / package} behind (it would shadow)"
    paths = _where(python, workdir, "import mmerbench_methods as m, mmerbench_datasets as d; "
                                    "print(list(m.__path__)[0]); print(list(d.__path__)[0])").splitlines()
    assert paths == [str(source / "methods"), str(source / "datasets")], paths
    _assert_lists_every_builtin(environment, workdir)


def test_ci_runs_the_readme_commands_in_order():
    """CI catches what a new user hits: `.ci/run` runs the README's two commands, in order, as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = [line for block in re.findall(r"```bash\n(.*?)```", section, re.S)
                for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 2, commands
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    positions = [ci.index(command) if command in ci else -1 for command in commands]
    assert -1 not in positions, f".ci/run lacks a README command: {commands} vs {ci}"
    assert positions == sorted(positions), "the README's commands run out of order in .ci/run"


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
