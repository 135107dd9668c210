"""Import ``skops.io`` without importing torch on the way.

skops builds its default trust list when ``skops.io`` is imported, from scikit-learn's
``all_estimators()``, which walks every package of scikit-learn with :func:`pkgutil.walk_packages` — and
walking *imports* each package, ``sklearn.externals.array_api_compat.torch`` included, which imports torch
(1.1 s of skops's 1.55 s import on this project's 2-core machine). ``all_estimators()`` skips everything
under ``externals`` anyway, and ``walk_packages`` skips a package whose import raises ImportError, so
refusing that one import while skops is imported gives the same trust list (a test compares it) without
torch. The refusal is gone when the import returns: the package imports as usual afterwards. When torch is
imported already (a deep method's process) there is nothing to save and nothing is refused.
"""

from __future__ import annotations

import importlib
import sys
from importlib.abc import MetaPathFinder
from types import ModuleType

# scikit-learn's array-API adapter for torch: imported by the walk, never used to list estimators.
WALKED_TORCH_ADAPTER = "sklearn.externals.array_api_compat.torch"


class _RefuseTheTorchAdapter(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == WALKED_TORCH_ADAPTER:
            raise ImportError(f"{name} is not imported while skops lists scikit-learn's estimators")
        return None  # every other module: the usual finders


def skops_io() -> ModuleType:
    """``skops.io``, imported (once) without importing torch when torch is not imported yet."""
    if "skops.io" in sys.modules or "torch" in sys.modules:
        return importlib.import_module("skops.io")
    refusal = _RefuseTheTorchAdapter()
    sys.meta_path.insert(0, refusal)
    try:
        return importlib.import_module("skops.io")
    finally:
        sys.meta_path.remove(refusal)
