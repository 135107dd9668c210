"""Every registered method passes the public contract suite, one test per check.

Ids read ``test_contract[<method>-<check>]``; methods added as plugins are
picked up automatically. Deep methods are checked with their ``test_params``.
"""

from __future__ import annotations

import mmerbench
from mmerbench.testing import parametrize_with_checks


@parametrize_with_checks()
def test_contract(check):
    check()


def test_every_builtin_method_plugin_loads():
    broken = [p for p in mmerbench.get_registry().broken if p.name.startswith("mmerbench_methods.")]
    assert not broken, "built-in method plugins failed to load: " + "; ".join(f"{p.name}: {p.error}" for p in broken)


def test_classical_methods_are_registered():
    assert {"br", "lp", "cc"} <= set(mmerbench.get_registry().methods)
