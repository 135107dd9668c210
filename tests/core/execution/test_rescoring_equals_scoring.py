"""`mmerbench evaluate` rescoring a finished job from its stored files gives exactly its stored scores (issue 27)."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.usefixtures("testing_plugin")
# the scores `evaluate` computes from stored probabilities and uncertainties (mmerbench.evaluation.job_scores)
RESCORED = ("ece", "ece_label", "brier", "nll", "unc_auroc", "aurc", "unc_auroc_entropy", "aurc_entropy",
            "noise_spearman", "noise_spearman_entropy")
SMALL = {"n_train": 120, "n_valid": 60, "n_test": 80, "steps": 6}


def _rescored(results, key):
    """Strip the job's scores beyond accuracy (as in a record stored before they existed), run
    `mmerbench evaluate`, and return the record it stored."""
    with ResultStore(results) as store:
        record = store.get(key)
        for split in ("valid", "test"):
            record["metrics"][split] = {k: v for k, v in record["metrics"][split].items()
                                        if k not in RESCORED and not k.startswith("noise_spearman")}
        record.pop("reliability", None)
        store.put(record)
    assert main(["evaluate", "--results", str(results)]) == 0
    with ResultStore(results) as store:
        return store.get(key)


def test_rescoring_a_finished_job_reproduces_its_stored_scores_exactly(tmp_path):
    outcome = mmerbench.run(["modal-uncertain", "prior"], ["synthetic-uncertain"], [0], results=tmp_path,
                            save_models=False, settings={f"synthetic-uncertain.{k}": v for k, v in SMALL.items()})
    for original in outcome.records:
        assert original["status"] == "ok", original.get("error")
        again = _rescored(tmp_path, original["key"])
        for split in ("valid", "test"):
            assert again["metrics"][split] == original["metrics"][split]  # every value, to the bit
        assert again["reliability"] == original["reliability"]
        assert again["uncertainty_source"] == original["uncertainty_source"]
    own = next(r for r in outcome.records if r["method"] == "modal-uncertain")
    per_modality = [k for k in own["metrics"]["test"] if k.startswith("noise_spearman_") and k != "noise_spearman_entropy"]
    assert per_modality, "the per-modality noise_spearman is scored (and so must survive rescoring)"
    with ResultStore(tmp_path) as store:
        arrays = store.load_predictions(own["key"])
    assert arrays["test_uncertainty_per_modality"].dtype == np.float32  # stored, because rescoring needs it
