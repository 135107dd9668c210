"""Saved models: the format's safety (nothing is ever unpickled), its integrity checks, job-level saving.

The save -> load round trip of every built-in method is the contract suite's ``save_load`` check
(tests/core/testing/test_method_contract.py); this file covers what a hostile or damaged directory gets.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle

import numpy as np
import pytest

from mmerbench.api import make_method
from mmerbench.method import Method
from mmerbench.io.model_files import ModelFileError, sha256_of
from mmerbench.saved_models import ESTIMATORS, MANIFEST, WEIGHTS, load_method
from mmerbench.execution.job_models import job_model_dir, load_job_model, save_job_model
from mmerbench.testing.fixtures import make_tiny_dataset

MARKER_NAME = "payload-ran"


class Payload:
    """Unpickling it creates a marker file: proof that loading ran code."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


class RebuiltPayload:
    """Rebuilding it (skops calls __setstate__) creates a marker file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __setstate__(self, state):
        pathlib.Path(state["marker"]).touch()


@pytest.fixture(scope="module")
def data():
    return make_tiny_dataset()


@pytest.fixture(scope="module")
def fitted_br(data):
    return make_method("br").fit(data.train, data.valid)


@pytest.fixture(scope="module")
def fitted_lddu(data):
    from mmerbench.api import method_class

    params = {**method_class("lddu").test_params, "device": "cpu", "epochs": 1}
    return make_method("lddu", **params).fit(data.train, data.valid)


def _rewrite(directory, file, content: bytes) -> None:
    """Replace a data file and update its digest, so only the file's own reader can refuse it."""
    (directory / file).write_bytes(content)
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["files"][file] = sha256_of(directory / file)
    (directory / MANIFEST).write_text(json.dumps(manifest))


def _edit_manifest(directory, change) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    change(manifest)
    (directory / MANIFEST).write_text(json.dumps(manifest))


# --------------------------------------------------------------------------- hostile content is refused


def test_pickle_payload_in_place_of_weights_is_refused_and_never_runs(tmp_path, fitted_lddu):
    saved = fitted_lddu.save(tmp_path / "model")
    marker = tmp_path / MARKER_NAME
    assert pickle.loads(pickle.dumps(Payload(str(marker)))) is None and marker.exists()  # the payload works
    marker.unlink()
    _rewrite(saved, WEIGHTS, pickle.dumps(Payload(str(marker))))
    with pytest.raises(ModelFileError, match=r"weights\.safetensors"):
        Method.load(saved)
    assert not marker.exists()


def test_pickle_payload_in_place_of_extra_arrays_is_refused_and_never_runs(tmp_path, data):
    from mmerbench.saved_models import EXTRA_ARRAYS

    saved = make_method("prior").fit(data.train, data.valid).save(tmp_path / "model")
    marker = tmp_path / MARKER_NAME
    _rewrite(saved, EXTRA_ARRAYS, pickle.dumps(Payload(str(marker))))
    with pytest.raises(ModelFileError, match=r"extra_state\.safetensors: not a valid safetensors file"):
        Method.load(saved)
    assert not marker.exists()


def test_safetensors_with_a_bogus_header_is_refused(tmp_path, fitted_lddu):
    saved = fitted_lddu.save(tmp_path / "model")
    bogus = (10**12).to_bytes(8, "little") + b'{"__metadata__": "not what it says"}'
    _rewrite(saved, WEIGHTS, bogus)
    with pytest.raises(ModelFileError, match=r"weights\.safetensors.*(not a valid safetensors|cannot be loaded)"):
        Method.load(saved)


def test_skops_file_with_an_untrusted_type_is_refused_before_anything_is_built(tmp_path, fitted_br):
    import skops.io

    saved = fitted_br.save(tmp_path / "model")
    marker = tmp_path / MARKER_NAME
    hostile = tmp_path / "hostile.skops"
    skops.io.dump({"scaler_": None, "model_": RebuiltPayload(str(marker))}, hostile)
    skops.io.load(hostile, trusted=skops.io.get_untrusted_types(file=hostile))
    assert marker.exists()  # the payload works when its type is trusted
    marker.unlink()
    _rewrite(saved, ESTIMATORS, hostile.read_bytes())
    with pytest.raises(ModelFileError, match=r"not trusted.*test_saved_models\.RebuiltPayload"):
        Method.load(saved)
    assert not marker.exists()


def test_skops_file_naming_a_function_is_refused(tmp_path, fitted_br):
    import skops.io

    saved = fitted_br.save(tmp_path / "model")
    hostile = tmp_path / "hostile.skops"
    skops.io.dump({"scaler_": os.system, "model_": None}, hostile)
    _rewrite(saved, ESTIMATORS, hostile.read_bytes())
    with pytest.raises(ModelFileError, match=r"not trusted.*system"):
        Method.load(saved)


def test_pickle_in_place_of_a_skops_file_is_refused_and_never_runs(tmp_path, fitted_br):
    saved = fitted_br.save(tmp_path / "model")
    marker = tmp_path / MARKER_NAME
    _rewrite(saved, ESTIMATORS, pickle.dumps(Payload(str(marker))))
    with pytest.raises(ModelFileError, match=r"estimators\.skops: not a valid skops file"):
        Method.load(saved)
    assert not marker.exists()


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update({"py/object": "os.system"}), r"unknown key\(s\) \['py/object'\].*may name a class"),
    (lambda m: m.update({"method": "os:system"}), r"saved by method 'os:system', which is not installed"),
    (lambda m: m.update({"method": "subprocess.Popen"}), r"'subprocess.Popen', which is not installed"),
    (lambda m: m["files"].update({"model.pkl": "0" * 64}), r"lists file\(s\) \['model.pkl'\]"),
    (lambda m: m.update({"format_version": 99}), r"format_version 99 .*upgrade mmerbench"),
    (lambda m: m.update({"format": "pickle"}), r"format is 'pickle'"),
    (lambda m: m.update({"method_version": "0"}), r"saved by br version 0, but the installed br is version 1"),
    (lambda m: m["params"].update({"not_a_param": 1}), r"hyperparameter\(s\) \['not_a_param'\] are not br's"),
    (lambda m: m.pop("params"), r"missing key\(s\) \['params'\]"),
])
def test_a_manifest_that_names_classes_or_is_malformed_is_refused(tmp_path, fitted_br, change, message):
    saved = fitted_br.save(tmp_path / "model")
    _edit_manifest(saved, change)
    with pytest.raises(ModelFileError, match=message):
        Method.load(saved)


def test_a_changed_data_file_is_refused(tmp_path, fitted_br):
    saved = fitted_br.save(tmp_path / "model")
    with open(saved / ESTIMATORS, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelFileError, match=r"estimators\.skops: its SHA-256 differs"):
        Method.load(saved)


def test_a_directory_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match=r"no saved model here \(mmerbench-model\.json is missing\)"):
        Method.load(tmp_path)


def test_loading_through_a_subclass_refuses_another_methods_model(tmp_path, fitted_br):
    from mmerbench.api import method_class

    saved = fitted_br.save(tmp_path / "model")
    with pytest.raises(ModelFileError, match=r"holds a 'br' model"):
        method_class("lddu").load(saved)
    assert type(method_class("br").load(saved)) is type(fitted_br)


def test_unfitted_method_cannot_be_saved(tmp_path):
    with pytest.raises(Exception, match="not fitted"):
        make_method("prior").save(tmp_path / "model")


# --------------------------------------------------------------------------- what is saved


def test_saved_files_are_only_json_safetensors_and_skops(tmp_path, fitted_br, fitted_lddu):
    torch_dir = fitted_lddu.save(tmp_path / "lddu")
    sklearn_dir = fitted_br.save(tmp_path / "br")
    assert sorted(p.name for p in torch_dir.iterdir()) == [MANIFEST, WEIGHTS]
    assert sorted(p.name for p in sklearn_dir.iterdir()) == [ESTIMATORS, MANIFEST]
    manifest = json.loads((torch_dir / MANIFEST).read_text())
    assert manifest["format"] == "mmerbench-model" and manifest["format_version"] == 1
    assert manifest["method"] == "lddu" and manifest["params"]["latent"] == fitted_lddu.latent
    assert manifest["train_schema"]["modalities"]["text"] == {"dim": 8, "steps": 6}


def test_an_estimator_instance_hyperparameter_travels_in_the_skops_file(tmp_path, data):
    from sklearn.linear_model import LogisticRegression

    fitted = make_method("br", estimator=LogisticRegression(C=0.5, max_iter=200)).fit(data.train, data.valid)
    saved = fitted.save(tmp_path / "model")
    assert json.loads((saved / MANIFEST).read_text())["params"]["estimator"] is None
    loaded = Method.load(saved)
    assert isinstance(loaded.estimator, LogisticRegression) and loaded.estimator.C == 0.5
    np.testing.assert_array_equal(loaded.predict_proba(data.test), fitted.predict_proba(data.test))


def test_per_label_thresholds_round_trip(tmp_path, data):
    fitted = make_method("br", threshold="valid-per-label").fit(data.train, data.valid)
    loaded = Method.load(fitted.save(tmp_path / "model"))
    assert isinstance(loaded.threshold_, np.ndarray)
    np.testing.assert_array_equal(loaded.threshold_, fitted.threshold_)
    np.testing.assert_array_equal(loaded.predict(data.test), fitted.predict(data.test))


def test_lddu_queue_and_history_round_trip_for_checkpoints(tmp_path, data, fitted_lddu):
    import torch

    method = Method.load(fitted_lddu.save(tmp_path / "fitted"))
    assert not hasattr(method, "queue_") and not hasattr(method, "history_")  # fit drops training state
    method.on_fit_start(method.model_, data.train)  # what a checkpoint mid-fit holds
    generator = torch.Generator().manual_seed(0)
    capacity = method.queue_.capacity
    method.queue_.enqueue(torch.randn(capacity + 5, method.queue_.dim, generator=generator),
                          torch.randint(0, 9, (capacity + 5,), generator=generator))  # wrapped around
    index = torch.arange(10)
    method.history_.record(index, torch.rand(10, data.train.n_labels, generator=generator),
                           torch.ones(10, data.train.n_labels))
    method.history_.end_epoch()
    method.history_.record(index[:4], torch.rand(4, data.train.n_labels, generator=generator),
                           torch.zeros(4, data.train.n_labels))
    restored = Method.load(method.save(tmp_path / "checkpoint"))
    for a, b in zip(method.queue_.contents(ordered=True), restored.queue_.contents(ordered=True)):
        assert torch.equal(a, b)
    for name in ("correct", "epochs", "_epoch_correct", "_epoch_seen"):
        assert torch.equal(getattr(method.history_, name), getattr(restored.history_, name)), name
    assert torch.equal(method.history_.rate(index), restored.history_.rate(index))


# --------------------------------------------------------------------------- job-level saving


def test_save_job_model_replaces_atomically_and_leaves_no_temporary(tmp_path, data, fitted_br):
    first = save_job_model(tmp_path, "abc123abc123abc123ab", make_method("prior").fit(data.train, data.valid))
    second = save_job_model(tmp_path, "abc123abc123abc123ab", fitted_br)
    assert first == second == job_model_dir(tmp_path, "abc123abc123abc123ab")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["abc123abc123abc123ab"]
    loaded = load_job_model(tmp_path, "abc123abc123abc123ab")
    assert loaded.name == "br"
    np.testing.assert_array_equal(loaded.predict_proba(data.test), fitted_br.predict_proba(data.test))


def test_load_job_model_without_a_model_says_why(tmp_path):
    with pytest.raises(ModelFileError, match=r"job deadbeefdeadbeefdead has no saved model.*--no-save-models"):
        load_job_model(tmp_path, "deadbeefdeadbeefdead")
    with pytest.raises(ModelFileError, match=r"job key '\.\./x' is not valid"):
        load_job_model(tmp_path, "../x")


def test_load_method_puts_a_torch_model_on_the_requested_device(tmp_path, fitted_lddu):
    loaded = load_method(fitted_lddu.save(tmp_path / "model"), device="cpu")
    assert str(loaded.device_) == "cpu" and next(loaded.model_.parameters()).device.type == "cpu"


def test_a_model_fitted_on_a_gpu_loads_on_the_cpu_when_there_is_none():
    import torch

    from mmerbench.training import load_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert load_device(None, "cuda:0") == torch.device("cpu")
    assert load_device(None, "cpu") == torch.device("cpu")
    assert load_device("cpu", "cuda:1") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        load_device("cuda:0", "cpu")


class ObjectParam(Method):
    """A method whose hyperparameter is a function: JSON cannot hold it."""

    name = "object-param"

    def __init__(self, transform=np.tanh, threshold="valid"):
        self.transform = transform
        self.threshold = threshold

    def _fit(self, train, valid):
        self.mean_ = self.transform(np.asarray(train.labels, dtype=float).mean(axis=0))

    def _predict_proba(self, split):
        return np.tile(self.mean_, (len(split), 1))


def test_a_model_that_cannot_be_saved_leaves_the_job_valid_and_says_why(tmp_path, data):
    from mmerbench.execution.job_models import save_model_for_record

    fitted = ObjectParam().fit(data.train, data.valid)
    fields = save_model_for_record(tmp_path, "a1a1a1a1a1a1a1a1a1a1", fitted)
    assert fields["model_path"] is None
    assert "hyperparameters of object-param['transform'] is a numpy.ufunc" in fields["model_error"]
    assert not (tmp_path / "models" / "a1a1a1a1a1a1a1a1a1a1").exists()
    assert not [p for p in (tmp_path / "models").iterdir()], "a temporary directory was left behind"
    assert save_model_for_record(tmp_path, "a2a2a2a2a2a2a2a2a2a2", fitted, enabled=False) == {"model_path": None}


@pytest.mark.parametrize("name, estimator", [("br", "svc"), ("br", "rf"), ("cc", "rf"), ("lp", "svc")])
def test_every_named_base_learner_round_trips(tmp_path, data, name, estimator):
    params = {"estimator_params": {"n_estimators": 5}} if estimator == "rf" else {}
    fitted = make_method(name, estimator=estimator, **params).fit(data.train, data.valid)
    loaded = Method.load(fitted.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_proba(data.test), fitted.predict_proba(data.test))
