"""The public contract suite every method plugin must pass (see ``check_method``).

Plugin authors::

    from mmerbench.testing import check_method, parametrize_with_checks

    report = check_method(MyMethod)             # raises AssertionError naming each failed check
    print(report)                               # which checks passed, which were skipped and why

    @parametrize_with_checks([MyMethod])        # one pytest test per check
    def test_contract(check):
        check()
"""

from mmerbench.testing.checks import (
    CHECKS,
    CheckReport,
    CheckSkipped,
    check_method,
    method_checks,
    parametrize_with_checks,
    registered_method_names,
)
from mmerbench.testing.fixtures import as_single_label, make_tiny_dataset, with_missing_modalities

__all__ = [
    "CHECKS",
    "CheckReport",
    "CheckSkipped",
    "as_single_label",
    "check_method",
    "make_tiny_dataset",
    "method_checks",
    "parametrize_with_checks",
    "registered_method_names",
    "with_missing_modalities",
]
