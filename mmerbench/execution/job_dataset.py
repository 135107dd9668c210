"""The dataset a job used, loaded again and checked against the fingerprint the job recorded.

The worker (before fitting), re-evaluation and the report (after) all need the
very data a job saw; a dataset whose content changed since is refused with the
two fingerprints, never silently used.
"""

from __future__ import annotations

import json

from mmerbench.api import load_dataset
from mmerbench.data.validation import recarve_validation
from mmerbench.execution import warm_state


class DatasetChangedError(RuntimeError):
    """The data under a dataset's name are not those the job was planned (or ran) on."""


class JobDatasets:
    """Each (dataset, parameters, validation seed) loaded once; every lookup checked against the job's fingerprint."""

    def __init__(self):
        self._loaded = {}

    def get(self, job: dict):
        params = job.get("dataset_params") or {}
        valid_seed = job.get("valid_seed")
        key = (job["dataset"], json.dumps(params, sort_keys=True), valid_seed)
        expected = job.get("dataset_fingerprint")
        if key not in self._loaded:
            dataset = self._warm(job["dataset"], params, valid_seed, expected)
            if dataset is None:
                dataset = load_dataset(job["dataset"], **params)
                if valid_seed is not None:  # --resample-valid: this seed re-drew the carved validation split
                    dataset = recarve_validation(dataset, valid_seed)
            self._loaded[key] = dataset
        dataset = self._loaded[key]
        if expected and dataset.fingerprint != expected:
            raise DatasetChangedError(
                f"dataset {job['dataset']} changed since job {job['key']} was planned "
                f"(splits fingerprint {dataset.fingerprint}, expected {expected}; "
                f"file fingerprint {dataset.fingerprints['file']})")
        return dataset

    @staticmethod
    def _warm(name: str, params: dict, valid_seed, expected):
        """The dataset a warm server loaded (and checked) before forking this job, when it is the very data the
        job was planned on; None otherwise (none loaded, or the file changed since: loaded again, and checked)."""
        dataset = warm_state.preloaded(name, params)
        if dataset is None:
            return None
        if valid_seed is not None:
            dataset = recarve_validation(dataset, valid_seed)
        return dataset if expected and dataset.fingerprint == expected else None


def load_job_dataset(job: dict):
    """The dataset of one job (a planned job or a stored record), checked against its fingerprint."""
    return JobDatasets().get(job)
