"""Issue 20, "Checkpoints": a checkpoint folder is input like any other file of a shared results folder.

Each row is an attack from the issue, applied to a real checkpoint (LDDU interrupted after epoch 1). On main
a linked folder was written into and its epoch folders deleted, weights were loaded from outside the
results folder, an epoch of -1000000 trained "forever" and one of 1e12 stored a job with no training,
weights that did not fit failed each retry with no hint, and `run --no-resume` resumed.
"""

from __future__ import annotations

import json
import shutil

import pytest

from mmerbench.api import make_method, method_class
from mmerbench.execution.checkpoints import CHECKPOINTS_DIR, JobCheckpoints, checkpoint_dir
from mmerbench.io.model_files import ModelFileError
from mmerbench.testing.fixtures import make_tiny_dataset

PARAMS = dict(method_class("lddu").test_params, device="cpu", epochs=3, patience=10)
KEY = "c0ffee" * 3 + "00"


class Interrupted(Exception):
    pass


@pytest.fixture(scope="module")
def dataset():
    return make_tiny_dataset(n_train=24, n_valid=8, n_test=8, q=3)


def fit(dataset, directory, stop_after=None, **params):
    method = make_method("lddu", **{**PARAMS, **params})
    method._checkpoints = checkpoints = JobCheckpoints(directory, KEY)
    if stop_after is not None:
        save = checkpoints.save

        def save_then_stop(done, **state):
            save(done, **state)
            if done == stop_after:
                raise Interrupted

        checkpoints.save = save_then_stop
    method.fit(dataset.train, dataset.valid)
    return method


@pytest.fixture(scope="module")
def template(dataset, tmp_path_factory):
    """A valid checkpoint of epoch 1, copied for each attack."""
    directory = tmp_path_factory.mktemp("template") / KEY
    with pytest.raises(Interrupted):
        fit(dataset, directory, stop_after=1)
    return directory


def _edit_state(directory, **changes):
    state_path = directory / "epoch-0001" / "state.json"
    state = json.loads(state_path.read_text())
    for name, value in changes.items():
        if name.startswith("loop."):
            state["loop"][name[5:]] = value
        else:
            state[name] = value
    state_path.write_text(json.dumps(state))


def _point_to(directory, target):
    (directory / "latest.json").write_text(json.dumps({"epoch": 1, "directory": str(target)}))


def _other_weights(directory, dataset):
    """The tensors of a model with another hidden size: names equal, shapes not."""
    other = directory.parent / "other"
    with pytest.raises(Interrupted):
        fit(dataset, other, stop_after=1, **{"hidden": 24} if "hidden" in PARAMS else {"d_model": 24})
    shutil.copy(other / "epoch-0001" / "tensors.safetensors", directory / "epoch-0001" / "tensors.safetensors")


def _outside_copy(directory):
    outside = directory.parent / "elsewhere"
    shutil.copytree(directory / "epoch-0001", outside)
    return outside


ATTACKS = [
    pytest.param(lambda d, data: _point_to(d, _outside_copy(d)), "not an epoch-NNNN folder",
                 id="latest-points-to-an-absolute-folder-elsewhere"),
    pytest.param(lambda d, data: (_outside_copy(d), _point_to(d, "../elsewhere")), "not an epoch-NNNN folder",
                 id="latest-points-up-and-out"),
    pytest.param(lambda d, data: _edit_state(d, epoch=-1000000), r"epoch '-1000000' is not an epoch of this job",
                 id="negative-epoch-trains-forever"),
    pytest.param(lambda d, data: _edit_state(d, epoch=1e12), r"epoch '1000000000000.0' is not an epoch of this job",
                 id="epoch-1e12-skips-training"),
    pytest.param(lambda d, data: _edit_state(d, epoch=99), r"epoch '99' is not an epoch of this job",
                 id="epoch-beyond-the-jobs-epochs"),
    pytest.param(lambda d, data: _edit_state(d, **{"loop.best_score": float("nan")}), "not a finite number",
                 id="nan-best-score"),
    pytest.param(_other_weights, r"is torch.float32 \(8, 24\), the model has", id="weights-that-do-not-fit-the-model"),
]


@pytest.mark.parametrize("attack, message", ATTACKS)
def test_a_checkpoint_is_contained_and_validated_before_it_is_resumed(dataset, template, tmp_path, attack,
                                                                      message):
    directory = tmp_path / KEY
    shutil.copytree(template, directory)
    attack(directory, dataset)
    with pytest.raises(ModelFileError, match=message) as refused:
        fit(dataset, directory)
    assert f"Delete {directory}" in str(refused.value) or f"delete {directory}" in str(refused.value)


def test_a_linked_checkpoint_folder_is_refused_and_the_linked_folder_kept(dataset, tmp_path):
    victim = tmp_path / "victim"
    (victim / "epoch-0042").mkdir(parents=True)
    (victim / "epoch-0042" / "precious.txt").write_text("keep me")
    results = tmp_path / "results"
    (results / CHECKPOINTS_DIR).mkdir(parents=True)
    (results / CHECKPOINTS_DIR / KEY).symlink_to(victim, target_is_directory=True)
    with pytest.raises(ModelFileError, match="symbolic link"):
        checkpoint_dir(results, KEY)
    with pytest.raises(ModelFileError, match="symbolic link"):
        fit(dataset, results / CHECKPOINTS_DIR / KEY)  # even when handed the linked path directly
    assert (victim / "epoch-0042" / "precious.txt").read_text() == "keep me"


def test_no_resume_discards_the_jobs_kept_checkpoints(testing_plugin, tmp_path):
    import mmerbench

    results = tmp_path / "results"
    first = mmerbench.run(["prior"], ["tiny"], [0], results=results)
    key = first.records[0]["key"]
    kept = checkpoint_dir(results, key)
    (kept / "epoch-0003").mkdir(parents=True)  # what --keep-checkpoints leaves after a deep job
    (kept / "latest.json").write_text(json.dumps({"epoch": 3, "directory": "epoch-0003"}))
    again = mmerbench.run(["prior"], ["tiny"], [0], results=results, resume=False)
    assert [r["status"] for r in again.records] == ["ok"]
    assert not kept.exists(), "a forced re-run must train afresh, not resume a kept checkpoint"
