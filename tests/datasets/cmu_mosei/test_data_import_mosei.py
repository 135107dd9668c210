"""MOSEI importers on small files written in exactly the users' layouts; errors; atomic writes."""

from __future__ import annotations

import argparse
import pickle

import h5py
import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.cli.main import main
from mmerbench.data import canonical_path

EMOTION_IDS = range(4, 10)


def _tgt(rng, n):
    return [[2] + sorted({int(e) for e in rng.choice(list(EMOTION_IDS), size=rng.integers(1, 3))}) + [3]
            for _ in range(n)]


def _multihot(tgt):
    out = np.zeros((len(tgt), 6), dtype=np.uint8)
    for row, tokens in enumerate(tgt):
        for t in tokens[1:-1]:
            out[row, t - 4] = 1
    return out


def write_mms2s_pt(path, sizes=(12, 4, 5), steps=6, as_lists=True, zip_format=True, seed=0):
    """MMS2S train_valid_test.pt: src-* arrays (or lists of arrays), tgt token lists, dict, settings."""
    rng = np.random.default_rng(seed)
    data = {"dict": {"tgt": {"<blank>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}}, "settings": argparse.Namespace(d_model=256)}
    for split, n in zip(("train", "valid", "test"), sizes):
        text = rng.normal(size=(n, steps, 300)).astype(np.float32)
        audio = rng.normal(size=(n, steps, 74)).astype(np.float32)
        audio[0, 0, 0] = -np.inf  # COVAREP has -inf
        vision = rng.normal(size=(n, steps, 35)).astype(np.float32)
        if as_lists:
            text, audio, vision = list(text), list(audio), list(vision)
        data[split] = {"src-text": text, "src-audio": audio, "src-visual": vision, "tgt": _tgt(rng, n)}
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    return data


def write_mult_pkl(path, sizes=(12, 4, 5), seed=1, with_ids=False):
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in zip(("train", "valid", "test"), sizes):
        data[split] = {"text": rng.normal(size=(n, 5, 300)).astype(np.float32),
                       "audio": rng.normal(size=(n, 20, 74)).astype(np.float32),
                       "vision": rng.normal(size=(n, 20, 35)).astype(np.float32),
                       "labels": rng.normal(size=(n, 1, 1)).astype(np.float32)}
        if with_ids:
            data[split]["id"] = np.array([[f"v{i}".encode(), b"0", b"1"] for i in range(n)])
    path.write_bytes(pickle.dumps(data, protocol=4))
    return data


def write_mmsa_pkl(path, sizes=(12, 4, 5), seed=2, tgt=True, steps=(5, 8, 7)):
    rng = np.random.default_rng(seed)
    data = {}
    for split, n in zip(("train", "valid", "test"), sizes):
        mask = np.zeros((n, steps[0]))
        text_len = rng.integers(1, steps[0] + 1, size=n)
        mask[np.arange(steps[0]) < text_len[:, None]] = 1
        data[split] = {"raw_text": ["a"] * n, "id": np.array([f"vid$_${i}" for i in range(n)], dtype=object),
                       "text": rng.normal(size=(n, steps[0], 768)).astype(np.float32),
                       "text_bert": np.stack([np.ones((n, steps[0])), mask, np.zeros((n, steps[0]))], 1),
                       "audio": rng.normal(size=(n, steps[1], 74)).astype(np.float32),
                       "vision": rng.normal(size=(n, steps[2], 35)).astype(np.float32),
                       "audio_lengths": list(rng.integers(1, steps[1] + 1, size=n)),
                       "vision_lengths": list(rng.integers(1, steps[2] + 1, size=n)),
                       "regression_labels": rng.normal(size=n).astype(np.float32),
                       "classification_labels": rng.integers(0, 3, size=n)}
        if tgt:
            data[split]["tgt"] = _tgt(rng, n)
    path.write_bytes(pickle.dumps(data, protocol=4))
    return data


@pytest.mark.parametrize("as_lists,zip_format", [(True, True), (False, False)])
def test_cmu_mosei_from_mms2s_pt(tmp_path, as_lists, zip_format):
    source = tmp_path / "train_valid_test.pt"
    data = write_mms2s_pt(source, as_lists=as_lists, zip_format=zip_format)
    assert main(["data", "import", "cmu-mosei", "--source", str(source), "--force"]) == 0
    dataset = mmerbench.load_dataset("cmu-mosei")
    assert [len(s) for s in dataset.splits.values()] == [12, 4, 5]
    assert dataset.modalities == {"text": 300, "audio": 74, "vision": 35}
    assert dataset.label_names == ["happy", "sad", "anger", "surprise", "disgust", "fear"]
    np.testing.assert_array_equal(dataset.test.labels, _multihot(data["test"]["tgt"]))
    assert isinstance(dataset.train.features["text"], h5py.Dataset)  # lazy
    np.testing.assert_allclose(dataset.valid.take([1]).features["text"][0], np.asarray(data["valid"]["src-text"][1]))
    assert dataset.train.take([0]).features["audio"][0, 0, 0] == 0.0  # -inf zeroed


def test_float16_storage_and_verify(tmp_path, capsys):
    source = tmp_path / "train_valid_test.pt"
    write_mms2s_pt(source)
    assert main(["data", "import", "cmu-mosei", "--source", str(source), "--dtype", "float16", "--force"]) == 0
    path = canonical_path("cmu-mosei")
    with h5py.File(path) as handle:
        assert handle["train/features/text"].dtype == np.float16
    assert main(["data", "verify", "cmu-mosei"]) == 0
    with h5py.File(path, "r+") as handle:
        handle["test/labels"][0, 0] = 1 - handle["test/labels"][0, 0]
    assert main(["data", "verify", "cmu-mosei"]) == 1
    assert "MISMATCH" in capsys.readouterr().err


def test_unaligned_takes_labels_from_the_aligned_pt_and_checks_counts(tmp_path, capsys):
    pt, pkl = tmp_path / "train_valid_test.pt", tmp_path / "mosei_senti_data_noalign.pkl"
    aligned = write_mms2s_pt(pt)
    unaligned = write_mult_pkl(pkl, with_ids=True)
    args = ["data", "import", "cmu-mosei-unaligned", "--source", str(pkl), "--labels-from", str(pt), "--force"]
    assert main(args) == 0
    dataset = mmerbench.load_dataset("cmu-mosei-unaligned")
    assert dataset.train.steps == {"text": 5, "audio": 20, "vision": 20}
    np.testing.assert_array_equal(dataset.train.labels, _multihot(aligned["train"]["tgt"]))
    np.testing.assert_allclose(dataset.test.meta["sentiment"][:, 0], unaligned["test"]["labels"][:, 0, 0])
    assert dataset.train.ids[1] == "v1_0_1"
    write_mult_pkl(pkl, sizes=(11, 4, 5))
    assert main(args) != 0
    assert "11 samples" in capsys.readouterr().err


def test_mmsa_with_tgt_keeps_lengths_and_ids(tmp_path):
    pkl = tmp_path / "unaligned_50.pkl"
    data = write_mmsa_pkl(pkl)
    assert main(["data", "import", "cmu-mosei-mmsa-unaligned", "--source", str(pkl), "--force"]) == 0
    dataset = mmerbench.load_dataset("cmu-mosei-mmsa-unaligned")
    np.testing.assert_array_equal(dataset.train.lengths["audio"], data["train"]["audio_lengths"])
    np.testing.assert_array_equal(dataset.train.lengths["text"], data["train"]["text_bert"][:, 1].sum(1))
    np.testing.assert_array_equal(dataset.valid.labels, _multihot(data["valid"]["tgt"]))
    assert dataset.test.ids[2] == "vid$_$2"


def test_mmsa_without_tgt_says_how_to_inject_it_and_accepts_the_lddu_csv(tmp_path, capsys):
    pkl = tmp_path / "aligned_50.pkl"
    write_mmsa_pkl(pkl, tgt=False, steps=(5, 5, 5))
    assert main(["data", "import", "cmu-mosei-mmsa", "--source", str(pkl), "--force"]) != 0
    assert "'tgt' is missing" in capsys.readouterr().err
    rows = ["mode,tgt"] + [f'{split},"[2, {4 + i % 6}, 3]"' for split, n in (("train", 12), ("valid", 4), ("test", 5))
                           for i in range(n)]
    (tmp_path / "mmsa.csv").write_text("\n".join(rows) + "\n")
    assert main(["data", "import", "cmu-mosei-mmsa", "--source", str(pkl), "--tgt-csv",
                 str(tmp_path / "mmsa.csv"), "--force"]) == 0
    assert mmerbench.load_dataset("cmu-mosei-mmsa").train.labels[5].tolist() == [0, 0, 0, 0, 0, 1]


def _import_error(capsys, *args):
    code = main(["data", "import", *args, "--force"])
    assert code != 0
    return capsys.readouterr().err


def test_clear_errors(tmp_path, capsys):
    pt = tmp_path / "train_valid_test.pt"
    data = write_mms2s_pt(pt, as_lists=False)
    assert "does not exist" in _import_error(capsys, "cmu-mosei", "--source", str(tmp_path / "nope.pt"))
    h5 = tmp_path / "wrong.pt"
    with h5py.File(h5, "w") as handle:
        handle["x"] = 1
    assert "HDF5" in _import_error(capsys, "cmu-mosei", "--source", str(h5))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    assert "cut.pt" in _import_error(capsys, "cmu-mosei", "--source", str(cut))

    def save_variant(mutate):
        variant = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
        mutate(variant)
        path = tmp_path / "variant.pt"
        torch.save(variant, path)
        return str(path)

    err = _import_error(capsys, "cmu-mosei", "--source", save_variant(lambda d: d.pop("valid")))
    assert "'valid'" in err and "missing" in err
    err = _import_error(capsys, "cmu-mosei", "--source", save_variant(lambda d: d["test"].pop("src-audio")))
    assert "'audio'" in err or "src-audio" in err
    err = _import_error(capsys, "cmu-mosei", "--source",
                        save_variant(lambda d: d["test"].__setitem__("src-audio", d["test"]["src-audio"][:3])))
    assert "3 samples" in err
    err = _import_error(capsys, "cmu-mosei", "--source",
                        save_variant(lambda d: d["test"].__setitem__("tgt", [[2, 12, 3]] * 5)))
    assert "token 12" in err

    def with_nan(d):
        text = np.array(d["train"]["src-text"])
        text[3, 2, 1] = np.nan
        d["train"]["src-text"] = text

    err = _import_error(capsys, "cmu-mosei", "--source", save_variant(with_nan))
    assert "variant.pt: train/src-text: NaN in sample 3 (step 2, feature 1" in err  # the source, not the output


def _truncate_train_audio(data):
    data["train"]["audio"] = data["train"]["audio"][:20]


def _nan_in_valid_audio(data):
    data["valid"]["audio"][2, 1, 3] = np.nan


def _narrow_test_vision(data):
    data["test"]["vision"] = data["test"]["vision"][:, :, :30]


SOURCE_ERRORS = {
    # a broken MMSA pickle -> what the error must say: the array and the file it came from
    "a truncated feature array is blamed, not the lengths": (
        _truncate_train_audio,
        "mmsa.pkl: train/audio has 20 samples, but the other per-sample arrays (text, vision, audio_lengths"),
    "a NaN names the source pickle and the sample, not the output file": (
        _nan_in_valid_audio, "mmsa.pkl: valid/audio: NaN in sample 2 (step 1, feature 3"),
    "a feature-width mismatch names the file": (
        _narrow_test_vision,
        "mmsa.pkl: test/vision: 30 features per step, but {path}: train/vision has 35"),
}


@pytest.mark.parametrize("case", list(SOURCE_ERRORS))
def test_errors_name_the_source_array_and_file(case, tmp_path, capsys):
    mutate, message = SOURCE_ERRORS[case]
    path = tmp_path / "mmsa.pkl"
    data = write_mmsa_pkl(path, sizes=(30, 4, 5))
    mutate(data)
    path.write_bytes(pickle.dumps(data, protocol=4))
    output = tmp_path / "out_x.h5"
    err = _import_error(capsys, "cmu-mosei-mmsa", "--source", str(path), "--output", str(output))
    assert message.format(path=path) in err, err
    assert "out_x.h5" not in err and not output.exists()


def test_existing_file_needs_force_and_an_interrupted_import_leaves_nothing(tmp_path, monkeypatch, capsys):
    from mmerbench.data import importing

    pt = tmp_path / "train_valid_test.pt"
    write_mms2s_pt(pt)
    output = tmp_path / "out" / "mosei.h5"
    assert main(["data", "import", "cmu-mosei", "--source", str(pt), "--output", str(output)]) == 0
    assert main(["data", "import", "cmu-mosei", "--source", str(pt), "--output", str(output)]) != 0
    assert "--force" in capsys.readouterr().err
    before = output.read_bytes()
    calls = {"n": 0}
    original = importing.RowSource.rows

    def interrupted(self, start, stop):
        calls["n"] += 1
        if calls["n"] > 4:
            raise KeyboardInterrupt
        return original(self, start, stop)

    monkeypatch.setattr(importing.RowSource, "rows", interrupted)
    code = main(["data", "import", "cmu-mosei", "--source", str(pt), "--output", str(output), "--force"])
    assert code == 130 and calls["n"] > 4  # interrupted part-way through writing
    assert output.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in output.parent.iterdir()) == [".mosei.h5.stamp", "mosei.h5"]  # no temporary left
