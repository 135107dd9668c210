"""Honest seeds (what a seed varies, --resample-valid) and the two named fingerprints (file, splits)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.data import recarve_validation
from mmerbench.execution.planning import job_key
from mmerbench.reporting.leaderboard import leaderboard_markdown
from mmerbench.execution.runner import plan

pytestmark = pytest.mark.usefixtures("testing_plugin")


def test_without_the_option_a_seed_varies_only_the_method(tmp_path):
    outcome = mmerbench.run(["br"], ["tiny-table"], [0, 1], results=tmp_path / "r")
    a, b = sorted(outcome.records, key=lambda r: r["seed"])
    assert a["dataset_fingerprint"] == b["dataset_fingerprint"] and a["valid_seed"] is None
    assert a["metrics"]["test"] == b["metrics"]["test"]  # a deterministic method: the same numbers
    footer = leaderboard_markdown(outcome.records, "tiny-table")
    assert "A seed sets only each method's random_state" in footer and "± 0.000" in footer


def test_resample_valid_redraws_the_carved_split_per_seed(tmp_path):
    outcome = mmerbench.run(["br"], ["tiny-table"], [0, 1], results=tmp_path / "r", resample_valid=True)
    a, b = sorted(outcome.records, key=lambda r: r["seed"])
    assert not outcome.failed, [r["error"] for r in outcome.failed]
    assert (a["valid_seed"], b["valid_seed"]) == (0, 1)
    # each job records the fingerprint of the splits it used; the file's stays shared
    assert a["dataset_fingerprint"] != b["dataset_fingerprint"]
    assert a["dataset_file_fingerprint"] == b["dataset_file_fingerprint"]
    dataset = mmerbench.load_dataset("tiny-table")
    assert b["dataset_fingerprint"] == recarve_validation(dataset, 1).fingerprint
    assert a["dataset_file_fingerprint"] == dataset.fingerprints["file"] != dataset.fingerprint
    assert a["metrics"]["test"] != b["metrics"]["test"]  # br now sees a different train set per seed
    assert "--resample-valid" in b["command"]
    assert "re-draws the validation split" in leaderboard_markdown(outcome.records, "tiny-table")


def test_recarving_keeps_every_training_sample_exactly_once():
    dataset = mmerbench.load_dataset("tiny-table")
    other = recarve_validation(dataset, 7)
    rows = lambda split: {tuple(r) for r in np.asarray(split.features["features"])[:, 0].round(5)}  # noqa: E731
    assert rows(dataset.train) | rows(dataset.valid) == rows(other.train) | rows(other.valid)
    assert rows(dataset.valid) != rows(other.valid) and len(other.valid) > 0
    carving_notes = [note for note in other.notes if note.startswith("validation carved")]
    assert len(carving_notes) == 1 and carving_notes[0].endswith("seed 7")  # the old carving's note is gone
    assert recarve_validation(mmerbench.load_dataset("tiny"), 7) is not None  # own valid split: unchanged
    assert recarve_validation(mmerbench.load_dataset("tiny"), 7).fingerprint == mmerbench.load_dataset("tiny").fingerprint


def test_keys_change_only_when_the_option_is_on():
    off, _ = plan(["br"], ["tiny-table", "tiny"], [0, 1])
    on, notes = plan(["br"], ["tiny-table", "tiny"], [0, 1], resample_valid=True)
    for before, after in zip(off, on):
        # the key without the option is exactly what it was before the option existed
        assert before.key == job_key(before) and before.valid_seed is None
        if after.dataset == "tiny":  # its own validation split: nothing to re-draw, same key
            assert after.key == before.key and after.valid_seed is None
        else:
            assert after.key != before.key and after.valid_seed == after.seed
    assert any("tiny has its own validation split" in note for note in notes)


def test_data_info_verify_and_the_footer_name_both_fingerprints(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 4))
    y = (x[:, :2] + 0.3 * rng.normal(size=(80, 2)) > 0).astype(int)
    np.savez(tmp_path / "train.npz", X=x[:60], Y=y[:60])
    np.savez(tmp_path / "test.npz", X=x[60:], Y=y[60:])
    assert main(["data", "import", "table", "fp-table", "--train", str(tmp_path / "train.npz"),
                 "--test", str(tmp_path / "test.npz"), "--label-columns", "last:2"]) == 0
    capsys.readouterr()
    assert main(["data", "verify", "fp-table"]) == 0
    verified = capsys.readouterr().out
    assert main(["data", "info", "fp-table"]) == 0
    info = capsys.readouterr().out
    outcome = mmerbench.run(["prior"], ["fp-table"], [0], results=tmp_path / "r")
    record = outcome.records[0]
    assert f"file fingerprint {record['dataset_file_fingerprint']} OK" in verified
    assert f"splits fingerprint {record['dataset_fingerprint']}" in verified
    assert f"file fingerprint {record['dataset_file_fingerprint']}" in info
    assert f"splits fingerprint {record['dataset_fingerprint']}" in info
    assert main(["data", "info", "fp-table", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["fingerprints"] == {"file": record["dataset_file_fingerprint"],
                                         "splits": record["dataset_fingerprint"]}
    footer = leaderboard_markdown(outcome.records, "fp-table")
    assert f"file fingerprint {record['dataset_file_fingerprint']}" in footer
    assert f"splits fingerprint {record['dataset_fingerprint']}" in footer
