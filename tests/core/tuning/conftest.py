from __future__ import annotations

import pytest

from mmerbench.config import RunConfig
from mmerbench.store.results import ResultStore


@pytest.fixture
def tune_in(testing_plugin, tmp_path):
    """tune_in(name, methods, datasets, tune_settings, seeds=[0], **run settings) -> (TuneResult, records of that results folder)."""
    from mmerbench.tuning.search import tune

    def run(name, methods, datasets, tune_settings, seeds=(0,), **run_settings):
        results = tmp_path / name
        config = RunConfig(methods=list(methods), datasets=list(datasets), seeds=list(seeds), device="cpu",
                           results=str(results), save_models=False, **run_settings)
        outcome = tune(config, tune_settings)
        with ResultStore(results, create=False, read_only=True) as store:
            return outcome, store.records()

    return run
