"""What a run was: package versions, the code's git revision, the host. Recorded, never read as configuration."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path

VERSIONED_PACKAGES = ("mmerbench", "torch", "numpy", "scikit-learn", "pandas", "h5py", "scipy")
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # mmerbench/


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def build_info() -> dict:
    """What setup.py wrote when this copy was built (version, git revision); {} in a source checkout."""
    try:
        return json.loads((PACKAGE_DIR / "_build_info.json").read_text())
    except (OSError, ValueError):
        return {}


def git_revision() -> str | None:
    """The project's git revision: of the checkout mmerbench runs from, else the one it was built from."""
    root = PACKAGE_DIR.parent
    if not (root / ".git").exists():
        return build_info().get("git_revision")
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if revision.returncode != 0:
        return None
    changed = _changed_paths()
    if changed is None:  # dirty or not cannot be told: no revision rather than a clean one it may not be
        return None
    return revision.stdout.strip() + ("-dirty" if changed else "")


MAX_CHANGED_FILES = 20


def _changed_paths() -> list[str] | None:
    """Every tracked file that differs from HEAD ([] for a clean checkout or an installed copy; None when
    git cannot tell)."""
    root = PACKAGE_DIR.parent
    if not (root / ".git").exists():
        return []
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted(line[3:].strip() for line in status.stdout.splitlines() if line.strip())


def git_changed_files() -> list[str]:
    """The tracked files that differ from the revision ("-dirty"), so a reader can judge what the dirt was:
    a comment in a config file or the code that computed the numbers. At most MAX_CHANGED_FILES paths,
    then a count."""
    paths = _changed_paths() or []
    if len(paths) > MAX_CHANGED_FILES:
        return paths[:MAX_CHANGED_FILES] + [f"... and {len(paths) - MAX_CHANGED_FILES} more"]
    return paths


def run_provenance(requested_device: str, executor: str) -> dict:
    """The fields every record of this run carries about where and with what it ran."""
    return {"versions": package_versions(), "git_revision": git_revision(), "git_changed_files": git_changed_files(),
            "host": platform.node(), "requested_device": requested_device, "executor": executor}


def job_provenance(provenance: dict, job) -> dict:
    """The run's provenance with the sources of this job's method and dataset only (not the whole run's)."""
    sources = provenance.get("plugin_sources") or {}
    own = {key: value for key, value in provenance.items() if key != "plugin_sources"}
    own["method_source"] = (sources.get("methods") or {}).get(job.method)
    own["dataset_source"] = (sources.get("datasets") or {}).get(job.dataset)
    return own
