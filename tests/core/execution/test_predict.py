"""Jobs save their models; `mmerbench predict` applies one to another dataset, end to end."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import mmerbench
from mmerbench.errors import UsageError
from mmerbench.execution.predict import check_compatible, find_job
from mmerbench.execution.job_models import load_job_model
from mmerbench.store.results import ResultStore
from mmerbench.testing.fixtures import make_tiny_dataset

pytestmark = pytest.mark.usefixtures("testing_plugin")


def cli(*args, timeout=300):
    env = {**os.environ, "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin"}
    return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """prior and br on `tiny`, seed 0, models saved (the default): the worker's own function, in process."""
    from mmerbench.plugins import reset_registry
    from mmerbench.execution.runner import plan
    from mmerbench.execution.job_order import JobOrder
    from mmerbench.execution.worker import run_job

    with pytest.MonkeyPatch.context() as patch:  # the testing plugin, as the function-scoped fixture sets it
        patch.setenv("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin")
        reset_registry()
        results = tmp_path_factory.mktemp("predict") / "results"
        jobs, _ = plan(["prior", "br"], ["tiny"], [0])
        with ResultStore(results) as store:
            for job in jobs:
                record = run_job(JobOrder(job.to_dict(), str(results), 1, "cpu"))
                assert record["status"] == "ok", record.get("traceback")
                store.put(record)
    reset_registry()
    return results


def _records(results):
    with ResultStore(results, create=False) as store:
        return {r["method"]: r for r in store.records()}, store


def test_every_job_saves_its_model_and_it_reproduces_the_stored_probabilities(finished_run):
    records, _ = _records(finished_run)
    dataset = make_tiny_dataset()
    with ResultStore(finished_run, create=False) as store:
        for method, record in records.items():
            assert record["model_path"] == f"models/{record['key']}"
            assert (finished_run / record["model_path"] / "mmerbench-model.json").is_file()
            stored = store.load_predictions(record["key"])
            model = load_job_model(finished_run, record["key"])
            for split in ("valid", "test"):
                proba = model.predict_proba(getattr(dataset, split)).astype("float32")
                np.testing.assert_array_equal(proba, stored[f"{split}_proba"], err_msg=f"{method} {split}")
            assert model.threshold_ == record["threshold"]
    leftovers = [p.name for p in (finished_run / "models").iterdir() if p.name.startswith(".")]
    assert not leftovers, f"temporary directories left behind: {leftovers}"


@pytest.mark.slow
def test_no_save_models_saves_nothing_and_says_so(tmp_path):
    results = tmp_path / "results"
    ran = cli("run", "--methods", "prior", "--datasets", "tiny", "--no-save-models", "--results", str(results))
    assert ran.returncode == 0, ran.stderr
    records, _ = _records(results)
    assert records["prior"]["model_path"] is None
    assert not (results / "models").exists() or not any((results / "models").iterdir())
    refused = cli("predict", "--results", str(results), "--method", "prior", "--trained-on", "tiny", "--on", "tiny")
    assert refused.returncode == 1
    assert "has no saved model" in refused.stderr and "--no-save-models" in refused.stderr


@pytest.mark.slow
def test_predict_cli_writes_the_models_probabilities_and_predictions(finished_run, tmp_path):
    output = tmp_path / "preds.csv"
    ran = cli("predict", "--results", str(finished_run), "--method", "br", "--trained-on", "tiny", "--seed", "0",
              "--on", "tiny", "--set", "tiny.seed=1", "--output", str(output))
    assert ran.returncode == 0, ran.stderr
    assert "20 samples of tiny predicted with job" in ran.stdout and "test miF1" in ran.stdout
    rows = list(csv.DictReader(io.StringIO(output.read_text())))
    new_test = make_tiny_dataset(seed=1).test
    records, _ = _records(finished_run)
    model = load_job_model(finished_run, records["br"]["key"])
    proba, predictions = model.predict_proba(new_test), model.predict(new_test)
    names = model.label_names_
    assert len(rows) == len(new_test) and {r["split"] for r in rows} == {"test"}
    assert [r["id"] for r in rows] == list(new_test.ids)
    got = np.array([[float(r[f"proba_{n}"]) for n in names] for r in rows])
    np.testing.assert_allclose(got, proba, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(np.array([[int(r[f"pred_{n}"]) for n in names] for r in rows]), predictions)

    by_key = cli("predict", "--results", str(finished_run), "--key", records["br"]["key"][:8], "--on", "tiny",
                 "--split", "all")
    assert by_key.returncode == 0, by_key.stderr
    assert len(by_key.stdout.strip().splitlines()) == 1 + 48 + 16 + 20  # header + train, valid, test


@pytest.mark.parametrize("setting, message", [
    ("tiny.q=5", r"its labels are \[.*'emotion_4'\], the model's are \[.*'emotion_3'\]"),
    ("tiny.dims=[8, 5, 4]", r"its modalities \(name: feature dim\) are \{.*'vision': 4\}, the model's are \{.*'vision': 3\}"),
])
def test_predict_cli_refuses_other_labels_or_modalities(finished_run, setting, message, capsys):
    import re

    from mmerbench.cli.main import main

    code = main(["predict", "--results", str(finished_run), "--method", "br", "--trained-on", "tiny", "--on", "tiny",
                 "--set", setting])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert re.search(message, captured.err), captured.err
    assert captured.out == ""


def test_check_compatible_names_each_difference():
    from dataclasses import replace

    model = mmerbench.make_method("prior").fit(make_tiny_dataset().train)
    check_compatible(model, make_tiny_dataset(seed=3))  # same labels and modalities: fine
    reordered = make_tiny_dataset()
    reordered = replace(reordered, label_names=list(reversed(reordered.label_names)))
    with pytest.raises(UsageError, match="its labels are in another order"):
        check_compatible(model, reordered)
    with pytest.raises(UsageError, match="it is single-label, the model is not"):
        check_compatible(model, make_tiny_dataset(single_label=True))
    renamed = make_tiny_dataset()
    renamed = replace(renamed, modalities={"words" if m == "text" else m: d for m, d in renamed.modalities.items()})
    with pytest.raises(UsageError, match=r"\{'words': 8"):
        check_compatible(model, renamed)


def test_find_job_explains_what_matches():
    records = [
        {"key": "aaa1", "status": "ok", "method": "br", "dataset": "tiny", "seed": 0},
        {"key": "aaa2", "status": "ok", "method": "br", "dataset": "tiny", "seed": 1},
        {"key": "bbb1", "status": "failed", "method": "lp", "dataset": "tiny", "seed": 0},
    ]
    assert find_job(records, method="br", trained_on="tiny", seed=1)["key"] == "aaa2"
    assert find_job(records, key="aaa1")["key"] == "aaa1"
    with pytest.raises(UsageError, match="2 finished jobs match br trained on tiny"):
        find_job(records, method="br", trained_on="tiny")
    with pytest.raises(UsageError, match="no finished job of lp trained on tiny.*br on tiny seed 0"):
        find_job(records, method="lp", trained_on="tiny")
    with pytest.raises(UsageError, match="no finished job with key 'aaa'"):
        find_job(records, key="aaa")  # a prefix of two keys
    with pytest.raises(UsageError, match="not both"):
        find_job(records, key="aaa1", method="br")


def test_predict_to_an_unwritable_output_is_a_clear_error(finished_run, tmp_path, capsys):
    from mmerbench.cli.main import main

    target = tmp_path / "no-such-folder" / "preds.csv"
    code = main(["predict", "--results", str(finished_run), "--method", "prior", "--trained-on", "tiny",
                 "--on", "tiny", "--output", str(target)])
    assert code == 2 and f"--output {target}: cannot be written" in capsys.readouterr().err


def test_save_models_is_on_by_default_and_off_by_flag_or_config(tmp_path):
    from mmerbench.cli.main import build_parser
    from mmerbench.config import RunConfig

    def options(*argv):
        return RunConfig.from_args(build_parser().parse_args(["run", "--methods", "prior", *argv]))

    assert options().save_models is True
    assert options("--no-save-models").save_models is False
    config = tmp_path / "run.toml"
    config.write_text("save_models = false\n")
    assert options("--config", str(config)).save_models is False


def test_the_record_says_where_the_model_is_or_null(tmp_path):
    from mmerbench.execution.runner import plan
    from mmerbench.execution.job_order import JobOrder
    from mmerbench.execution.worker import run_job

    jobs, _ = plan(["prior", "failing"], ["tiny"], [0])
    ok, failed = (run_job(JobOrder(job.to_dict(), str(tmp_path), 1, "cpu")) for job in jobs)
    assert ok["status"] == "ok" and ok["model_path"] == f"models/{ok['key']}"
    assert (tmp_path / ok["model_path"] / "mmerbench-model.json").is_file()
    assert failed["status"] == "failed" and failed["model_path"] is None
    unsaved = run_job(JobOrder(jobs[0].to_dict(), str(tmp_path / "other"), 1, "cpu", save_models=False))
    assert unsaved["status"] == "ok" and unsaved["model_path"] is None
    assert not (tmp_path / "other" / "models").exists()
