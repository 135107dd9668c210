"""Job keys of today's results stay the keys: moving code around must never re-key stored results.

The keys below were printed by ``mmerbench run --methods lddu,br,cc,mult,prior --seeds 0,1 --dry-run``
on main before the core was reorganised into rooms (issue 19). A key changes only when what it hashes
changes (method version, resolved hyperparameters, dataset fingerprint, seed, threshold policy); a
deliberate version bump updates its line here, with the reason in the commit.
"""

from __future__ import annotations

import pytest

PINNED = {
    ("br", 0): "bfdf7d2e246f4859f3b5",
    ("br", 1): "de77b80a10e13290e285",
    ("cc", 0): "c51f6707802c135c6484",
    ("cc", 1): "e27d4b58b5ccfaf63c49",
    ("prior", 0): "e722b0b55433dd024c92",
    ("prior", 1): "a5aba7cdb23576197668",
}


@pytest.mark.parametrize("method, seed", sorted(PINNED))
def test_a_job_keeps_the_key_it_had_before_the_reorganisation(method, seed):
    from mmerbench.execution.runner import plan

    (job,), _ = plan([method], ["synthetic"], [seed], device="auto")
    assert job.key == PINNED[(method, seed)]
