"""M3ED, IEMOCAP, MELD and MOSI importers on small files in the users' layouts; data list / info."""

from __future__ import annotations

import json
import pickle
from collections import OrderedDict

import numpy as np
import torch

import mmerbench
from mmerbench.cli.main import main


def write_m3ed_pickle(path, rng):
    """CARAT's tuple: 2 labels, 3 text, 4 visual, 5 audio, 7/8/9 split ids (OrderedDicts of per-dialogue arrays)."""
    ids = {"train": [f"d{i}" for i in range(8)], "valid": ["d8", "d9"], "test": ["d10", "d11", "d12"]}
    labels, text, visual, audio = OrderedDict(), OrderedDict(), OrderedDict(), OrderedDict()
    for d in sum(ids.values(), []):
        n = int(rng.integers(1, 5))
        labels[d] = [int(c) for c in rng.integers(0, 7, size=n)]
        text[d], visual[d], audio[d] = (rng.normal(size=(n, dim)).astype(np.float32) for dim in (768, 1024, 342))
    data = [OrderedDict(), OrderedDict(), labels, text, visual, audio, None, ids["train"], ids["valid"], ids["test"]]
    path.write_bytes(pickle.dumps(data, protocol=4))
    return data


def test_m3ed_dialogues_are_multi_label_unions(tmp_path, capsys):
    rng = np.random.default_rng(0)
    data = write_m3ed_pickle(tmp_path / "m3ed.pkl", rng)
    assert main(["data", "import", "m3ed", "--source", str(tmp_path / "m3ed.pkl"), "--max-steps", "3", "--force"]) == 0
    dataset = mmerbench.load_dataset("m3ed")
    assert dataset.modalities == {"text": 768, "audio": 342, "vision": 1024}
    assert [len(s) for s in dataset.splits.values()] == [8, 2, 3]
    for row, d in enumerate(data[7]):
        assert set(np.flatnonzero(dataset.train.labels[row])) == set(data[2][d])
        assert dataset.train.lengths["text"][row] == min(3, len(data[2][d]))
    sample = dataset.test.take([0])
    np.testing.assert_allclose(sample.features["audio"][0, : sample.lengths["audio"][0]], data[5]["d10"][:3])
    data[2]["d3"] = [1, 9]
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps(data))
    assert main(["data", "import", "m3ed", "--source", str(tmp_path / "bad.pkl"), "--force"]) != 0
    assert "'d3' has label 9" in capsys.readouterr().err


def test_m3ed_from_carats_pt(tmp_path):
    rng = np.random.default_rng(1)
    part = lambda n: {"src-text": list(rng.normal(size=(n, 4, 768)).astype(np.float32)),  # noqa: E731
                      "src-visual": list(rng.normal(size=(n, 4, 1024)).astype(np.float32)),
                      "src-audio": list(rng.normal(size=(n, 4, 342)).astype(np.float32)),
                      "len_list": [2] * n, "tgt": [[2, 4, 10, 3]] * n}
    torch.save({"train": part(5), "valid": part(2), "test": part(3), "dict": {}}, tmp_path / "m3ed_data_60.pt")
    assert main(["data", "import", "m3ed", "--source", str(tmp_path / "m3ed_data_60.pt"), "--force"]) == 0
    dataset = mmerbench.load_dataset("m3ed")
    assert dataset.train.labels[0].tolist() == [1, 0, 0, 0, 0, 0, 1] and (dataset.test.lengths["vision"] == 2).all()


def _conversational(rng, with_visual, n_dialogues=6, classes=6):
    ids, speakers, labels, text, audio, visual, sentences = ({} for _ in range(7))
    for d in range(n_dialogues):
        key = f"Ses0{d}"
        n = int(rng.integers(2, 6))
        ids[key] = [f"{key}_u{k}" for k in range(n)]
        speakers[key] = ["M", "F"] * n
        labels[key] = [int(c) for c in rng.integers(0, classes, size=n)]
        text[key] = [rng.normal(size=100) for _ in range(n)]
        audio[key] = [rng.normal(size=100) for _ in range(n)]
        visual[key] = [rng.normal(size=512) for _ in range(n)]
        sentences[key] = ["hi"] * n
    train, test = [f"Ses0{d}" for d in range(4)], [f"Ses0{d}" for d in range(4, n_dialogues)]
    head = (ids, speakers, labels, text, audio)
    return head, visual, sentences, train, test


def test_iemocap_six_and_four_classes(tmp_path):
    rng = np.random.default_rng(2)
    head, visual, sentences, train, test = _conversational(rng, True)
    (tmp_path / "IEMOCAP_features.pkl").write_bytes(
        pickle.dumps((*head, visual, sentences, set(train), set(test)), protocol=2))
    source = str(tmp_path / "IEMOCAP_features.pkl")
    assert main(["data", "import", "iemocap", "--source", source, "--force"]) == 0
    assert main(["data", "import", "iemocap-4class", "--source", source, "--force"]) == 0
    six, four = mmerbench.load_dataset("iemocap", valid_fraction=0), mmerbench.load_dataset("iemocap-4class", valid_fraction=0)
    assert six.single_label and six.modalities == {"text": 100, "audio": 100, "vision": 512}
    classes = [c for d in sorted(train) for c in head[2][d]]
    assert six.train.labels.argmax(1).tolist() == classes
    mapped = [{4: 0}.get(c, c) for c in classes if c != 5]
    assert four.train.labels.argmax(1).tolist() == mapped and four.label_names == ["happy", "sad", "neutral", "angry"]
    assert six.train.ids[0] == "Ses00/Ses00_u0"
    carved = mmerbench.load_dataset("iemocap")  # no validation split in the file: carved at load time
    assert carved.valid is not None and len(carved.train) + len(carved.valid) == len(six.train)


def test_meld_nine_and_ten_item_layouts(tmp_path):
    rng = np.random.default_rng(3)
    head, visual, sentences, train, test = _conversational(rng, False, classes=7)
    sentiment = {k: [0] * len(v) for k, v in head[2].items()}
    (tmp_path / "meld9.pkl").write_bytes(pickle.dumps((*head, sentences, train, test, sentiment)))
    (tmp_path / "meld10.pkl").write_bytes(pickle.dumps((*head, visual, sentences, train, test, sentiment)))
    assert main(["data", "import", "meld", "--source", str(tmp_path / "meld9.pkl"), "--force"]) == 0
    assert mmerbench.load_dataset("meld").modalities == {"text": 100, "audio": 100}
    assert main(["data", "import", "meld", "--source", str(tmp_path / "meld10.pkl"), "--force"]) == 0
    dataset = mmerbench.load_dataset("meld")
    assert dataset.modalities == {"text": 100, "audio": 100, "vision": 512} and len(dataset.label_names) == 7


def test_cmu_mosi_negative_vs_non_negative(tmp_path):
    rng = np.random.default_rng(4)
    data = {}
    for split, n in (("train", 10), ("valid", 3), ("test", 4)):
        data[split] = {"text": rng.normal(size=(n, 5, 768)).astype(np.float32),
                       "audio": rng.normal(size=(n, 6, 5)).astype(np.float32),
                       "vision": rng.normal(size=(n, 6, 20)).astype(np.float32),
                       "regression_labels": np.array([-1.2, 0.0, 2.0] * 4)[:n].astype(np.float32),
                       "id": np.array([f"v$_${i}" for i in range(n)])}
    (tmp_path / "aligned_50.pkl").write_bytes(pickle.dumps(data, protocol=4))
    assert main(["data", "import", "cmu-mosi", "--source", str(tmp_path / "aligned_50.pkl"), "--force"]) == 0
    dataset = mmerbench.load_dataset("cmu-mosi")
    assert dataset.single_label and dataset.label_names == ["negative", "non-negative"]
    assert dataset.train.labels[:3].tolist() == [[1, 0], [0, 1], [0, 1]]


def test_cmu_mosi_refuses_labels_that_are_not_sentiment_scores(tmp_path, capsys):
    """One score per sample in [-3, 3]; a feature array or out-of-range values are refused by name."""
    rng = np.random.default_rng(4)

    def write(labels_for):
        data = {split: {"text": rng.normal(size=(n, 5, 768)).astype(np.float32),
                        "audio": rng.normal(size=(n, 6, 5)).astype(np.float32),
                        "vision": rng.normal(size=(n, 6, 20)).astype(np.float32),
                        "regression_labels": labels_for(n)}
                for split, n in (("train", 10), ("valid", 3), ("test", 4))}
        (tmp_path / "aligned_50.pkl").write_bytes(pickle.dumps(data, protocol=4))
        return main(["data", "import", "cmu-mosi", "--source", str(tmp_path / "aligned_50.pkl"), "--force"])

    assert write(lambda n: rng.normal(size=(n, 300)).astype(np.float32)) != 0
    err = capsys.readouterr().err
    assert "train/regression_labels: shape (10, 300), expected one sentiment score per sample" in err
    assert write(lambda n: np.linspace(0, 9, n).astype(np.float32)) != 0
    assert "train/regression_labels: sample 4 has sentiment 4, outside [-3, 3]" in capsys.readouterr().err
    assert write(lambda n: np.linspace(-3, 3, n).astype(np.float32)) == 0


def test_data_list_info_and_import_help(tmp_path, capsys):
    rng = np.random.default_rng(5)
    write_m3ed_pickle(tmp_path / "m3ed.pkl", rng)
    assert main(["data", "import", "m3ed", "--source", str(tmp_path / "m3ed.pkl"), "--force"]) == 0
    capsys.readouterr()
    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "cmu-mosei-sdk-unaligned" in listing and any(l.startswith("m3ed") and "imported" in l for l in listing.splitlines())
    assert main(["data", "info", "m3ed", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"]["n"] == 8 and len(info["splits"]["test"]["label_frequency"]) == 7
    assert info["splits"]["train"]["lengths"]["text"]["max"] <= 4 and "m3ed.pkl" in info["source_sha256"]
    assert main(["data", "import", "meld", "--help"]) == 0
    assert "videoSentence" in capsys.readouterr().out
    assert main(["data", "info", "never-imported"]) == 2
