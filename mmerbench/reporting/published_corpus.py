"""Is this dataset the corpus the papers' numbers were measured on? Only then is a reported gap shown.

The rows in ``mmerbench/reported/*.csv`` were measured on CMU-MOSEI's standard
split (16326 / 1871 / 4659 samples, six emotions) with its usual features
(audio 74-d COVAREP, vision 35-d Facet, text 300-d GloVe in the MMS2S-era papers
or 768-d BERT in LDDU's). A file that merely carries a ``cmu-mosei`` name (a
240-sample file a user made, another alignment with other split sizes) is
another corpus, and a gap against the papers would compare unlike things: the
leaderboard then lists the papers' rows for information and says why no gap
is shown.

A published corpus's file fingerprint is checked where it is known
(:attr:`PublishedCorpus.file_fingerprints`; empty until someone records the
fingerprint of the exact file a paper used).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PublishedCorpus:
    """What the papers' corpus looks like, as far as a loaded dataset can show it."""

    title: str
    split_sizes: dict[str, int]
    labels: frozenset[str]
    feature_dims: dict[str, tuple[int, ...]]  # modality -> the dims the papers' features have
    file_fingerprints: frozenset[str] = field(default_factory=frozenset)  # empty: not known, not checked


CMU_MOSEI = PublishedCorpus(
    title="CMU-MOSEI (standard split)",
    split_sizes={"train": 16326, "valid": 1871, "test": 4659},
    labels=frozenset({"happy", "sad", "anger", "surprise", "disgust", "fear"}),
    feature_dims={"text": (300, 768), "audio": (74,), "vision": (35,)},
)
# The reported CSVs' dataset column -> the corpus their rows were measured on.
CORPORA = {"cmu-mosei": CMU_MOSEI}


def mismatches(corpus: PublishedCorpus, summary: dict) -> list[str]:
    """Why a dataset (its :meth:`~mmerbench.data.splits.Dataset.summary`) is not ``corpus``; [] when it is."""
    reasons = []
    sizes = summary.get("sizes") or {}
    for split, expected in corpus.split_sizes.items():
        if sizes.get(split) != expected:
            reasons.append(f"its {split} split has {sizes.get(split, 'no')} samples, {corpus.title} has {expected}")
    labels = {str(name).lower() for name in summary.get("label_names") or ()}
    if labels != corpus.labels:
        reasons.append(f"its labels are {', '.join(sorted(labels)) or 'none'}, {corpus.title}'s are "
                       f"{', '.join(sorted(corpus.labels))}")
    dims = summary.get("modalities") or {}
    for modality, allowed in corpus.feature_dims.items():
        if dims.get(modality) not in allowed:
            reasons.append(f"its {modality} features are {dims.get(modality, 'absent')}-d, the papers' are "
                           f"{' or '.join(map(str, allowed))}-d")
    file_fingerprint = (summary.get("fingerprints") or {}).get("file")
    if corpus.file_fingerprints and file_fingerprint not in corpus.file_fingerprints:
        reasons.append(f"its file fingerprint {file_fingerprint} is not that of the published file")
    return reasons


def load_summary(records: list[dict], dataset: str) -> tuple[dict | None, str | None]:
    """The summary of the data the table's jobs used (checked against their fingerprint), or why not."""
    from mmerbench.execution.job_dataset import load_job_dataset

    job = next((r for r in records if r.get("dataset") == dataset and r.get("status") == "ok"),
               {"dataset": dataset, "key": "-"})  # no job: the data under that name, unchecked
    try:
        return load_job_dataset(job).summary(), None
    except Exception as exc:  # noqa: BLE001 - a table must never fail for want of the data
        return None, f"{type(exc).__name__}: {exc}"


def gap_refusal(family: str, dataset: str, summary: dict | None, load_error: str | None) -> str | None:
    """None when ``dataset`` is the corpus of the reported ``family``; otherwise the sentence saying why not."""
    corpus = CORPORA.get(family)
    if corpus is None:
        return f"No gap is shown: the corpus behind the reported {family} rows is not described in mmerbench."
    if summary is None:
        return (f"No gap is shown: {dataset} could not be loaded to check that it is {corpus.title} "
                f"({load_error}).")
    reasons = mismatches(corpus, summary)
    if reasons:
        return (f"No gap is shown: {dataset} is not the corpus the papers measured ({corpus.title}): "
                + "; ".join(reasons) + ". The papers' rows are listed for information only.")
    return None
