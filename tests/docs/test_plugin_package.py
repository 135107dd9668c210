"""docs/plugins.md, section 7: the complete plugin package is built, installed into a fresh virtual environment
and found through its entry point, as a plugin author would do it.

The venv sees this environment's packages (``--system-site-packages``: numpy, pluggy, pytest, setuptools),
and ``PYTHONPATH`` puts the mmerbench under test first; the plugin itself is built into a wheel and
installed (not editable), so only its entry point can make mmerbench find it. Its own contract test then
runs from the package's folder against the installed method.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
PACKAGE_FILE = re.compile(r"```(?:python|toml)\n# package file: (\S+)\n(.*?)```", re.S)


def package_files() -> dict[str, str]:
    """{path: text} of every guide block that starts with '# package file: PATH'."""
    return dict(PACKAGE_FILE.findall(GUIDE.read_text()))


def listed_line() -> str:
    """The `mmerbench list methods` line the guide shows for the package's method."""
    block = GUIDE.read_text().split("$ mmerbench list methods\n", 1)[1].split("```", 1)[0]
    return next(line for line in block.splitlines() if "late-fusion" in line)


def test_the_guide_shows_a_whole_package():
    files = package_files()
    assert set(files) == {"mmer-late-fusion/pyproject.toml", "mmer-late-fusion/src/mmer_late_fusion/__init__.py",
                          "mmer-late-fusion/src/mmer_late_fusion/method.py",
                          "mmer-late-fusion/src/mmer_late_fusion/plugin.py",
                          "mmer-late-fusion/tests/test_contract.py"}
    assert '[project.entry-points.mmerbench]\nlate_fusion = "mmer_late_fusion.plugin"' in files[
        "mmer-late-fusion/pyproject.toml"]
    assert "What the entry-point name is" in GUIDE.read_text() and listed_line().endswith("[late_fusion]")


def run(command: list[str], cwd: Path, env: dict, timeout: int = 300) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_package_builds_installs_and_passes_its_contract_test(tmp_path):
    for path, text in package_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    package = tmp_path / "mmer-late-fusion"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    env = {key: value for key, value in os.environ.items()
           if key not in ("MMERBENCH_DISABLE_PLUGIN_AUTOLOAD", "MMERBENCH_PLUGINS")}  # entry points on, as for users
    env.update(PYTHONPATH=str(ROOT), MMERBENCH_HOME=str(tmp_path / "home"), PYTHONNOUSERSITE="1")
    # This environment's pip installs into the venv; no network: the build uses the venv's setuptools.
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", str(package)], tmp_path, env)
    where = run([str(python), "-c", "import mmerbench, mmer_late_fusion; print(mmerbench.__file__); "
                                    "print(mmer_late_fusion.__file__)"], tmp_path, env).split()
    assert where[0] == str(ROOT / "mmerbench" / "__init__.py")  # the mmerbench under test
    assert where[1].startswith(str(tmp_path / "venv")), where  # the installed copy, not the source folder

    listed = run([str(python), "-m", "mmerbench.cli.main", "list", "methods"], tmp_path, env)
    assert listed_line() in listed.splitlines(), listed  # exactly as the guide shows it
    assert "Broken plugins" not in listed.split("late-fusion")[0]
    assert "[in brackets]: the plugin that registered the name: an installed package's entry-point name" in listed

    report = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], package, env)
    assert re.search(r"\b1[0-9] passed", report) and "failed" not in report, report
