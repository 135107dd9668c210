"""The sample viewer's data: every test sample's true labels and each row's probabilities and predictions.

Size, not fidelity, decides the encoding. Per (sample, row, label) the viewer
needs a probability and a prediction; for a 5000-sample test split, 20 rows
and 6 labels that is 600,000 entries. Stored as JSON numbers that is several
megabytes. Here each entry is two bytes: the probability in whole percent
(mean over the row's seeds) and the number of the row's seeds that predicted
the label present (each with its own threshold, as it was scored), packed
into base64 strings (4/3 bytes of text per byte: about 1.6 MB for that
split, 330 B per sample). They are cut into chunks of ``CHUNK`` samples, each a small
JavaScript file that the viewer loads when a sample in it is asked for, so a
reader downloads the index (row names, label names, the most disputed
samples) and one chunk, never the whole split. JavaScript files rather than
JSON because a page opened from disk (file://) may not fetch() files beside
it, but may load scripts.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmerbench.reporting.site import sources

CHUNK = 250  # samples per data file: ~80 kB for 20 rows and 6 labels
TOP_DISAGREEMENT = 50


@dataclass
class SampleData:
    label_names: list[str]
    rows: list[dict]  # {"label", "seeds", "page"}
    labels: np.ndarray  # (N, q) uint8
    percent: np.ndarray  # (N, R, q) uint8: mean probability over seeds, in whole percent
    votes: np.ndarray  # (N, R, q) uint8: seeds that predicted the label present
    notes: list[str] = field(default_factory=list)

    def disagreement(self) -> np.ndarray:
        """(N,) in [0, 1]: per label, p = share of all (row, seed) predictions saying present; 4·p·(1 − p)
        averaged over labels (1 when the predictions split half and half on every label)."""
        seeds = np.array([len(row["seeds"]) for row in self.rows], dtype=float)  # (R,)
        share = self.votes.sum(axis=1) / seeds.sum()  # (N, q)
        return (4 * share * (1 - share)).mean(axis=1)


def collect(rows, records: list[dict], results_dir: Path, pages: dict[str, str]) -> SampleData | None:
    """Read every row's stored test predictions; rows whose files are missing or whose test samples differ
    from the others' are left out with a note. None when no row has predictions."""
    by_key = {record["key"]: record for record in records}
    labels, label_names, kept, percent, votes, notes = None, None, [], [], [], []
    for row in rows:
        if row.reported:
            continue
        try:
            probabilities, predicted, row_labels = [], [], None
            for key in row.keys:
                record = by_key[key]
                arrays = sources.job_predictions(results_dir, key)
                proba, truth = arrays["test_proba"], arrays["test_labels"]
                if row_labels is not None and not np.array_equal(truth, row_labels):
                    raise ValueError("its seeds were scored on different test samples")
                row_labels = truth
                single = "single_acc" in (record.get("metrics", {}).get("test") or {})
                probabilities.append(np.asarray(proba, dtype=float))
                predicted.append(sources.thresholded(proba, record.get("threshold"), single))
                label_names = label_names or record.get("label_names")
        except (OSError, KeyError, ValueError) as exc:
            notes.append(f"{row.label}: left out ({exc})")
            continue
        if labels is None:
            labels = row_labels
        elif not np.array_equal(labels, row_labels):
            notes.append(f"{row.label}: left out (scored on other test samples than {kept[0]['label']})")
            continue
        kept.append({"label": row.label, "seeds": [by_key[k]["seed"] for k in row.keys], "page": pages[row.label]})
        percent.append(np.rint(np.mean(probabilities, axis=0) * 100).astype(np.uint8))
        votes.append(np.sum(predicted, axis=0).astype(np.uint8))
    if not kept:
        return None
    q = labels.shape[1]
    names = list(label_names or [])
    if len(names) != q:
        names = [f"label {j}" for j in range(q)]
    return SampleData(names, kept, labels.astype(np.uint8), np.stack(percent, axis=1), np.stack(votes, axis=1),
                      notes)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode("ascii")


def _script(call: str, payload: dict) -> str:
    # ensure_ascii: the file is plain ASCII JavaScript whatever the labels hold; JSON is valid JavaScript
    return f"{call}({json.dumps(payload, ensure_ascii=True, separators=(',', ':'))});\n"


def write(data: SampleData, folder: Path) -> dict:
    """Write ``index.js`` and ``chunk-<k>.js`` under ``folder``; return what the page says about them."""
    folder.mkdir(parents=True, exist_ok=True)
    n, rows, q = data.percent.shape
    disagreement = data.disagreement()
    top = np.argsort(-disagreement, kind="stable")[:TOP_DISAGREEMENT]
    index = {"n": int(n), "chunk": CHUNK, "labels": data.label_names, "rows": data.rows,
             "top": [[int(i), round(float(disagreement[i]), 3)] for i in top]}
    (folder / "index.js").write_text(_script("mmerbenchSamples.index", index))
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        chunk = {"start": start, "stop": stop, "labels": _b64(data.labels[start:stop]),
                 "percent": _b64(data.percent[start:stop]), "votes": _b64(data.votes[start:stop])}
        (folder / f"chunk-{start // CHUNK}.js").write_text(_script("mmerbenchSamples.chunk", chunk))
    size = sum(path.stat().st_size for path in folder.iterdir())
    return {"n": int(n), "rows": rows, "labels": q, "bytes": size, "chunks": -(-n // CHUNK), "notes": data.notes}
