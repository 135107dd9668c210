"""`mmerbench evaluate` and `run --protocol` on finished jobs: saved models, no refit, clear reports."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.execution.job_models import load_job_model
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.usefixtures("testing_plugin")
COMBINATIONS = ["test@text", "test@audio", "test@vision", "test@text+audio", "test@text+vision",
                "test@audio+vision", "test@text+audio+vision", "test@missing-mean"]


def records(results) -> dict[str, dict]:
    with ResultStore(results) as store:
        return {r["method"]: r for r in store.records()}


def test_evaluate_adds_the_conditions_a_job_lacks_on_its_saved_model(tmp_path, capsys):
    mmerbench.run(["br", "prior"], ["tiny"], [0], results=tmp_path)
    before = records(tmp_path)
    assert not any(k.startswith("test@") for k in before["br"]["metrics"])
    assert main(["evaluate", "--results", str(tmp_path), "--protocol", "missing", "--protocol", "noise:1"]) == 0
    after = records(tmp_path)
    for method in ("br", "prior"):
        assert set(COMBINATIONS) <= set(after[method]["metrics"])
        assert "test@noise=1:audio" in after[method]["metrics"]
        assert after[method]["metrics"]["test"] == before[method]["metrics"]["test"]  # untouched
        assert after[method]["fit_seconds"] == before[method]["fit_seconds"]  # not refitted
    assert "evaluated br on tiny seed 0" in capsys.readouterr().out
    # Asking again finds nothing to do.
    assert main(["evaluate", "--results", str(tmp_path), "--protocol", "missing"]) == 0
    assert "already had every condition" in capsys.readouterr().out


def test_a_saved_model_reproduces_the_stored_test_probabilities_exactly(tmp_path):
    mmerbench.run(["br"], ["tiny"], [0], results=tmp_path)
    record = records(tmp_path)["br"]
    with ResultStore(tmp_path) as store:
        stored = store.load_predictions(record["key"])["test_proba"]
    method = load_job_model(tmp_path, record["key"])
    dataset = mmerbench.load_dataset("tiny")
    np.testing.assert_array_equal(method.predict_proba(dataset.test).astype(np.float32), stored)


def test_evaluate_names_the_jobs_without_a_saved_model_and_exits_1(tmp_path, capsys):
    mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, save_models=False)
    assert main(["evaluate", "--results", str(tmp_path), "--protocol", "missing"]) == 1
    err = capsys.readouterr().err
    assert "have no saved model" in err and "prior on tiny seed 0" in err


def test_run_with_a_protocol_evaluates_finished_jobs_instead_of_skipping_them(tmp_path):
    first = mmerbench.run(["br"], ["tiny"], [0], results=tmp_path)
    again = mmerbench.run(["br"], ["tiny"], [0], results=tmp_path, protocols=["missing-rate:0.5"])
    assert not again.records and len(again.skipped) == 1  # no refit
    assert [r["key"] for r in again.evaluation.updated] == [first.records[0]["key"]]
    record = records(tmp_path)["br"]
    assert "test@missing-rate=0.5" in record["metrics"]
    assert record["started_at"] == first.records[0]["started_at"]


def test_jobs_stored_before_calibration_scores_get_them_from_their_probabilities(tmp_path):
    mmerbench.run(["br"], ["tiny"], [0], results=tmp_path)
    original = records(tmp_path)["br"]
    old = {**original, "metrics": {s: {k: v for k, v in m.items() if k in ("acc", "p", "r", "mif1")}
                                   for s, m in original["metrics"].items()}}
    for key in ("reliability", "uncertainty_source"):
        old.pop(key)
    with ResultStore(tmp_path) as store:
        store.put(old)
    assert main(["evaluate", "--results", str(tmp_path)]) == 0
    rescored = records(tmp_path)["br"]
    for split in ("valid", "test"):
        for metric in ("ece", "ece_label", "brier", "nll", "unc_auroc", "aurc"):
            assert rescored["metrics"][split][metric] == pytest.approx(original["metrics"][split][metric], abs=1e-6)
    assert rescored["reliability"]["test"]["count"] == original["reliability"]["test"]["count"]


def test_cli_run_takes_protocols_from_options_and_config_and_refuses_bad_ones(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('methods = ["prior"]\ndatasets = ["tiny-single"]\nprotocols = ["missing"]\n')
    assert main(["run", "--config", str(config), "--results", str(tmp_path / "r"),
                 "--protocol", "missing-rate:0.5"]) == 0
    (record,) = records(tmp_path / "r").values()
    assert "test@missing-rate=0.5" in record["metrics"]  # the command line wins over the file
    assert record["reliability"]["test"]["kind"] == "top-class"  # single-label data
    capsys.readouterr()
    assert main(["run", "--methods", "prior", "--datasets", "tiny", "--results", str(tmp_path / "r"),
                 "--protocol", "noise:loud"]) == 2
    assert "Valid: missing | missing-rate" in capsys.readouterr().err
