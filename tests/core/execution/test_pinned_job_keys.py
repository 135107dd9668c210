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


def test_the_thread_count_is_keyed_only_when_it_is_not_the_default():
    """--threads decides a deep method's numbers, so a 4-thread request must not be answered by a 1-thread
    result; one thread (the default, and what every key above and every published page was made with) is not
    hashed, so that those keys stay the keys."""
    from mmerbench.execution.runner import plan

    (one,), _ = plan(["br"], ["synthetic"], [0], device="auto", threads=1)
    (two,), _ = plan(["br"], ["synthetic"], [0], device="auto", threads=2)
    assert one.key == PINNED[("br", 0)]
    assert two.key != one.key
    assert "--threads 1" in one.command and "--threads 2" in two.command


def test_a_dataset_version_is_keyed_from_its_second_version_on():
    from dataclasses import replace

    from mmerbench.execution.planning import job_key
    from mmerbench.execution.runner import plan

    (job,), _ = plan(["br"], ["synthetic"], [0], device="auto")
    assert job.dataset_version == "1" and job_key(job) == PINNED[("br", 0)]
    assert job_key(replace(job, dataset_version="2")) != PINNED[("br", 0)]
