"""The restricted unpickler: refuses code, reads numpy 1/2, Python 2, torch zip and legacy files."""

from __future__ import annotations

import argparse
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from mmerbench.io import safe_pickle
from mmerbench.errors import DataError
from mmerbench.io.safe_pickle import UnsafePickleError, load_pickle
from mmerbench.io.safe_torch import load_torch_file


class Payload:
    """Pickles to a call of os.system that would create a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_executing_pickle_is_refused_names_the_global_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"train": {"text": np.zeros(3), "x": Payload(marker)}}))
    with pytest.raises(UnsafePickleError, match=r"refused .*(posix|os)\.system") as info:
        load_pickle(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("zip_format", [True, False])
def test_code_executing_payload_inside_a_pt_is_refused(tmp_path, zip_format):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"train": {"tgt": [[2, 4, 3]]}, "hook": Payload(marker)}, path,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(UnsafePickleError, match="system"):
        load_torch_file(path)
    assert not marker.exists()


def test_other_dangerous_globals_are_refused():
    for payload in (b"cbuiltins\neval\n(S'1'\ntR.", b"c__builtin__\ngetattr\n.", b"csubprocess\nPopen\n."):
        with pytest.raises(UnsafePickleError, match="refused"):
            safe_pickle.loads(payload)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_containers_and_namespace_round_trip(tmp_path, protocol, monkeypatch):
    monkeypatch.setattr(safe_pickle, "SPAN_THRESHOLD", 1024)  # exercise the memory-mapped path on small data
    big = np.random.default_rng(0).normal(size=(200, 100)).astype(np.float32)  # > 64 KiB: outside pickle frames
    fortran = np.asfortranarray(big[:, :7])
    data = {"train": {"text": big, "fortran": fortran, "list": [big[:2], big[:2]], "tgt": [[2, 4, 3]],
                      "ids": np.array(["a", "b"]), "scalar": np.float64(1.5)},
            "settings": argparse.Namespace(max_len=60), "same": None}
    data["same"] = data["train"]["text"]  # a memoized reference to the same array
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    out = load_pickle(path)
    np.testing.assert_array_equal(out["train"]["text"], big)
    np.testing.assert_array_equal(out["train"]["fortran"], fortran)
    np.testing.assert_array_equal(out["same"], big)
    assert out["same"] is out["train"]["text"]
    assert out["train"]["list"][1].shape == (2, 100) and out["train"]["tgt"] == [[2, 4, 3]]
    assert out["settings"] == {"max_len": 60} and type(out["settings"]) is dict  # Namespaces become dicts
    assert out["train"]["scalar"] == 1.5 and out["train"]["ids"] == ["a", "b"]  # string arrays become lists
    if protocol >= 3:  # raw bytes in the file: mapped, not read
        assert isinstance(out["train"]["text"], np.memmap)


def _python2_pickle(array: np.ndarray) -> bytes:
    """What Python 2 + numpy 1 wrote: protocol 0/2 text opcodes, numpy.core names, a latin-1 str payload."""
    raw = array.astype("<f4").tobytes()
    shape = b"(" + b"".join(b"I%d\n" % s for s in array.shape) + b"t"
    return (b"(dp0\nS'train'\np1\n"
            b"cnumpy.core.multiarray\n_reconstruct\np2\n(cnumpy\nndarray\np3\n(I0\ntp4\nS'b'\np5\ntp6\nRp7\n"
            b"(I1\n" + shape + b"cnumpy\ndtype\np8\n(S'f4'\np9\nI0\nI1\ntp10\nRp11\n"
            b"(I3\nS'<'\np12\nNNNI-1\nI-1\nI0\ntp13\nbI00\n"
            + b"T" + struct.pack("<i", len(raw)) + raw + b"tp14\nbs.")


@pytest.mark.parametrize("threshold", [1 << 30, 16])
def test_python2_numpy1_pickle_reads_with_latin1(tmp_path, monkeypatch, threshold):
    monkeypatch.setattr(safe_pickle, "SPAN_THRESHOLD", threshold)
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 1.7 + 200  # bytes >= 128 need latin-1
    path = tmp_path / "py2.pkl"
    path.write_bytes(_python2_pickle(array))
    np.testing.assert_array_equal(load_pickle(path)["train"], array)
    np.testing.assert_array_equal(pickle.loads(path.read_bytes(), encoding="latin1")["train"], array)


@pytest.mark.parametrize("zip_format", [True, False])
def test_torch_files_zip_and_legacy_tensors_become_numpy(tmp_path, zip_format):
    base = torch.arange(24.0).reshape(4, 6)
    data = {"train": {"src-text": base[:, 1:4], "src-audio": [torch.ones(2, 2) * i for i in range(3)],
                      "src-visual": np.ones((2, 5), dtype=np.float32), "tgt": [[2, 5, 3]],
                      "long": torch.tensor([1, 2, 3])},
            "settings": argparse.Namespace(d_model=512), "dict": {"tgt": {"<s>": 2}}}
    path = tmp_path / "x.pt"
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    out = load_torch_file(path)
    np.testing.assert_array_equal(out["train"]["src-text"], base[:, 1:4].numpy())
    np.testing.assert_array_equal(out["train"]["src-audio"][2], np.full((2, 2), 2.0))
    assert out["train"]["long"].dtype == np.int64 and out["settings"] == {"d_model": 512}


def test_truncated_and_non_pickle_files_are_clear_errors(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.zeros((500, 500))}, protocol=4)[:-5000])
    with pytest.raises(DataError, match="truncated"):
        load_pickle(path)
    pt = tmp_path / "cut.pt"
    torch.save({"a": torch.zeros(1000)}, pt, _use_new_zipfile_serialization=False)
    pt.write_bytes(pt.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        load_torch_file(pt)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a torch.save file"):
        load_torch_file(text)
