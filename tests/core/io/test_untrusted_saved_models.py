"""Issue 20, "Saved models": a saved model from someone else is untrusted input.

Each row edits a real saved model as the issue describes. On main a NaN threshold loaded (and scored every
condition 0.000), NaN weights loaded and passed the reproduce check, tensors relabelled I32 loaded and
predicted garbage, a 3 GiB manifest or a huge skops member was read whole, and a malformed schema or
hyperparameter ended in a traceback.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

from mmerbench.api import make_method, method_class
from mmerbench.io.model_files import ModelFileError, sha256_of
from mmerbench.saved_models import MANIFEST, load_method
from mmerbench.testing.fixtures import make_tiny_dataset


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved deep model (safetensors weights) and a saved classical one (skops), fitted once."""
    data = make_tiny_dataset(n_train=24, n_valid=8, n_test=8, q=3)
    root = tmp_path_factory.mktemp("saved")
    deep = make_method("lddu", **{**method_class("lddu").test_params, "device": "cpu", "epochs": 1})
    deep.fit(data.train, data.valid).save(root / "deep")
    make_method("br").fit(data.train, data.valid).save(root / "classical")
    return root


def _manifest(directory, edit):
    path = directory / MANIFEST
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _reseal(directory, file):
    """Give the manifest the file's new SHA-256, as an attacker would."""
    _manifest(directory, lambda m: m["files"].__setitem__(file, sha256_of(directory / file)))


def _rewrite_tensor(directory, change_header=None, change_bytes=None):
    """Edit weights.safetensors: its JSON header (dtype labels) or the bytes of its first float tensor."""
    path = directory / "weights.safetensors"
    raw = bytearray(path.read_bytes())
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    name = next(n for n, v in header.items() if n != "__metadata__" and v["dtype"] == "F32")
    if change_header:
        header[name]["dtype"] = change_header
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (size - len(text))
        assert len(text) == size, "the header must keep its length"
        raw[8:8 + size] = text
    if change_bytes:
        start, end = header[name]["data_offsets"]
        raw[8 + size + start:8 + size + end] = np.full((end - start) // 4, change_bytes, "<f4").tobytes()
    path.write_bytes(bytes(raw))
    _reseal(directory, "weights.safetensors")


def _huge_file(path, size=3 * 1024 ** 3):
    with open(path, "r+b" if path.exists() else "wb") as handle:
        handle.truncate(size)  # sparse: nothing is really written


def _huge_skops_member(directory):
    """Claim in the zip's central directory that schema.json expands to ~4 GiB."""
    path = directory / "estimators.skops"
    raw = bytearray(path.read_bytes())
    entry = raw.find(b"PK\x01\x02")
    while entry != -1:
        name_length = struct.unpack("<H", raw[entry + 28:entry + 30])[0]
        if raw[entry + 46:entry + 46 + name_length] == b"schema.json":
            raw[entry + 24:entry + 28] = struct.pack("<I", 0xFFFFFF00)
        entry = raw.find(b"PK\x01\x02", entry + 4)
    path.write_bytes(bytes(raw))
    _reseal(directory, "estimators.skops")


ATTACKS = [
    pytest.param("deep", lambda d: _manifest(d, lambda m: m["fitted"].__setitem__("threshold", float("nan"))),
                 "threshold nan is not a finite number", id="nan-threshold"),
    pytest.param("classical", lambda d: _manifest(d, lambda m: m["fitted"].__setitem__("threshold", [0.5, "NaN", 1])),
                 "expected a number or a list of numbers|finite", id="nan-in-per-label-thresholds"),
    pytest.param("deep", lambda d: _rewrite_tensor(d, change_bytes=float("nan")), "not finite",
                 id="nan-weights"),
    pytest.param("deep", lambda d: _rewrite_tensor(d, change_header="I32"), r"is I32 .*the model's is F32",
                 id="tensor-relabelled-i32"),
    pytest.param("deep", lambda d: _huge_file(d / MANIFEST), "more than the .* such a file ever needs",
                 id="3-GiB-manifest"),
    pytest.param("deep", lambda d: (_huge_file(d / "weights.safetensors", 512 * 1024 ** 2),
                                    _reseal(d, "weights.safetensors")),
                 "the model's tensors need", id="weights-file-far-larger-than-the-model"),
    pytest.param("classical", _huge_skops_member, "member 'schema.json' expands to", id="huge-skops-schema"),
    pytest.param("deep", lambda d: _manifest(d, lambda m: m.__setitem__("train_schema", {"modalities": "x"})),
                 "train_schema must be an object", id="malformed-schema"),
    pytest.param("deep", lambda d: _manifest(d, lambda m: m["train_schema"]["modalities"]["text"].__setitem__(
        "dim", 10 ** 12)), r"text.dim is .* not an integer in", id="schema-dim-of-a-trillion"),
    pytest.param("deep", lambda d: _manifest(d, lambda m: m["params"].__setitem__("epochs", "many")),
                 "hyperparameter lddu.epochs must be an integer", id="malformed-hyperparameter"),
]


@pytest.mark.parametrize("which, attack, message", ATTACKS)
def test_a_saved_model_from_someone_else_is_checked_before_it_is_used(saved, tmp_path, which, attack, message):
    import shutil

    directory = tmp_path / which
    shutil.copytree(saved / which, directory)
    attack(directory)
    with pytest.raises(ModelFileError, match=message):
        load_method(directory)


def test_the_reproduce_check_fails_on_nan(tmp_path):
    from mmerbench.execution.reevaluate import _check_reproduces

    class Store:
        def load_predictions(self, key):
            return {"test_proba": np.full((3, 2), 0.5, dtype=np.float32)}

    with pytest.raises(RuntimeError, match="does not reproduce"):
        _check_reproduces({"key": "k"}, Store(), np.full((3, 2), np.nan, dtype=np.float32))
    _check_reproduces({"key": "k"}, Store(), np.full((3, 2), 0.5, dtype=np.float32))  # equal: passes
    assert os.path.exists(tmp_path)
