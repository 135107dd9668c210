"""A built-in method's registered version is the one its class records in every job: two places saying
different versions let a bump reach the job keys but not the listing (and the reverse)."""

from __future__ import annotations

import pytest

from mmerbench.plugins import builtin_plugin_modules, get_registry


@pytest.mark.parametrize("name", sorted(get_registry().methods))
def test_the_registered_version_is_the_class_version(name):
    spec = get_registry().methods[name]
    if not any(str(spec.origin).startswith(module) or module in str(spec.origin) for module in builtin_plugin_modules()):
        pytest.skip(f"{name} is not a built-in method")
    assert str(spec.load().version) == str(spec.version), (
        f"{name}: registered as version {spec.version}, its class records {spec.load().version}")
