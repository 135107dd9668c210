"""Crafted pickles and .pt files that use only allowed names: each is read into plain data or refused.

Every load runs in a child process with a 3 GB address-space limit and a
timeout, so a segmentation fault, a memory bomb or a hang fails the test
instead of taking pytest (or the machine) down with it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest

from mmerbench.io import safe_pickle

CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    import numpy as np
    from mmerbench.errors import DataError
    from mmerbench.io.safe_pickle import load_pickle
    from mmerbench.io.safe_torch import load_torch_file
    path, kind, check = sys.argv[1:4]
    try:
        value = (load_torch_file if kind == "pt" else load_pickle)(path)
    except DataError as exc:
        print(json.dumps({"refused": type(exc).__name__, "message": str(exc)}))
    else:
        print(json.dumps({"loaded": eval(check, {"np": np, "value": value})}))
""")


def load_in_child(path, kind="pkl", check="type(value).__name__", env=None) -> dict:
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    child = subprocess.run([sys.executable, "-c", CHILD, str(path), kind, check], capture_output=True, text=True,
                           timeout=120, env=environment)
    assert child.returncode == 0, f"the loader crashed (exit {child.returncode}): {child.stderr[-2000:]}"
    return json.loads(child.stdout.strip().splitlines()[-1])


def assert_refused(outcome: dict, *phrases: str) -> None:
    assert "refused" in outcome, f"loaded instead of refused: {outcome}"
    for phrase in phrases:
        assert phrase in outcome["message"], outcome["message"]


# --------------------------------------------------------------------------- a tiny pickle assembler


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def integer(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


PROTO2, STOP, MARK, TUPLE, REDUCE, BUILD = b"\x80\x02", b".", b"(", b"t", b"R", b"b"


def pickle_file(tmp_path, data: bytes, name="evil.pkl"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def torch_save(tmp_path, value, zip_format=True, name="evil.pt"):
    torch = pytest.importorskip("torch")
    path = tmp_path / name
    torch.save(value, path, _use_new_zipfile_serialization=zip_format)
    return path


# --------------------------------------------------------------------------- the allow-list


def test_the_allow_list_is_exactly_this():
    # Any numpy.* name would admit functions that run code (numpy.testing's runstring calls exec):
    # growing this list must be a deliberate change of this test.
    assert set(safe_pickle.ALLOWED_GLOBALS) == {
        ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"), ("builtins", "frozenset"),
        ("builtins", "dict"), ("builtins", "int"), ("builtins", "float"), ("builtins", "complex"),
        ("builtins", "bool"), ("builtins", "str"), ("builtins", "bytes"), ("builtins", "bytearray"),
        ("builtins", "object"), ("copyreg", "_reconstructor"), ("_codecs", "encode"),
        ("collections", "OrderedDict"), ("collections", "defaultdict"), ("argparse", "Namespace"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
    }
    import mmerbench.io.safe_torch  # noqa: F401 (fills TORCH_GLOBALS)

    storages = {"FloatStorage", "DoubleStorage", "HalfStorage", "LongStorage", "IntStorage", "ShortStorage",
                "CharStorage", "ByteStorage", "BoolStorage"}
    assert set(safe_pickle.TORCH_GLOBALS) == {("torch._utils", "_rebuild_tensor_v2"),
                                              ("torch._utils", "_rebuild_tensor")} | {("torch", s) for s in storages}


@pytest.mark.parametrize("module, name", [
    ("numpy", "load"), ("numpy.testing._private.utils", "runstring"), ("numpy.core.multiarray", "frombuffer"),
    ("numpy.dtypes", "Float64DType"), ("builtins", "range"), ("builtins", "getattr"),
    ("torch._utils", "_rebuild_tensor_v2"),  # only inside .pt files
])
def test_names_outside_the_list_are_refused_by_name(module, name):
    with pytest.raises(safe_pickle.UnsafePickleError, match=rf"refused .*{module}\.{name}"):
        safe_pickle.loads(PROTO2 + glob(module, name) + STOP)


# --------------------------------------------------------------------------- objects the file describes


def test_a_namespace_with_an_array_interface_becomes_a_plain_dict(tmp_path):
    # np.asarray(namespace) would read 8000 bytes at this address: the process's own memory.
    evil = argparse.Namespace(__array_interface__={"data": (id(object()), False), "shape": (1000,),
                                                   "typestr": "<f8", "version": 3})
    path = pickle_file(tmp_path, pickle.dumps({"train": {"text": evil}}, protocol=2))
    outcome = load_in_child(path, check="[type(value['train']['text']).__name__, "
                                        "str(np.asarray(value['train']['text']).dtype)]")
    assert outcome["loaded"] == ["dict", "object"]


def test_a_namespace_attack_through_data_import_is_a_clear_error_and_writes_nothing(tmp_path):
    evil = argparse.Namespace(__array_interface__={"data": (id(object()), False), "shape": (4, 2, 2),
                                                   "typestr": "<f4", "version": 3})
    split = {"text": evil, "audio": evil, "vision": evil, "regression_labels": np.zeros(4)}
    path = pickle_file(tmp_path, pickle.dumps({"train": split, "valid": split, "test": split}, protocol=4))
    out = tmp_path / "out.h5"
    command = [sys.executable, "-c", "import sys; from mmerbench.cli.main import main; sys.exit(main())",
               "data", "import", "cmu-mosi", "--source", str(path), "--output", str(out)]
    child = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert child.returncode not in (0,) and child.returncode > 0, child.stderr
    assert "expected an array or a list of arrays, found dict" in child.stderr
    assert "Traceback" not in child.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.h5.tmp-*"))


class _ArrayState:
    """Pickles like numpy's ndarray, with a state the test chooses."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        from numpy.core.multiarray import _reconstruct

        return _reconstruct, (np.ndarray, (0,), b"b"), self.state


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("state, phrase", [
    ((1, (4,), np.dtype(object), False, b"\x41" * 32), "object array"),  # raw bytes read as object pointers
    ((1, (2,), np.dtype([("a", "O")]), False, b"\x41" * 16), "refused the dtype"),  # a structured layout
    ((1, (2,), np.dtype("M8[ns]"), False, b"\x41" * 16), "refused the dtype"),
    ((1, (10 ** 9,), np.dtype("f8"), False, b"\x00" * 16), "needs 8000000000 bytes"),  # shape past the data
    ((1, (-4,), np.dtype("f8"), False, b"\x00" * 16), "non-negative"),
])
def test_array_states_that_lie_about_their_layout_are_refused(tmp_path, state, phrase):
    path = pickle_file(tmp_path, pickle.dumps({"x": _ArrayState(state)}, protocol=2))
    assert_refused(load_in_child(path), str(path), phrase)


def test_a_dtype_whose_state_declares_fields_is_refused(tmp_path):
    data = (PROTO2 + glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") + integer(0)
            + b"\x85" + text("b") + b"\x87" + REDUCE
            + MARK + integer(1) + integer(2) + b"\x85" + glob("numpy", "dtype") + text("f8") + b"\x89\x88\x87" + REDUCE
            + MARK + integer(3) + text("|") + b"N" + MARK + text("a") + TUPLE + b"}" + integer(-1) + integer(-1)
            + integer(63) + TUPLE + BUILD + b"\x89" + b"C\x10" + b"A" * 16 + TUPLE + BUILD + STOP)
    assert_refused(load_in_child(pickle_file(tmp_path, data)), "structured")


# --------------------------------------------------------------------------- tensor views


class _Tensor:
    """Pickles like a torch tensor over ``storage`` with the geometry the test chooses."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        import torch._utils

        return torch._utils._rebuild_tensor_v2, self.args


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("zip_format", [True, False])
@pytest.mark.parametrize("offset, size, stride, phrase", [
    (2, (4,), (-1,), "non-negative"),  # walks backwards out of the storage
    (-64, (4,), (1,), "non-negative"),  # starts before it
    (0, (10 ** 6,), (1,), "reaches element"),  # larger than it
    (0, (4, 10 ** 5), (10 ** 5, 1), "reaches element"),
    (0, (10 ** 6, 10 ** 6), (0, 0), "expand"),  # a stride-0 view a consumer would materialise as 8 TB
])
def test_tensor_views_outside_their_storage_or_exploding_are_refused(tmp_path, zip_format, offset, size, stride,
                                                                     phrase):
    torch = pytest.importorskip("torch")
    storage = torch.arange(4, dtype=torch.float64).storage()
    path = torch_save(tmp_path, {"x": _Tensor(storage, offset, size, stride)}, zip_format)
    assert_refused(load_in_child(path, "pt"), str(path), phrase)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_an_honest_strided_view_still_reads(tmp_path):
    torch = pytest.importorskip("torch")
    storage = torch.arange(12, dtype=torch.float32).storage()
    path = torch_save(tmp_path, {"x": _Tensor(storage, 1, (3, 2), (4, 2))})
    outcome = load_in_child(path, "pt", check="value['x'].tolist()")
    assert outcome["loaded"] == [[1.0, 3.0], [5.0, 7.0], [9.0, 11.0]]


# --------------------------------------------------------------------------- bombs


def test_deep_list_nesting_is_refused_without_a_crash(tmp_path):
    depth = 100_000  # 200 KB
    path = pickle_file(tmp_path, PROTO2 + b"]" * depth + b"a" * (depth - 1) + STOP)
    assert_refused(load_in_child(path), "nested deeper than 100", "MMERBENCH_PICKLE_MAX_DEPTH")


def test_deep_tuple_used_as_a_key_is_refused_before_it_is_hashed(tmp_path):
    depth = 100_000
    path = pickle_file(tmp_path, PROTO2 + b"}" + b"N" + b"\x85" * depth + b"N" + b"s" + STOP)
    assert_refused(load_in_child(path), "nested deeper than 100")


def test_deep_tuples_are_refused_while_loading_even_when_dropped_from_the_result(tmp_path):
    # Hashing happens during the load (a dict key here), before any check of the result could run.
    depth = 100_000
    path = pickle_file(tmp_path, PROTO2 + b"}" + b"N" + b"\x85" * depth + b"N" + b"s" + b"0" + b"N" + STOP)
    assert_refused(load_in_child(path), "nested deeper than 100")


def test_the_depth_limit_can_be_raised(tmp_path):
    path = pickle_file(tmp_path, PROTO2 + b"]" * 150 + b"a" * 149 + STOP)
    assert "refused" in load_in_child(path)
    assert load_in_child(path, env={"MMERBENCH_PICKLE_MAX_DEPTH": "200"}) == {"loaded": "list"}


def test_exponentially_shared_references_are_refused(tmp_path):
    value = [0.0] * 8
    for _ in range(40):
        value = [value, value]  # 2^40 leaves for any consumer that walks it
    path = pickle_file(tmp_path, pickle.dumps(value, protocol=4))
    assert path.stat().st_size < 1000
    assert_refused(load_in_child(path), "expand to more than", "MMERBENCH_PICKLE_EXPANSION")


def test_the_size_limit_can_be_raised_and_honest_sharing_passes(tmp_path):
    block = np.zeros(1 << 20)  # 8 MB referenced 12 times: 96 MB as a tree, under 64 MiB + 32 x 8 MB
    path = pickle_file(tmp_path, pickle.dumps([block] * 12, protocol=4))
    assert load_in_child(path) == {"loaded": "list"}
    assert "refused" in load_in_child(path, env={"MMERBENCH_PICKLE_EXPANSION": "1"})


def test_builders_do_not_amplify(tmp_path):
    big_bytes = PROTO2 + glob("builtins", "bytes") + integer(2 ** 31 - 1) + b"\x85" + REDUCE + STOP
    assert_refused(load_in_child(pickle_file(tmp_path, big_bytes, "b.pkl")), "refused bytes()")
    copies = PROTO2 + b"]" + b"q\x00" + b"N" * 1 + b"a" + b"]" + b"q\x01" + b"(" + (
        glob("builtins", "list") + b"h\x00" + b"\x85" + REDUCE) * 10 + b"e" + STOP
    assert load_in_child(pickle_file(tmp_path, copies, "c.pkl")) == {"loaded": "list"}  # small copies are fine


def test_integer_keys_that_all_collide_are_refused(tmp_path):
    # ints hash to their value modulo 2^61 - 1: 40,000 wide keys in one bucket make the dict quadratic.
    # (Written opcode by opcode: building that dict here would itself take the better part of a minute.)
    keys = b"".join(b"\x8a" + bytes([len(data)]) + data + b"N"
                    for data in (pickle.encode_long(k * (2 ** 61 - 1)) for k in range(1, 40_001)))
    path = pickle_file(tmp_path, PROTO2 + b"}" + MARK + keys + b"u" + STOP)
    assert_refused(load_in_child(path), "at most 64 bits")
    text = pickle_file(tmp_path, b"(dp0\nI" + str(2 ** 70).encode() + b"\nNs.", "text.pkl")  # protocol 0
    assert_refused(load_in_child(text), "at most 64 bits")
    edge = pickle_file(tmp_path, pickle.dumps([2 ** 64 - 1, -(2 ** 63), 7], protocol=2), "edge.pkl")
    assert load_in_child(edge, check="value") == {"loaded": [2 ** 64 - 1, -(2 ** 63), 7]}


def test_a_reference_cycle_is_refused(tmp_path):
    loop = []
    loop.append(loop)
    assert_refused(load_in_child(pickle_file(tmp_path, pickle.dumps({"x": loop}, protocol=2))), "cycle")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_compressed_pt_that_expands_to_hundreds_of_megabytes_is_refused_before_expanding(tmp_path):
    plain = torch_save(tmp_path, {"x": pytest.importorskip("torch").zeros(1)}, name="plain.pt")
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename.endswith("/data/0"):
                with target.open(info.filename, "w", force_zip64=True) as member:
                    for _ in range(256):
                        member.write(bytes(1 << 20))  # 256 MB of zeros, about 250 KB compressed
            else:
                target.writestr(info.filename, source.read(info.filename))
    assert bomb.stat().st_size < 2 << 20
    assert_refused(load_in_child(bomb, "pt"), str(bomb), "zip member", "MMERBENCH_PICKLE_EXPANSION")


def test_a_truncated_zip_pt_says_truncated(tmp_path):
    path = torch_save(tmp_path, {"x": pytest.importorskip("torch").zeros(1000)}, name="cut.pt")
    path.write_bytes(path.read_bytes()[:-300])
    assert_refused(load_in_child(path, "pt"), str(path), "truncated")
    assert zlib  # the module is used by zipfile's deflate above
