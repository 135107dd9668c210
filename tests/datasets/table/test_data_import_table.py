"""Tables: the real MULAN emotions ARFFs (with the published BR/SVC figures), CSV, NPZ, options, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import mmerbench
from mmerbench.cli.main import main


def test_mulan_emotions_views_and_br_svc_reproduce_the_known_scores(shared_data):
    folder = os.path.join(shared_data, "mulan_emotions")
    assert main(["data", "import", "mulan-emotions", "--source", folder, "--force"]) == 0
    dataset = mmerbench.load_dataset("mulan-emotions", valid_fraction=0)
    assert dataset.modalities == {"timbre": 64, "rhythm": 8}
    assert len(dataset.train) == 391 and len(dataset.test) == 202 and dataset.valid is None
    assert dataset.label_names[0] == "amazed-suprised"
    if "br" not in mmerbench.get_registry().methods:
        pytest.skip("the br method is not registered")
    method = mmerbench.make_method("br", estimator="svc", estimator_params={"gamma": "auto"},
                                   standardize=False, threshold=0.5).fit(dataset.train)
    scores = mmerbench.score(dataset.test.labels, method.predict(dataset.test))
    assert scores["hamming"] == pytest.approx(0.26485148514851486, abs=1e-12)
    assert scores["subset_acc"] == pytest.approx(0.14356435643564355, abs=1e-12)


def _table(rng, n=60):
    x = rng.normal(size=(n, 5))
    y = (rng.random((n, 3)) < 0.4).astype(int)
    return x, y


def test_csv_with_named_label_columns_views_and_a_carved_test_split(tmp_path):
    rng = np.random.default_rng(0)
    x, y = _table(rng)
    header = "a,b,happy,c,d,sad,e,angry"
    matrix = np.column_stack([x[:, 0], x[:, 1], y[:, 0], x[:, 2], x[:, 3], y[:, 1], x[:, 4], y[:, 2]])
    np.savetxt(tmp_path / "t.csv", matrix, delimiter=",", header=header, comments="", fmt="%.6f")
    assert main(["data", "import", "table", "my-table", "--source", str(tmp_path / "t.csv"), "--label-columns",
                 "happy,sad,angry", "--view", "first=0:2", "--view", "rest=2:5", "--test-fraction", "0.25",
                 "--label-names", "h,s,a"]) == 0
    dataset = mmerbench.load_dataset("my-table", valid_fraction=0)
    assert dataset.label_names == ["h", "s", "a"] and dataset.modalities == {"first": 2, "rest": 3}
    assert len(dataset.train) + len(dataset.test) == 60 and 10 <= len(dataset.test) <= 20
    train = dataset.train.to_memory()
    row = int(np.flatnonzero(np.isclose(x[:, 0], train.features["first"][0, 0, 0], atol=1e-5))[0])
    np.testing.assert_allclose(train.features["rest"][0, 0], x[row, 2:5], atol=1e-5)
    np.testing.assert_array_equal(train.labels[0], y[row])


def test_npz_train_test_with_a_range_and_last_k(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        x, y = _table(rng, 30)
        np.savez(tmp_path / f"{split}.npz", X=x, Y=y, label_names=np.array(["p", "q", "r"]))
    args = ["data", "import", "table", "npz-table", "--train", str(tmp_path / "train.npz"),
            "--test", str(tmp_path / "test.npz")]
    assert main(args + ["--label-columns", "last:3"]) == 0
    dataset = mmerbench.load_dataset("npz-table", valid_fraction=0)
    assert dataset.label_names == ["p", "q", "r"] and dataset.modalities == {"features": 5}
    assert main(args + ["--label-columns", "5:8", "--force"]) == 0
    assert main(args + ["--label-columns", "last:3", "--view", "v=0:9", "--force"]) == 2
    assert "range outside" in capsys.readouterr().err
    assert main(args + ["--label-columns", "nope", "--force"]) == 2
    assert "no column named 'nope'" in capsys.readouterr().err
    assert main(["data", "import", "table", "cmu-mosei", "--train", str(tmp_path / "train.npz"), "--test",
                 str(tmp_path / "test.npz"), "--label-columns", "last:3"]) == 2  # built-in names are taken


def test_labels_out_of_range_and_missing_values_are_errors(tmp_path, capsys):
    arff = ("@relation r\n@attribute f1 numeric\n@attribute f2 numeric\n@attribute l1 {0,1}\n@attribute l2 {0,1}\n"
            "@data\n0.1,0.2,0,1\n0.3,0.4,2,0\n{0 0.5, 1 0.6, 3 1}\n")
    (tmp_path / "bad.arff").write_text(arff)
    common = ["--label-columns", "last:2", "--force"]
    assert main(["data", "import", "table", "bad", "--train", str(tmp_path / "bad.arff"), "--test",
                 str(tmp_path / "bad.arff"), *common]) != 0
    assert "bad.arff: line 8: label column 'l1' has value 2" in capsys.readouterr().err  # the file's line
    (tmp_path / "nan.arff").write_text(arff.replace("0.3,0.4,2,0", "?,0.4,1,0"))
    assert main(["data", "import", "table", "bad", "--train", str(tmp_path / "nan.arff"), "--test",
                 str(tmp_path / "nan.arff"), *common]) != 0
    assert "NaN" in capsys.readouterr().err
    (tmp_path / "short.arff").write_text(arff.replace("0.3,0.4,2,0", "0.3,0.4"))
    assert main(["data", "import", "table", "bad", "--source", str(tmp_path / "short.arff"), *common]) != 0
    assert "line 8: 2 values" in capsys.readouterr().err
