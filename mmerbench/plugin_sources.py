"""Where a method or dataset came from: the distribution that installed it, its version, and its code.

A job records mmerbench's version and git revision; for a paper whose
contribution is a plugin, the plugin's own version matters as much. For the
method and the dataset of every job this module finds:

- the *distribution* (the pip package) that provides the module the registry
  names, and its version (``None`` for a module on ``sys.path`` that no
  distribution installed, e.g. ``$MMERBENCH_PLUGINS`` from a folder);
- a *source hash*: sha256 of the plugin's Python files (the folder of the
  package that holds the named module, or the module's one file), so that two
  copies that report the same version but differ in code are told apart;
- the *VCS revision* when the distribution was installed from a checkout
  (``pip install -e .`` or ``pip install git+...``, read from its
  ``direct_url.json``), with ``-dirty`` when tracked files under the plugin's
  folder have uncommitted changes.

Computed once per run in the driver (:func:`plugin_sources`) and copied into each
job's record; never read back as configuration.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

from mmerbench.registry import DatasetSpec, MethodSpec

HASH_CHARS = 16


def _target_module(target) -> str | None:
    """``"pkg.mod:Class"`` -> ``"pkg.mod"``; a class or function -> its module; None for no target."""
    if target is None:
        return None
    if isinstance(target, str):
        return target.partition(":")[0] or None
    return getattr(target, "__module__", None)


@functools.lru_cache(maxsize=1)
def _distributions_by_package() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _source_files(module: str) -> tuple[Path | None, list[Path]]:
    """The folder hashed for ``module`` and its Python files (sorted), or (None, []) when it has no file."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None, []
    if spec is None or not spec.origin or not spec.has_location:
        return None, []
    origin = Path(spec.origin)
    if "." not in module and origin.name != "__init__.py":
        return origin.parent, [origin]  # a top-level one-file plugin: its folder is site-packages, hash the file
    folder = origin.parent
    files = sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
    return folder, files


def source_hash(files: list[Path], folder: Path) -> str | None:
    """sha256 over each file's path (relative to ``folder``) and bytes: a renamed or edited file changes it."""
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:HASH_CHARS]


def _vcs_revision(distribution: str, folder: Path | None) -> str | None:
    """The commit a distribution was installed from (pip's direct_url.json), or its checkout's HEAD if editable."""
    try:
        text = importlib.metadata.distribution(distribution).read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        direct = json.loads(text)
    except ValueError:
        return None
    commit = (direct.get("vcs_info") or {}).get("commit_id")
    if commit:
        return str(commit)
    if not (direct.get("dir_info") or {}).get("editable") or folder is None:
        return None
    checkout = Path(unquote(urlparse(str(direct.get("url", ""))).path))
    return _git_head(checkout, folder)


def _git_head(checkout: Path, folder: Path) -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5)
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no", "--",
                                str(folder)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def spec_source(spec: MethodSpec | DatasetSpec) -> dict:
    """``{"plugin", "module", "distribution", "version", "source_sha256", "vcs_revision"}`` of one entry."""
    target = spec.target if isinstance(spec, MethodSpec) else spec.loader
    module = _target_module(target)
    source = {"plugin": spec.origin, "module": module, "distribution": None, "version": None,
              "source_sha256": None, "vcs_revision": None}
    if module is None:  # an imported table: mmerbench opens the canonical file itself
        return source
    top = module.split(".")[0]
    distributions = _distributions_by_package().get(top) or []
    if distributions:
        source["distribution"] = distributions[0]
        try:
            source["version"] = importlib.metadata.version(distributions[0])
        except importlib.metadata.PackageNotFoundError:
            pass
    folder, files = _source_files(module)
    if files:
        source["source_sha256"] = source_hash(files, folder)
    if source["distribution"]:
        source["vcs_revision"] = _vcs_revision(source["distribution"], folder)
    return source


def plugin_sources(registry, methods, datasets) -> dict[str, dict[str, dict]]:
    """``{"methods": {name: source}, "datasets": {name: source}}`` for the names of one run."""
    return {"methods": {name: spec_source(registry.method(name)) for name in methods},
            "datasets": {name: spec_source(registry.dataset(name)) for name in datasets}}


def describe(source: dict | None) -> str:
    """One footer phrase: 'mmerbench 0.1.0, source 3fa2c9d01b7e4a55, git 1c5b4ad'."""
    if not source:
        return "not recorded"
    parts = []
    if source.get("distribution"):
        parts.append(f"{source['distribution']} {source.get('version') or '(no version)'}")
    else:
        parts.append(f"module {source.get('module') or source.get('plugin')} (no installed distribution)")
    if source.get("source_sha256"):
        parts.append(f"source {source['source_sha256']}")
    if source.get("vcs_revision"):
        parts.append(f"git {source['vcs_revision'][:12]}")
    return ", ".join(parts)
