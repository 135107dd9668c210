"""docs/plugins.md is run as a plugin author would use it: its files written, its code run in order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
FILE_MARK = re.compile(r"^# file: (\S+)\n")
PACKAGE_FILE_MARK = re.compile(r"^# package file: (\S+)\n")  # the installable package (test_plugin_package.py)


def guide_blocks() -> tuple[dict[str, str], list[str]]:
    """({file name: text} for blocks starting with '# file: NAME', [every other python block, in order])."""
    files, script = {}, []
    for block in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S):
        named = FILE_MARK.match(block)
        if PACKAGE_FILE_MARK.match(block):
            continue
        if named:
            files[named.group(1)] = block[named.end():]
        else:
            script.append(block)
    return files, script


def test_readme_links_the_guide_and_the_guide_names_only_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    assert "(docs/plugins.md)" in readme
    text = GUIDE.read_text()
    for path in re.findall(r"`((?:mmerbench|tests|methods|datasets|docs)/[\w/.]+\.(?:py|md))`", text):
        assert (ROOT / path).exists(), f"docs/plugins.md refers to {path}, which is not in the repository"
    files, script = guide_blocks()
    assert {"mlp_plugin.py", "test_mlp_plugin.py", "toy_dataset_plugin.py"} <= set(files) and len(script) >= 3


def test_the_public_api_is_listed_by_dir():
    import mmerbench

    listed = dir(mmerbench)
    for name in mmerbench.__all__:
        assert name in listed, f"{name} is public but dir(mmerbench) does not list it"
        assert getattr(mmerbench, name) is not None
    for name in ("Method", "TorchMethod", "Batch", "Split", "Dataset", "make_split", "CanonicalWriter",
                 "ImporterSpec", "hookimpl", "run", "score", "load_dataset", "make_method"):
        assert name in listed


@pytest.mark.slow
def test_every_example_of_the_guide_runs(tmp_path):
    files, script = guide_blocks()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MMERBENCH_HOME": str(tmp_path / "home"),
           "MMERBENCH_PLUGINS": "mlp_plugin,toy_dataset_plugin", "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    output = ""
    for number, block in enumerate(script, start=1):  # each block is a script of its own, as the guide says
        (tmp_path / f"guide_block_{number}.py").write_text(block)
        ran = subprocess.run([sys.executable, f"guide_block_{number}.py"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0, f"block {number} of docs/plugins.md failed:\n{block}\n{ran.stdout}{ran.stderr}"
        output += ran.stdout
    assert "passed  uncertainty" in output and "skipped registered_version" in output
    suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mlp_plugin.py"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert re.search(r"1[0-9] passed, [1-9] skipped", suite.stdout), suite.stdout


def test_shipped_text_names_only_documents_that_exist():
    """Docstrings and docs point readers at files they have (no 'DESIGN.md section 4' from outside)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        pytest.skip("the project is not a git checkout")
    files = [name for name in listed.stdout.splitlines() if name.endswith((".py", ".md", ".toml"))
             and not name.startswith("leaderboards/") and name != "tests/docs/test_plugin_guide.py"]
    known = {Path(name).name for name in listed.stdout.splitlines()} | {name for name in listed.stdout.splitlines()}
    missing = []
    # documents a reader would open: upper-case names (DESIGN.md, README.md) and anything under docs/
    # (output files such as a report's report.md are not references)
    document = r"(?<![\w/])(?:[A-Z][A-Z_]+\.md|docs/[\w./-]+\.md)\b"
    for name in files:
        for mentioned in re.findall(document, (ROOT / name).read_text(errors="replace")):
            if mentioned not in known:
                missing.append(f"{name} mentions {mentioned}")
    assert not missing, missing
