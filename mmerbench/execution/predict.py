"""``mmerbench predict``: a finished job's saved model applied to another dataset.

The model is found by job key, or by method, training dataset and seed; the new dataset must
have the labels the model was trained on (same names, same order) and the same modalities
with the same feature dims, else a UsageError says what differs. Nothing is refitted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from mmerbench.errors import UsageError

SPLIT_CHOICES = ("test", "valid", "train", "all")


def find_job(records: list[dict], key: str | None = None, method: str | None = None,
             trained_on: str | None = None, seed: int | None = None, results: str = "") -> dict:
    """The one finished job named by ``key``, or by ``method`` + ``trained_on`` (+ ``seed``)."""
    finished = [r for r in records if r.get("status") == "ok"]
    if key is not None:
        if method is not None or trained_on is not None or seed is not None:
            raise UsageError("give either --key or --method/--trained-on/--seed, not both")
        matches = [r for r in finished if r["key"] == key]
        if not matches:
            prefix = [r for r in finished if r["key"].startswith(key)]
            if len(prefix) == 1:
                return prefix[0]
            raise UsageError(f"no finished job with key {key!r} in {results}; see `mmerbench results --results {results}`")
        return matches[0]
    if method is None or trained_on is None:
        raise UsageError("name the model: --key KEY, or --method M --trained-on DATASET [--seed S]")
    matches = [r for r in finished if r["method"] == method and r["dataset"] == trained_on
               and (seed is None or int(r["seed"]) == int(seed))]
    if not matches:
        available = sorted({(r["method"], r["dataset"], int(r["seed"])) for r in finished})
        listing = ", ".join(f"{m} on {d} seed {s}" for m, d, s in available) or "none"
        raise UsageError(f"no finished job of {method} trained on {trained_on}"
                         f"{'' if seed is None else f' with seed {seed}'} in {results}. Finished jobs: {listing}")
    if len(matches) > 1:
        lines = "\n".join(f"  {r['key']}  seed {r['seed']}  preset {r.get('preset')}  {r.get('overrides') or ''}"
                          for r in matches)
        raise UsageError(f"{len(matches)} finished jobs match {method} trained on {trained_on}"
                         f"{'' if seed is None else f' seed {seed}'}; choose one with --key (or --seed):\n{lines}")
    return matches[0]


def check_compatible(method, dataset, model_name: str = "the model") -> None:
    """Refuse a dataset whose labels or modalities differ from what ``method`` was trained on."""
    problems = []
    trained_labels = list(method.label_names_)
    labels = list(dataset.label_names)
    if labels != trained_labels:
        if sorted(labels) == sorted(trained_labels):
            problems.append(f"its labels are in another order: {labels}, the model's are {trained_labels}")
        else:
            problems.append(f"its labels are {labels}, the model's are {trained_labels}")
    schema = getattr(method, "train_schema_", None)
    if schema is not None:
        trained = {m: int(v["dim"]) for m, v in schema["modalities"].items()}
        given = {m: int(d) for m, d in dataset.modalities.items()}
        if given != trained:
            problems.append(f"its modalities (name: feature dim) are {given}, the model's are {trained}")
    if bool(dataset.single_label) != bool(method.single_label_):
        kind = "single-label" if dataset.single_label else "multi-label"
        problems.append(f"it is {kind}, the model is not")
    if problems:
        raise UsageError(f"dataset {dataset.name!r} does not fit {model_name}: " + "; ".join(problems)
                         + ". predict needs a dataset with the same labels and modalities")


def predict_splits(method, dataset, which: str = "test") -> list[tuple[str, object, np.ndarray, np.ndarray]]:
    """[(split name, split, probabilities (N, q), predictions (N, q))] for the chosen split(s)."""
    if which not in SPLIT_CHOICES:
        raise UsageError(f"--split {which!r} is not valid: use one of {', '.join(SPLIT_CHOICES)}")
    names = ("train", "valid", "test") if which == "all" else (which,)
    out = []
    for name in names:
        split = dataset.splits.get(name)
        if split is None:
            if which == "all":
                continue
            raise UsageError(f"dataset {dataset.name!r} has no {name} split; its splits: {', '.join(dataset.splits)}")
        proba = method.predict_proba(split)
        out.append((name, split, proba, method.predict(split)))
    return out


def predictions_csv(label_names: list[str], predicted) -> str:
    """One row per sample: split, index, id, proba_<label>..., pred_<label>..."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["split", "index", "id"] + [f"proba_{n}" for n in label_names] + [f"pred_{n}" for n in label_names])
    for name, split, proba, predictions in predicted:
        ids = split.ids if split.ids is not None else [""] * len(split)
        for i in range(len(split)):
            writer.writerow([name, i, ids[i]] + [f"{p:.6g}" for p in proba[i]] + [int(x) for x in predictions[i]])
    return buffer.getvalue()


def run_predict(results: str, *, on: str, dataset_params: dict | None = None, key: str | None = None,
                method: str | None = None, trained_on: str | None = None, seed: int | None = None,
                split: str = "test", output: str | None = None, device: str | None = None) -> tuple[str, str]:
    """Predict with a job's saved model; returns (csv text or '', one-line summary)."""
    from mmerbench.api import load_dataset
    from mmerbench.evaluation.metrics import score
    from mmerbench.execution.job_models import load_job_model
    from mmerbench.store.results import ResultStore

    with ResultStore(results, create=False) as store:
        record = find_job(store.records(), key, method, trained_on, seed, results)
    model = load_job_model(results, record["key"], device=device)
    described = f"job {record['key'][:12]} ({record['method']} trained on {record['dataset']} seed {record['seed']})"
    dataset = load_dataset(on, **(dataset_params or {}))
    check_compatible(model, dataset, described)
    predicted = predict_splits(model, dataset, split)
    text = predictions_csv(list(model.label_names_), predicted)
    scores = []
    for name, part, _, predictions in predicted:
        metrics = score(part.labels, predictions, single_label=dataset.single_label)
        scores.append(f"{name} miF1 {metrics['mif1']:.3f}")
    rows = sum(len(part) for _, part, _, _ in predicted)
    summary = f"{rows} samples of {on} predicted with {described}: " + ", ".join(scores)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {output}: cannot be written ({exc.strerror or exc})") from None
        return "", summary + f"; written to {output}"
    return text, summary
