"""Package discovery that pyproject.toml alone cannot express.

The folders ``methods/`` and ``datasets/`` are installed as the import packages
``mmerbench_methods`` and ``mmerbench_datasets`` so that they never shadow (or
are shadowed by) Hugging Face's ``datasets`` or any other top-level ``methods``.
The folders themselves have no ``__init__.py``: from the repository root they
are at most namespace portions, which never win over a regular package.
Every plugin sub-folder is picked up automatically, so adding a plugin folder
needs no edit here.

A built (non-editable) install gets two things written at build time:

- an ``__init__.py`` in each of the two mapped packages, so that they are
  regular packages in site-packages. A namespace folder there would be left
  behind, empty, when pip uninstalls it (pip removes the files it recorded, not
  a folder that held none), and that empty folder would then win over a later
  ``pip install -e .`` of the same project (a namespace portion found on
  ``sys.path`` beats setuptools' editable finder);
- ``mmerbench/_build_info.json`` with the version and, when built from a git
  checkout, its revision, so that records made by an installed copy still say
  which code produced them.
"""

import json
import subprocess
from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup
from setuptools.command.build_py import build_py

FOLDER_PACKAGES = {"mmerbench_methods": "methods", "mmerbench_datasets": "datasets"}
BUILD_INFO = "mmerbench/_build_info.json"


def mapped_packages(package: str, folder: str) -> list[str]:
    found = find_namespace_packages(where=folder, exclude=["*__pycache__*"])
    return [package] + [f"{package}.{name}" for name in found]


def git_revision(root: Path) -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


class BuildWithGeneratedFiles(build_py):
    """build_py plus the generated files described in the module docstring."""

    def run(self):
        super().run()
        if self.editable_mode:  # an editable install imports the source tree itself
            return
        build = Path(self.build_lib)
        for package, folder in FOLDER_PACKAGES.items():
            init = build / package / "__init__.py"
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""Built-in mmerbench plugins from the {folder}/ folder (this file is generated '
                            'at build time; see setup.py)."""\n')
        root = Path(__file__).resolve().parent
        info = {"version": self.distribution.get_version(), "git_revision": git_revision(root)}
        (build / BUILD_INFO).write_text(json.dumps(info) + "\n")


packages = find_packages(include=["mmerbench", "mmerbench.*"])
for package, folder in FOLDER_PACKAGES.items():
    packages += mapped_packages(package, folder)

setup(
    packages=packages,
    package_dir=dict(FOLDER_PACKAGES),
    cmdclass={"build_py": BuildWithGeneratedFiles},
)
