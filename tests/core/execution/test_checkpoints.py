"""Per-epoch checkpoints: a fit interrupted after epoch N resumes there and ends bit-identical."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmerbench.api import make_method, method_class
from mmerbench.execution.checkpoints import JobCheckpoints, latest_epoch
from mmerbench.io.model_files import ModelFileError
from mmerbench.testing.fixtures import make_tiny_dataset

# LDDU with its queue and correctness history (extra_state), a warm-up + cosine scheduler and AdamW.
PARAMS = dict(method_class("lddu").test_params, device="cpu", epochs=4, patience=10, optimizer="adamw")


class Interrupted(Exception):
    pass


def interrupt_after(method, epoch: int):
    """Make ``method`` stop (as a kill would) right after epoch ``epoch``'s checkpoint is written."""
    save = method._checkpoints.save

    def save_then_stop(done, **state):
        save(done, **state)
        if done == epoch:
            raise Interrupted

    method._checkpoints.save = save_then_stop


@pytest.fixture(scope="module")
def dataset():
    return make_tiny_dataset(n_train=40, n_valid=16, n_test=16, q=4)


def fitted(dataset, checkpoints=None, stop_after=None):
    method = make_method("lddu", **PARAMS)
    if checkpoints is not None:
        method._checkpoints = checkpoints
        if stop_after is not None:
            interrupt_after(method, stop_after)
    method.fit(dataset.train, dataset.valid)
    return method


def test_a_resumed_fit_is_bit_identical_to_an_uninterrupted_one(dataset, tmp_path):
    reference = fitted(dataset)
    checkpoints = JobCheckpoints(tmp_path / "ckpt", "job")
    with pytest.raises(Interrupted):
        fitted(dataset, checkpoints, stop_after=2)
    assert latest_epoch(tmp_path / "ckpt") == 2
    resumed = fitted(dataset, JobCheckpoints(tmp_path / "ckpt", "job"))
    assert resumed.fit_info_["resumed_from_epoch"] == 2
    assert np.array_equal(resumed.predict_proba(dataset.test), reference.predict_proba(dataset.test))
    assert resumed.fit_info_["best_epoch"] == reference.fit_info_["best_epoch"]
    assert [row["train_loss"] for row in resumed.fit_info_["curve"]] == \
        [row["train_loss"] for row in reference.fit_info_["curve"]]


def test_an_epoch_written_only_in_part_is_ignored(dataset, tmp_path):
    checkpoints = JobCheckpoints(tmp_path / "ckpt", "job")
    with pytest.raises(Interrupted):
        fitted(dataset, checkpoints, stop_after=1)
    # A kill while epoch 2 was being written: its directory exists, the pointer still names epoch 1.
    (tmp_path / "ckpt" / "epoch-0002").mkdir()
    (tmp_path / "ckpt" / "epoch-0002" / "state.json").write_text("{trunc")
    resumed = fitted(dataset, JobCheckpoints(tmp_path / "ckpt", "job"))
    assert resumed.fit_info_["resumed_from_epoch"] == 1
    assert sorted(p.name for p in (tmp_path / "ckpt").glob("epoch-*")) == ["epoch-0004"]


def test_a_checkpoint_of_another_job_is_refused_with_its_directory(dataset, tmp_path):
    with pytest.raises(Interrupted):
        fitted(dataset, JobCheckpoints(tmp_path / "ckpt", "job-a"), stop_after=1)
    with pytest.raises(ModelFileError, match="for job 'job-a', expected .* 'job-b'; delete .*ckpt"):
        fitted(dataset, JobCheckpoints(tmp_path / "ckpt", "job-b"))


def test_checkpoint_files_hold_no_pickle(dataset, tmp_path):
    with pytest.raises(Interrupted):
        fitted(dataset, JobCheckpoints(tmp_path / "ckpt", "job"), stop_after=1)
    files = sorted(p.name for p in (tmp_path / "ckpt" / "epoch-0001").iterdir())
    assert files == ["state.json", "tensors.safetensors"]
    state = json.loads((tmp_path / "ckpt" / "epoch-0001" / "state.json").read_text())
    assert {"queue_capacity", "queue_dim"} <= set(state["extra_json"])  # LDDU's extra_state is in it
    from safetensors.torch import load_file

    names = set(load_file(str(tmp_path / "ckpt" / "epoch-0001" / "tensors.safetensors")))
    assert {"rng/torch", "extra/history_correct", "extra/queue_embeddings"} <= names
    assert any(name.startswith("optimizer/") for name in names)
