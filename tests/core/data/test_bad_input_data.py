"""Bad data-side inputs end in one clear message and a non-zero exit, never a traceback, and write nothing.

One row per input: how to make it, the command, the exit code, a phrase the
message must contain. Every command runs in-process, so an uncaught
exception (a traceback) fails the test by itself.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mmerbench.cli.main import main
from mmerbench.data import write_dataset
from mmerbench.testing.fixtures import make_tiny_dataset

ARFF_HEADER = "@relation t\n@attribute a numeric\n@attribute b numeric\n@attribute l {0,1}\n@data\n"


def good_csv_rows(n=40) -> str:
    return "".join(f"{i},{i * 2},{i % 2}\n" for i in range(n))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def table(source, *extra):
    return ["data", "import", "table", "t", "--source", str(source), "--label-columns", "last:1", *extra]


def truncated_zip_pt(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "train_valid_test.pt"
    torch.save({"train": {"src-text": torch.zeros(4, 3, 2)}}, path)
    path.write_bytes(path.read_bytes()[:-200])
    return ["data", "import", "cmu-mosei", "--source", str(path)]


def canonical(tmp_path, damage):
    path = write_dataset(tmp_path / "given.h5", make_tiny_dataset())
    damage(path)
    return ["data", "verify", str(path)]


def truncate_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def without_attributes(path):
    with h5py.File(path, "r+") as handle:
        for key in list(handle.attrs):
            del handle.attrs[key]


def output_directory(tmp_path, *extra):
    (tmp_path / "folder").mkdir()
    source = write(tmp_path, "ok.csv", "a,b,l\n" + good_csv_rows())
    return table(source, "--output", str(tmp_path / "folder"), *extra)


def npz_with_objects(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, X=np.array([[1, "a"], [2, "b"]], dtype=object), Y=np.array([[1], [0]]))
    return table(path)


CASES = {
    "csv with a string in a feature column": (
        lambda t: table(write(t, "words.csv", "a,b,l\n1,2,0\n3,four,1\n" + good_csv_rows())),
        1, "words.csv: line 3, column 'b': 'four' is not a number"),
    "csv with NaN in a feature column": (
        lambda t: table(write(t, "holes.csv", "a,b,l\n1,2,0\n3,,1\n" + good_csv_rows())),
        1, "holes.csv: line 3: 1 missing or NaN feature values, the first in column 'b'"),
    "csv with the text nan": (
        lambda t: table(write(t, "nans.csv", "a,b,l\nnan,2,0\n" + good_csv_rows())),
        1, "nans.csv: line 2: 1 missing or NaN feature values, the first in column 'a'"),
    "csv label that is not 0/1, after a blank line": (
        lambda t: table(write(t, "labels.csv", "a,b,l\n1,2,0\n\n3,4,2\n" + good_csv_rows())),
        1, "labels.csv: line 4: label column 'l' has value 2; labels must be 0 or 1"),
    "csv label cell that is empty": (
        lambda t: table(write(t, "empty.csv", "a,b,l\n1,2,0\n3,4,\n" + good_csv_rows())),
        1, "empty.csv: line 3: label column 'l' is empty or not a number"),
    "csv row with a missing cell, after a quoted cell over two lines": (
        lambda t: table(write(t, "short.csv", 'a,b,l\n"1\n",2,0\n3,4\n' + good_csv_rows())),
        1, "short.csv: line 4: label column 'l' is empty or not a number"),
    "arff label that is not 0/1": (
        lambda t: table(write(t, "labels.arff", ARFF_HEADER + "1,2,0\n% a comment\n3,4,2\n")),
        1, "labels.arff: line 8: label column 'l' has value 2; labels must be 0 or 1"),
    "arff sparse entry without a value": (
        lambda t: table(write(t, "sparse.arff", ARFF_HEADER + "{0 1, 1}\n")),
        1, "sparse.arff: line 6: sparse entry '1' is not 'INDEX VALUE'"),
    "arff sparse entry with a bad index": (
        lambda t: table(write(t, "index.arff", ARFF_HEADER + "{0 1, x 2}\n")),
        1, "index.arff: line 6: sparse entry 'x 2' is not 'INDEX VALUE'"),
    "arff unclosed sparse row": (
        lambda t: table(write(t, "open.arff", ARFF_HEADER + "{0 1, 2 1\n")),
        1, "open.arff: line 6: a sparse row must end with '}'"),
    "arff malformed attribute": (
        lambda t: table(write(t, "attr.arff", "@relation t\n@attribute a numeric\n@attribute\n@data\n1\n")),
        1, "attr.arff: line 3: malformed @attribute"),
    "arff without a data section": (
        lambda t: table(write(t, "nodata.arff", "@relation t\n@attribute a numeric\n1\n")),
        1, "nodata.arff: not an ARFF file"),
    "npz with object arrays": (npz_with_objects, 1, "objects.npz: an array holds Python objects"),
    "truncated zip pt": (truncated_zip_pt, 1, "train_valid_test.pt: the zip archive (torch.save format) is truncated"),
    "verify a truncated canonical file": (
        lambda t: canonical(t, truncate_half), 1, "given.h5: not a readable HDF5 file (truncated or corrupted?)"),
    "verify a canonical file without attributes": (
        lambda t: canonical(t, without_attributes), 1, "given.h5: attribute 'schema_version' missing"),
    "--output is a directory": (output_directory, 2, "is a directory; give the file to write"),
    "--output is a directory, with --force": (
        lambda t: output_directory(t, "--force"), 2, "is a directory; give the file to write"),
    "--test-fraction 0": (
        lambda t: table(write(t, "ok.csv", "a,b,l\n" + good_csv_rows()), "--test-fraction", "0"),
        2, "--test-fraction 0: must be between 0 and 1 (exclusive)"),
    "--test-fraction 2": (
        lambda t: table(write(t, "ok.csv", "a,b,l\n" + good_csv_rows()), "--test-fraction", "2"),
        2, "--test-fraction 2: must be between 0 and 1 (exclusive)"),
}


def snapshot(*folders) -> dict:
    """Every file under the folders with its size and modification time."""
    out = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                info = path.stat()
                out[str(path)] = (info.st_size, info.st_mtime_ns)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_message_and_nothing_is_written(case, tmp_path, monkeypatch, capsys):
    make, exit_code, phrase = CASES[case]
    home, inputs = tmp_path / "home", tmp_path / "inputs"
    inputs.mkdir()
    monkeypatch.setenv("MMERBENCH_HOME", str(home))
    argv = make(inputs)
    before = snapshot(inputs)
    capsys.readouterr()
    assert main(argv) == exit_code
    err = capsys.readouterr().err
    assert phrase in err, err
    assert err.startswith("mmerbench: error: ") and "Traceback" not in err
    assert snapshot(inputs) == before  # no output file, no temporary file, no stamp, inputs untouched
    assert not home.exists() or snapshot(home) == {}


def test_a_sound_csv_still_imports(tmp_path, monkeypatch):
    # The checks above are not refusing everything: the same layout without the fault imports.
    monkeypatch.setenv("MMERBENCH_HOME", str(tmp_path / "home"))
    source = write(tmp_path, "ok.csv", "a,b,l\n" + good_csv_rows())
    assert main(table(source, "--test-fraction", "0.25")) == 0
    assert (tmp_path / "home" / "data" / "t.h5").exists()
