"""A reported-vs-reproduced gap is shown only on the papers' corpus; otherwise the table says why not."""

from __future__ import annotations

import pytest

from mmerbench.reporting import published_corpus
from mmerbench.reporting.leaderboard import build_leaderboard, leaderboard_markdown
from mmerbench.reporting.published_corpus import CMU_MOSEI, gap_refusal, mismatches

MOSEI = {"sizes": {"train": 16326, "valid": 1871, "test": 4659},
         "label_names": ["happy", "sad", "anger", "surprise", "disgust", "fear"],
         "modalities": {"text": 768, "audio": 74, "vision": 35}, "fingerprints": {"file": "abc"}}
# The user's fabricated file named cmu-mosei-mmsa: 240 samples, the right labels and dims.
FABRICATED = {**MOSEI, "sizes": {"train": 160, "valid": 40, "test": 40}}
# Another alignment (the SDK's folds) with GloVe features: right features, other split sizes.
SDK_ALIGNED = {**MOSEI, "sizes": {"train": 16265, "valid": 1869, "test": 4643},
               "modalities": {"text": 300, "audio": 74, "vision": 35}}


def _record(dataset):
    return {"key": "k", "method": "lddu", "method_version": "1", "dataset": dataset, "dataset_fingerprint": "f",
            "seed": 0, "status": "ok", "preset": None, "threshold": 0.5, "threshold_policy": "valid",
            "metrics": {"test": {"acc": 0.5, "p": 0.7, "r": 0.5, "mif1": 0.6}}}


def test_the_papers_corpus_matches_with_glove_or_bert_text():
    assert mismatches(CMU_MOSEI, MOSEI) == []
    assert mismatches(CMU_MOSEI, {**MOSEI, "modalities": {"text": 300, "audio": 74, "vision": 35}}) == []
    assert gap_refusal("cmu-mosei", "cmu-mosei", MOSEI, None) is None


@pytest.mark.parametrize("summary, says", [
    (FABRICATED, "its test split has 40 samples, CMU-MOSEI (standard split) has 4659"),
    (SDK_ALIGNED, "its train split has 16265 samples"),
    ({**MOSEI, "label_names": ["joy", "sad", "anger", "surprise", "disgust", "fear"]}, "its labels are anger"),
    ({**MOSEI, "modalities": {"text": 300, "audio": 33, "vision": 35}}, "its audio features are 33-d"),
])
def test_another_corpus_under_a_mosei_name_is_refused_with_the_reason(summary, says):
    refusal = gap_refusal("cmu-mosei", "cmu-mosei-mmsa", summary, None)
    assert refusal and refusal.startswith("No gap is shown") and says in refusal


def test_a_known_file_fingerprint_must_match_where_one_is_known():
    known = published_corpus.PublishedCorpus(**{**CMU_MOSEI.__dict__, "file_fingerprints": frozenset({"good"})})
    assert "file fingerprint abc is not that of the published file" in " ".join(mismatches(known, MOSEI))
    assert mismatches(known, {**MOSEI, "fingerprints": {"file": "good"}}) == []


@pytest.mark.parametrize("summary", [FABRICATED, SDK_ALIGNED])
def test_leaderboard_lists_the_papers_rows_but_no_gap_on_another_corpus(monkeypatch, summary):
    monkeypatch.setattr(published_corpus, "load_summary", lambda records, dataset: (summary, None))
    text = leaderboard_markdown([_record("cmu-mosei-mmsa")], "cmu-mosei-mmsa", with_reported=True)
    assert "LDDU (reported)" in text  # listed for information
    assert "Gap: ours − reported" not in text and "No gap is shown: cmu-mosei-mmsa is not the corpus" in text
    board = build_leaderboard([_record("cmu-mosei-mmsa")], "cmu-mosei-mmsa", with_reported=True)
    assert all(not row.annotations["gap"] and row.annotations["gap_refusal"] for row in board.reported)


def test_leaderboard_shows_the_gap_on_the_papers_corpus(monkeypatch):
    monkeypatch.setattr(published_corpus, "load_summary", lambda records, dataset: (MOSEI, None))
    text = leaderboard_markdown([_record("cmu-mosei-mmsa")], "cmu-mosei-mmsa", with_reported=True)
    assert "Gap: ours − reported" in text and "No gap is shown" not in text


def test_data_that_cannot_be_loaded_shows_no_gap_and_says_so():
    # Nothing named cmu-mosei is imported in the tests' private MMERBENCH_HOME.
    text = leaderboard_markdown([_record("cmu-mosei")], "cmu-mosei", with_reported=True)
    assert "No gap is shown: cmu-mosei could not be loaded to check that it is CMU-MOSEI" in text
