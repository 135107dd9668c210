"""The synthetic datasets: determinism, shapes, the generative story's promises, the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mmerbench
from mmerbench.data import load_canonical
from mmerbench.errors import UsageError
from mmerbench_datasets.synthetic import generator
from mmerbench_datasets.synthetic.generator import SyntheticParams, cache_path, write_synthetic
from mmerbench_datasets.synthetic.story import LABEL_NAMES, draw_labels, generate_chunk, sample_rng, signatures

TINY = dict(n_train=40, n_valid=10, n_test=20, steps=8, text_dim=6, audio_dim=4, vision_dim=3)


def tiny_params(**changes) -> SyntheticParams:
    values = dict(name="synthetic", seed=0, sizes=(40, 10, 20), steps={"text": 8, "audio": 8, "vision": 8},
                  dims={"text": 6, "audio": 4, "vision": 3})
    values.update(changes)
    return SyntheticParams(**values)


def arrays(dataset) -> dict[str, np.ndarray]:
    out = {}
    for split_name, split in dataset.splits.items():
        for m in split.modalities:
            out[f"{split_name}/features/{m}"] = np.asarray(split.features[m][()])
            out[f"{split_name}/lengths/{m}"] = split.lengths[m]
        out[f"{split_name}/labels"] = split.labels
        for key, value in split.meta.items():
            out[f"{split_name}/meta/{key}"] = value
    return out


def assert_same_arrays(a, b) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_data_and_different_seed_different_data(tmp_path):
    first = load_canonical(write_synthetic(tmp_path / "a.h5", tiny_params()))
    again = load_canonical(write_synthetic(tmp_path / "b.h5", tiny_params()))
    other = load_canonical(write_synthetic(tmp_path / "c.h5", tiny_params(seed=1)))
    assert first.fingerprint == again.fingerprint
    assert_same_arrays(arrays(first), arrays(again))
    assert other.fingerprint != first.fingerprint
    assert not np.array_equal(np.asarray(first.train.features["text"]), np.asarray(other.train.features["text"]))


def test_data_do_not_depend_on_chunk_size(tmp_path):
    params = tiny_params(missing_rate=0.3)
    whole = load_canonical(write_synthetic(tmp_path / "whole.h5", params, chunk_size=1000))
    pieces = load_canonical(write_synthetic(tmp_path / "pieces.h5", params, chunk_size=3))
    assert whole.fingerprint == pieces.fingerprint
    assert_same_arrays(arrays(whole), arrays(pieces))


def test_a_sample_does_not_depend_on_the_split_size_or_missing_rate(tmp_path):
    small = load_canonical(write_synthetic(tmp_path / "small.h5", tiny_params()))
    large = load_canonical(write_synthetic(tmp_path / "large.h5", tiny_params(sizes=(60, 10, 20))))
    np.testing.assert_array_equal(np.asarray(small.train.features["audio"]), np.asarray(large.train.features["audio"])[:40])
    dropped = load_canonical(write_synthetic(tmp_path / "dropped.h5", tiny_params(missing_rate=0.5)))
    present = dropped.train.lengths["text"] > 0
    np.testing.assert_array_equal(dropped.train.labels, small.train.labels)
    np.testing.assert_array_equal(np.asarray(dropped.train.features["text"])[present],
                                  np.asarray(small.train.features["text"])[present])


# --------------------------------------------------------------------------- shapes


def test_aligned_shapes_lengths_labels_and_meta():
    dataset = mmerbench.load_dataset("synthetic", **TINY)
    assert dataset.label_names == list(LABEL_NAMES)
    assert dataset.modalities == {"text": 6, "audio": 4, "vision": 3}
    assert {k: len(v) for k, v in dataset.splits.items()} == {"train": 40, "valid": 10, "test": 20}
    assert dataset.params["n_train"] == 40 and dataset.params["seed"] == 0 and dataset.params["cue_strength"] == 6.0
    split = dataset.train
    assert split.steps == {"text": 8, "audio": 8, "vision": 8}
    lengths = np.stack([split.lengths[m] for m in split.modalities], axis=1)
    assert (lengths == lengths[:, :1]).all(), "aligned modalities share their length"
    assert lengths.min() >= 4 and lengths.max() <= 8 and len(np.unique(lengths)) > 1
    for m in split.modalities:
        x = np.asarray(split.features[m])
        assert x.dtype == np.float32 and np.isfinite(x).all()
        padding = np.arange(8)[None, :] >= split.lengths[m][:, None]
        assert (x[padding] == 0).all() and (np.abs(x[~padding]).sum(axis=-1) > 0).all()
    assert set(split.labels.ravel()) <= {0, 1} and (split.labels.sum(axis=1) >= 1).all()
    assert split.meta["noise"].shape == (40, 3) and (split.meta["noise"] > 0).all()
    assert split.meta["intensity"].shape == (40, 6)
    assert ((split.meta["intensity"] > 0) == (split.labels == 1)).all()
    assert split.meta["cued"].shape == (40, 6, 3)


def test_unaligned_audio_and_vision_have_more_frames_and_stretched_lengths():
    dataset = mmerbench.load_dataset("synthetic", unaligned=True, frame_ratio=5, **TINY)
    split = dataset.test
    assert split.steps == {"text": 8, "audio": 40, "vision": 40}
    np.testing.assert_array_equal(split.lengths["audio"], 5 * split.lengths["text"])
    np.testing.assert_array_equal(split.lengths["vision"], 5 * split.lengths["text"])
    registered = mmerbench.load_dataset("synthetic-unaligned", **{**TINY, "n_valid": 0})
    assert registered.valid is None and registered.train.steps["audio"] == 32


def test_missing_modalities_have_zero_length_and_zero_features_but_never_all():
    dataset = mmerbench.load_dataset("synthetic", missing_rate=0.6, **{**TINY, "n_train": 200})
    split = dataset.train
    lengths = np.stack([split.lengths[m] for m in split.modalities], axis=1)
    missing = lengths == 0
    assert 0.4 < missing.mean() < 0.65  # 0.6 per modality, minus the rule that one always stays
    assert not missing.all(axis=1).any()
    for k, m in enumerate(split.modalities):
        assert (np.asarray(split.features[m])[missing[:, k]] == 0).all()
        assert (split.meta["cued"][missing[:, k], :, k] == 0).all()


def test_mosei_presets_declare_mosei_shapes_without_generating(monkeypatch):
    captured = {}
    monkeypatch.setattr(generator, "load_params", lambda params, given: captured.setdefault("p", params))
    generator.load_synthetic_mosei()
    params = captured.pop("p")
    assert params.sizes == (16326, 1871, 4659)
    assert params.steps == {"text": 50, "audio": 500, "vision": 500}
    assert params.dims == {"text": 300, "audio": 74, "vision": 35}
    generator.load_synthetic_mosei_aligned()
    assert captured["p"].steps == {"text": 60, "audio": 60, "vision": 60}


@pytest.mark.parametrize("change, word", [({"missing_rate": 1.0}, "missing_rate"), ({"dtype": "int8"}, "dtype"),
                                          ({"n_train": 0}, "n_train"), ({"cue_steps": 8}, "cue_steps")])
def test_bad_parameters_are_refused_with_their_name(change, word):
    with pytest.raises(UsageError, match=word):
        mmerbench.load_dataset("synthetic", **{**TINY, **change})


# --------------------------------------------------------------------------- the story


def test_label_frequencies_and_correlations_follow_mosei():
    labels = np.array([draw_labels(sample_rng(0, 0, i))[0] for i in range(6000)])
    frequency = dict(zip(LABEL_NAMES, labels.mean(axis=0)))
    assert 0.44 < frequency["happy"] < 0.58
    assert frequency["fear"] < 0.12 and frequency["surprise"] < 0.13
    assert frequency["sad"] > frequency["surprise"] and frequency["anger"] > frequency["fear"]
    counts = np.bincount(labels.sum(axis=1), minlength=5)
    assert counts[0] == 0 and counts[4:].sum() == 0
    assert (counts[2] + counts[3]) / len(labels) > 0.15 and counts[3] > 0
    corr = np.corrcoef(labels.T.astype(float))
    happy, sad, anger, disgust = (LABEL_NAMES.index(n) for n in ("happy", "sad", "anger", "disgust"))
    assert corr[happy, sad] < -0.2 and corr[happy, anger] < -0.2
    assert corr[anger, disgust] > 0.15


@pytest.fixture(scope="module")
def story_data():
    params = SyntheticParams(name="synthetic", seed=3, sizes=(700, 200, 400), steps={m: 24 for m in ("text", "audio", "vision")},
                             dims={"text": 48, "audio": 24, "vision": 16})
    story = params.story()
    pattern = signatures(story)
    splits = [generate_chunk(story, pattern, index, range(size)) for index, size in enumerate(params.sizes)]
    return story, pattern, splits


def _mean_pooled(split) -> np.ndarray:
    return np.concatenate([x.sum(axis=1) / np.maximum(split["lengths"][m], 1)[:, None]
                           for m, x in split["features"].items()], axis=1)


def test_mean_pooled_logistic_regression_beats_the_label_prior(story_data):
    from sklearn.linear_model import LogisticRegression

    from mmerbench.evaluation.metrics import best_threshold, micro_f1

    _, _, (train, valid, test) = story_data
    features = [_mean_pooled(s) for s in (train, valid, test)]
    proba = [np.zeros(s["labels"].shape) for s in (valid, test)]
    for j in range(len(LABEL_NAMES)):
        model = LogisticRegression(max_iter=1000).fit(features[0], train["labels"][:, j])
        for out, x in zip(proba, features[1:]):
            out[:, j] = model.predict_proba(x)[:, 1]
    prior = np.tile(train["labels"].mean(axis=0), (len(valid["labels"]), 1))
    prior_f1 = micro_f1(test["labels"], np.tile(train["labels"].mean(axis=0), (len(test["labels"]), 1))
                        > best_threshold(valid["labels"], prior))
    pooled_f1 = micro_f1(test["labels"], proba[1] > best_threshold(valid["labels"], proba[0]))
    assert pooled_f1 > prior_f1 + 0.05, (pooled_f1, prior_f1)


def test_cues_sit_in_windows_that_max_pooling_finds_better_than_mean_pooling(story_data):
    from sklearn.metrics import roc_auc_score

    _, pattern, (train, _, _) = story_data
    x, lengths, labels = train["features"]["text"], train["lengths"]["text"], train["labels"]
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    auc_max, auc_mean = [], []
    for j in range(len(LABEL_NAMES)):
        projection = x @ pattern["text"][j]  # (N, T): the matched filter of emotion j
        auc_max.append(roc_auc_score(labels[:, j], np.where(valid, projection, -np.inf).max(axis=1)))
        auc_mean.append(roc_auc_score(labels[:, j], projection.sum(axis=1) / lengths))
    assert np.mean(auc_max) > np.mean(auc_mean) + 0.05, (auc_max, auc_mean)
    assert min(auc_max) > 0.8


def _normalised_peaks(split, directions, modality="text") -> np.ndarray:
    """(N, K): per sample, the largest response over valid steps to each unit direction, over the noise level."""
    x, lengths = split["features"][modality], split["lengths"][modality]
    projection = x @ directions.T  # (N, T, K)
    valid = np.arange(x.shape[1])[None, :, None] < lengths[:, None, None]
    noise = split["meta"]["noise"][:, 0][:, None]  # text is modality 0
    return np.where(valid, projection, -np.inf).max(axis=1) / noise


def test_absent_emotions_leave_weak_confuser_windows(story_data):
    # The synthetic story: absent emotions sometimes leave weak windows of their signature, so crude pooling confuses
    # emotions. Against random directions (no confusers by construction), an absent emotion's own signature
    # must stand out in the upper tail far more often than chance, and still below its present cues.
    _, pattern, (train, _, _) = story_data
    labels = train["labels"].astype(bool)
    own = _normalised_peaks(train, pattern["text"])  # (N, q)
    random = np.random.default_rng(0).standard_normal(pattern["text"].shape)
    null = _normalised_peaks(train, random / np.linalg.norm(random, axis=1, keepdims=True))
    cutoff = np.quantile(null[~labels], 0.95)
    above = (own[~labels] > cutoff).mean()
    assert above > 0.12, f"absent emotions reach the null's 95th percentile in {above:.1%} of samples (chance 5%)"
    assert np.median(own[labels]) > np.quantile(own[~labels], 0.9)  # confusers are weaker than cues


def test_text_is_the_most_reliable_modality_and_vision_the_least(story_data):
    _, _, (train, _, _) = story_data
    present = train["labels"].astype(bool)
    shown = train["meta"]["cued"][present]  # (present pairs, modality)
    text, audio, vision = shown.mean(axis=0)
    assert text > audio + 0.1 and audio > vision + 0.05


def test_meta_noise_is_the_background_noise_level(story_data):
    _, pattern, (train, _, _) = story_data
    x, lengths = train["features"]["audio"], train["lengths"]["audio"]
    # Away from the cue directions the features are background noise only.
    basis, _ = np.linalg.qr(pattern["audio"].T, mode="complete")
    background = x @ basis[:, len(LABEL_NAMES):]
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    spread = np.sqrt((background ** 2).sum(axis=(1, 2)) / (valid.sum(axis=1) * background.shape[2]))
    noise = train["meta"]["noise"][:, 1]
    assert np.corrcoef(spread, noise)[0, 1] > 0.95
    assert np.mean(noise) > np.median(noise)  # skewed to the right


# --------------------------------------------------------------------------- the cache


def test_second_load_reuses_the_cache(monkeypatch):
    first = mmerbench.load_dataset("synthetic", seed=11, **TINY)
    path = first.path
    mtime = os.stat(path).st_mtime_ns

    def refuse(*args, **kwargs):
        raise AssertionError("the cached file was generated again")

    monkeypatch.setattr(generator, "write_synthetic", refuse)
    second = mmerbench.load_dataset("synthetic", seed=11, **TINY)
    assert second.path == path and second.fingerprint == first.fingerprint
    assert os.stat(path).st_mtime_ns == mtime


def test_leftovers_of_a_killed_generation_are_removed():
    params = SyntheticParams(name="synthetic", seed=12, sizes=(40, 10, 20), steps={"text": 8, "audio": 8, "vision": 8},
                             dims={"text": 6, "audio": 4, "vision": 3})
    target = cache_path(params)
    target.parent.mkdir(parents=True, exist_ok=True)
    leftover = target.with_name(f".{target.name}.tmp-999999-dead")
    leftover.write_bytes(b"half a dataset")
    other = target.with_name(".synthetic-0123456789abcdef.h5.tmp-1-live")  # another target's: not ours to remove
    other.write_bytes(b"")
    dataset = mmerbench.load_dataset("synthetic", seed=12, **TINY)
    assert dataset.path == str(target) and not leftover.exists() and other.exists()
    other.unlink()


def test_a_damaged_cache_file_is_generated_again():
    good = mmerbench.load_dataset("synthetic", seed=13, **TINY)
    with open(good.path, "r+b") as handle:
        handle.write(b"not an HDF5 file")
    again = mmerbench.load_dataset("synthetic", seed=13, **TINY)
    assert again.path == good.path and again.fingerprint == good.fingerprint


def test_cache_key_changes_with_every_parameter():
    base = tiny_params()
    changed = [tiny_params(seed=1), tiny_params(noise_scale=2.0), tiny_params(dtype="float16"),
               tiny_params(sizes=(41, 10, 20)), tiny_params(dims={"text": 6, "audio": 4, "vision": 4}),
               tiny_params(name="synthetic-unaligned"), tiny_params(missing_rate=0.1)]
    paths = {cache_path(p) for p in [base, *changed]}
    assert len(paths) == 1 + len(changed)
    assert cache_path(base) == cache_path(tiny_params())
    louder = mmerbench.load_dataset("synthetic", noise_scale=2.0, **TINY)
    quiet = mmerbench.load_dataset("synthetic", **TINY)
    assert louder.path != quiet.path and louder.fingerprint != quiet.fingerprint


def test_two_processes_generating_the_same_dataset_both_succeed(tmp_path):
    # Both workers import everything, say they are ready, and wait for one "go", so that
    # their generations overlap; the lock must let exactly one of them generate.
    script = textwrap.dedent("""
        import json, logging, pathlib, sys, time
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        import mmerbench
        from mmerbench_datasets.synthetic import generator
        mmerbench.get_registry()
        folder = pathlib.Path(sys.argv[1])
        (folder / f"ready-{sys.argv[2]}").touch()
        while not (folder / "go").exists():
            time.sleep(0.005)
        dataset = mmerbench.load_dataset("synthetic", seed=5, n_train=1200, n_valid=10, n_test=10, steps=40)
        print(json.dumps({"fingerprint": dataset.fingerprint, "path": dataset.path, "n": len(dataset.train)}))
    """)
    home, signals = tmp_path / "home", tmp_path / "signals"
    signals.mkdir()
    env = {**os.environ, "MMERBENCH_HOME": str(home), "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}
    workers = [subprocess.Popen([sys.executable, "-c", script, str(signals), str(i)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    deadline = time.monotonic() + 60
    while len(list(signals.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            break
        time.sleep(0.01)
    (signals / "go").touch()
    results = [worker.communicate(timeout=120) for worker in workers]
    for worker, (out, err) in zip(workers, results):
        assert worker.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    assert reports[0] == reports[1] and reports[0]["n"] == 1200
    assert sum(err.count("generating synthetic") for _, err in results) == 1, "the lock let both generate"
    folder = home / "cache" / "synthetic"
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith((".lock", ".stamp"))) == [
        os.path.basename(reports[0]["path"])]
    assert load_canonical(reports[0]["path"]).fingerprint == reports[0]["fingerprint"]


# --------------------------------------------------------------------------- disk space


def _cache_files(home):
    folder = home / "cache" / "synthetic"
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def test_a_dataset_that_would_not_fit_on_the_disk_is_refused_before_writing(monkeypatch, tmp_path):
    monkeypatch.setenv("MMERBENCH_HOME", str(tmp_path))
    with pytest.raises(UsageError, match=r"synthetic: generating it needs about \d+\.\d\d GB .* GB are free"):
        mmerbench.load_dataset("synthetic", n_train=10 ** 9)  # about 8.5 TB: known before anything is written
    assert _cache_files(tmp_path) == []


def test_the_disk_check_uses_the_free_space_of_the_cache_disk(monkeypatch, tmp_path):
    import shutil
    from collections import namedtuple

    monkeypatch.setenv("MMERBENCH_HOME", str(tmp_path))
    real_disk_usage = shutil.disk_usage
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(generator.shutil, "disk_usage", lambda folder: usage(10 ** 9, 10 ** 9 - 10 ** 6, 10 ** 6))
    with pytest.raises(UsageError, match="only 0.00 GB are free"):
        mmerbench.load_dataset("synthetic", **TINY)
    assert _cache_files(tmp_path) == []
    monkeypatch.setattr(generator.shutil, "disk_usage", real_disk_usage)
    dataset = mmerbench.load_dataset("synthetic", **TINY)
    assert len(dataset.train) == TINY["n_train"]


def test_the_size_estimate_covers_the_written_file(tmp_path):
    params = tiny_params(sizes=(400, 50, 50), steps={"text": 24, "audio": 96, "vision": 96},
                         dims={"text": 48, "audio": 24, "vision": 16})
    path = write_synthetic(tmp_path / "x.h5", params)
    size = path.stat().st_size
    assert size <= generator.expected_bytes(params) * generator.DISK_MARGIN + generator.DISK_SLACK
    assert size >= 0.9 * generator.expected_bytes(params)  # and is not a wild overestimate
