"""Package discovery that pyproject.toml alone cannot express.

The folders ``methods/`` and ``datasets/`` are installed as the import packages
``mmerbench_methods`` and ``mmerbench_datasets`` so that they never shadow (or
are shadowed by) Hugging Face's ``datasets`` or any other top-level ``methods``.
The folders themselves have no ``__init__.py``: from the repository root they
are at most namespace portions, which never win over a regular package.
Every plugin sub-folder is picked up automatically, so adding a plugin folder
needs no edit here.
"""

from setuptools import find_namespace_packages, find_packages, setup

FOLDER_PACKAGES = {"mmerbench_methods": "methods", "mmerbench_datasets": "datasets"}


def mapped_packages(package: str, folder: str) -> list[str]:
    found = find_namespace_packages(where=folder, exclude=["*__pycache__*"])
    return [package] + [f"{package}.{name}" for name in found]


packages = find_packages(include=["mmerbench", "mmerbench.*"])
for package, folder in FOLDER_PACKAGES.items():
    packages += mapped_packages(package, folder)

setup(
    packages=packages,
    package_dir=dict(FOLDER_PACKAGES),
)
