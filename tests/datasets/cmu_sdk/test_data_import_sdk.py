"""CMU SDK .csd reader on the real MOSI labels; MOSEI's standard folds against its segment list."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pandas as pd

import mmerbench
from mmerbench.cli.main import main
from mmerbench.data.importing import assign_folds, load_folds


def write_csd(path, root, videos):
    """A computational sequence: root/data/<video>/{features, intervals} and root/metadata."""
    with h5py.File(path, "w") as handle:
        group = handle.create_group(root)
        group.create_group("metadata")["root name"] = [root.encode()]
        data = group.create_group("data")
        for video, (features, intervals) in videos.items():
            entry = data.create_group(video)
            entry["features"] = np.asarray(features, dtype=np.float32)
            entry["intervals"] = np.asarray(intervals, dtype=np.float32)


def test_real_mosi_labels_segments_and_folds(shared_data, tmp_path):
    labels = os.path.join(shared_data, "cmu_mosi", "CMU_MOSI_Opinion_Labels.csd")
    folds = os.path.join(shared_data, "cmu_mosi", "standard_folds.json")
    with h5py.File(labels) as handle:
        data = handle["Opinion Segment Labels/data"]
        videos = {v: data[v]["intervals"][()].max() for v in data}
        first = sorted(data)[0]
        first_scores = data[first]["features"][()][:, 0]
    # Word-rate text features (one word per second) and 4 Hz audio, for every real video.
    words = {v: (np.full((int(end) + 1, 2), 1.0), np.stack([np.arange(int(end) + 1), np.arange(int(end) + 1) + 1], 1))
             for v, end in videos.items()}
    audio = {v: (np.arange(int(end * 4) + 4)[:, None] * np.ones((1, 3)), np.stack(
        [np.arange(int(end * 4) + 4) / 4, np.arange(int(end * 4) + 4) / 4 + 0.25], 1)) for v, end in videos.items()}
    audio.pop(first)  # one video without audio: its segments get length 0
    write_csd(tmp_path / "words.csd", "glove_vectors", words)
    write_csd(tmp_path / "audio.csd", "COVAREP", audio)
    assert main(["data", "import", "cmu-mosei-sdk-aligned", "--labels", labels, "--folds", folds,
                 "--text", str(tmp_path / "words.csd"), "--audio", str(tmp_path / "audio.csd"),
                 "--label-kind", "sentiment", "--force"]) == 0
    dataset = mmerbench.load_dataset("cmu-mosei-sdk-aligned")
    assert [len(s) for s in dataset.splits.values()] == [1284, 229, 686]  # the README's standard split sizes
    assert dataset.single_label and dataset.label_names == ["negative", "non-negative"]
    split = next(s for s in dataset.splits.values() if any(i.startswith(first + "[") for i in s.ids))
    rows = np.flatnonzero([i.startswith(first + "[") for i in split.ids])
    assert (split.lengths["audio"][rows] == 0).all() and (split.lengths["text"][rows] > 0).all()
    order = np.argsort([int(i.split("[")[1][:-1]) for i in split.ids[rows]])
    np.testing.assert_array_equal(split.labels[rows[order], 0], (first_scores < 0).astype(np.uint8))
    # Aligned audio = mean of the 4 frames (values 4k..4k+3) inside word k: 4k + 1.5.
    other = int(np.flatnonzero(split.lengths["audio"] > 2)[0])
    sample = split.take([other])
    word_starts = sample.features["text"][0, :2, 0]
    assert (word_starts == 1.0).all()
    values = sample.features["audio"][0, : sample.lengths["audio"][0], 0]
    assert np.allclose((values - 1.5) / 4, np.round((values - 1.5) / 4))


def test_unaligned_cuts_frames_by_segment_and_caps_steps(tmp_path):
    labels = {"v1": (np.array([[1.0, 0.5, 0, 0, 0, 0, 0.3], [-1.0, 0, 1, 0, 0, 0, 0]]), [[0, 2], [2, 4]]),
              "v2": (np.array([[0.0, 0, 0, 0, 2, 0, 0]]), [[0, 1]]), "v3": (np.zeros((1, 7)), [[0, 1]])}
    write_csd(tmp_path / "labels.csd", "All Labels", labels)
    frames = np.arange(40)
    audio = {v: (frames[:, None] * np.ones((1, 2)), np.stack([frames / 10, frames / 10 + 0.1], 1)) for v in ("v1", "v2", "v3")}
    write_csd(tmp_path / "audio.csd", "COVAREP", audio)
    (tmp_path / "folds.json").write_text(json.dumps({"train": ["v1"], "valid": [], "test": ["v2"]}))
    assert main(["data", "import", "cmu-mosei-sdk-unaligned", "--labels", str(tmp_path / "labels.csd"),
                 "--folds", str(tmp_path / "folds.json"), "--audio", str(tmp_path / "audio.csd"),
                 "--max-steps", "audio=15", "--force"]) == 0
    dataset = mmerbench.load_dataset("cmu-mosei-sdk-unaligned", valid_fraction=0)
    assert list(dataset.train.ids) == ["v1[0]", "v1[1]"] and list(dataset.test.ids) == ["v2[0]"]  # v3: no fold
    assert dataset.train.labels.tolist() == [[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 0]]
    assert dataset.test.labels.tolist() == [[0, 0, 0, 1, 0, 0]]
    np.testing.assert_array_equal(dataset.train.lengths["audio"], [15, 15])
    np.testing.assert_array_equal(np.asarray(dataset.train.features["audio"])[1, :, 0], np.arange(20, 35))


def test_mosei_standard_folds_reproduce_the_segment_lists_split(shared_data):
    folds = load_folds(__import__("pathlib").Path(shared_data, "cmu_mosei", "standard_folds.json"))
    assert [len(folds[s]) for s in ("train", "valid", "test")] == [2250, 300, 678]
    segments = pd.read_csv(os.path.join(shared_data, "cmu_mosei", "CMU_MOSEI_Labels_segments.csv"),
                           dtype={"file": str})
    assigned = assign_folds(segments["file"].tolist(), folds)
    expected = segments["split"].map({0: "train", 1: "valid", 2: "test", 3: ""}).to_numpy()
    # One train-fold video is marked "in no split" (3) by the segment list's authors; all else agrees.
    differ = assigned != expected
    assert set(segments.loc[differ, "file"]) == {"-NFrJFQijFE"} and set(expected[differ]) == {""}
    assert (assigned == "train").sum() > 16000


def _small_sdk_files(tmp_path, labels_root="All Labels", label_values=None):
    """Two videos with 7-column labels (or ``label_values``), 4 Hz audio, and folds."""
    values = label_values if label_values is not None else np.array([[1.0, 0.5, 0, 0, 0, 0, 0.3]])
    write_csd(tmp_path / "labels.csd", labels_root, {"v1": (values, [[0, 2]] * len(values)),
                                                     "v2": (values, [[0, 2]] * len(values))})
    frames = np.arange(12)
    audio = {v: (frames[:, None] * np.ones((1, 2)), np.stack([frames / 4, frames / 4 + 0.25], 1)) for v in ("v1", "v2")}
    write_csd(tmp_path / "audio.csd", "COVAREP", audio)
    (tmp_path / "folds.json").write_text(json.dumps({"train": ["v1"], "valid": [], "test": ["v2"]}))
    return ["data", "import", "cmu-mosei-sdk-unaligned", "--labels", str(tmp_path / "labels.csd"),
            "--folds", str(tmp_path / "folds.json"), "--audio", str(tmp_path / "audio.csd"), "--force"]


def test_a_word_vector_file_given_as_labels_is_refused_naming_what_it_holds(tmp_path, capsys):
    """The reported case: a 300-column GloVe sequence passed as --labels was read as 1600 'samples'."""
    rng = np.random.default_rng(0)
    command = _small_sdk_files(tmp_path, labels_root="glove_vectors", label_values=rng.normal(size=(3, 300)))
    target = os.path.join(os.environ["MMERBENCH_HOME"], "data", "cmu-mosei-sdk-unaligned.h5")
    before = os.stat(target).st_mtime_ns if os.path.exists(target) else None
    assert main(command) != 0
    err = capsys.readouterr().err
    assert "is not a CMU labels file" in err and "'glove_vectors'" in err and "300 columns" in err
    assert "7 columns" in err and "sentiment in [-3, 3]" in err
    assert (os.stat(target).st_mtime_ns if os.path.exists(target) else None) == before  # nothing written


def test_labels_need_seven_columns_a_labels_root_and_values_in_range(tmp_path, capsys):
    # A labels root but a 74-column (COVAREP-like) body.
    assert main(_small_sdk_files(tmp_path, label_values=np.zeros((1, 74)))) != 0
    assert "74 columns (7 for --label-kind emotions)" in capsys.readouterr().err
    # Seven columns under a feature root.
    assert main(_small_sdk_files(tmp_path, labels_root="FACET 4.2")) != 0
    assert "its root group is 'FACET 4.2'" in capsys.readouterr().err
    # A one-column file without --label-kind sentiment: the hint names the option.
    assert main(_small_sdk_files(tmp_path, label_values=np.array([[1.5]]))) != 0
    assert "needs --label-kind sentiment" in capsys.readouterr().err
    # Right shape and root, values no label file has.
    assert main(_small_sdk_files(tmp_path, label_values=np.array([[1.0, 0.5, 0, 7.5, 0, 0, 0]]))) != 0
    assert "emotion intensities range from 0 to 7.5, outside [0, 3]" in capsys.readouterr().err
    assert main(_small_sdk_files(tmp_path, label_values=np.array([[-4.0, 0.5, 0, 0, 0, 0, 0]]))) != 0
    assert "sentiment range from -4 to -4, outside [-3, 3]" in capsys.readouterr().err
    # The same files with proper labels import.
    assert main(_small_sdk_files(tmp_path)) == 0
