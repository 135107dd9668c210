"""Old import paths of modules that moved into rooms by role (0.1 -> 0.2), kept for one release.

``import mmerbench.leaderboard`` still works: the finder below answers for the
old name with the module at its new place (the same module object, so a
monkeypatch through either name is seen by both) and warns once with a
DeprecationWarning that names the new path. Nothing here is a copy of code.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "mmerbench.safe_pickle": "mmerbench.io.safe_pickle",
    "mmerbench.pickle_globals": "mmerbench.io.pickle_globals",
    "mmerbench.pickle_data": "mmerbench.io.pickle_data",
    "mmerbench.safe_torch": "mmerbench.io.safe_torch",
    "mmerbench.model_files": "mmerbench.io.model_files",
    "mmerbench.integrity": "mmerbench.data.integrity",
    "mmerbench.importing": "mmerbench.data.importing",
    "mmerbench.evaluation.perturb": "mmerbench.data.perturb",
    "mmerbench.metrics": "mmerbench.evaluation.metrics",
    "mmerbench.jobs": "mmerbench.execution.planning",
    "mmerbench.runner": "mmerbench.execution.runner",
    "mmerbench.worker": "mmerbench.execution.worker",
    "mmerbench.checkpoints": "mmerbench.execution.checkpoints",
    "mmerbench.prediction": "mmerbench.execution.predict",
    "mmerbench.evaluation.reevaluate": "mmerbench.execution.reevaluate",
    "mmerbench.evaluation.protocols": "mmerbench.execution.protocols",
    "mmerbench.collapse": "mmerbench.execution.collapse",
    "mmerbench.leaderboard": "mmerbench.reporting.leaderboard",
    "mmerbench.results_csv": "mmerbench.reporting.results_csv",
    "mmerbench.store_rows": "mmerbench.store.rows",
    "mmerbench.execution.store_failure": "mmerbench.store.failure",
    "mmerbench.cli_checks": "mmerbench.cli.leaderboard_checks",
    "mmerbench.cli_data": "mmerbench.cli.data",
    "mmerbench.cli_executors": "mmerbench.cli.executors",
    "mmerbench.display": "mmerbench.cli.display",
    "mmerbench.eta": "mmerbench.cli.eta",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new_name: str):
        self.new_name = new_name

    def create_module(self, spec):
        return importlib.import_module(self.new_name)

    def exec_module(self, module):
        pass  # already executed under its new name


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves an old module path to the module at its new place, with a DeprecationWarning."""

    def find_spec(self, fullname, path=None, target=None):
        new_name = MOVED.get(fullname)
        if new_name is None:
            return None
        warnings.warn(f"{fullname} moved to {new_name}; the old path goes away in the next release",
                      DeprecationWarning, stacklevel=2)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new_name))


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
