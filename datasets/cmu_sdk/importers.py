"""CMU SDK importers: segments from the label intervals, standard folds by video id.

Each labelled interval of a video is one sample (id ``video[i]``). Unaligned:
a modality's frames are those whose midpoint lies in the segment, the first
``T`` of them kept. Aligned: the text (word) frames in the segment define the
steps; audio and vision are averaged over the frames inside each word's
interval (zeros where a word has none).
"""

from __future__ import annotations

import logging

import numpy as np

from mmerbench.errors import DataError, UsageError
from mmerbench.data.importing import (
    MOSEI_EMOTIONS, SplitSource, assign_folds, load_folds, require_file, sources_sha256, write_canonical,
)
from mmerbench_datasets._formats.cmu_labels import check_label_sequence, check_label_values
from mmerbench_datasets._formats.csd import ComputationalSequence, frames_within

log = logging.getLogger(__name__)

MODALITIES = ("text", "audio", "vision")
DEFAULT_STEPS = {"aligned": {"text": 50, "audio": 50, "vision": 50},
                 "unaligned": {"text": 50, "audio": 500, "vision": 500}}


def parse_steps(value: str | None, aligned: bool) -> dict[str, int]:
    steps = dict(DEFAULT_STEPS["aligned" if aligned else "unaligned"])
    if not value:
        return steps
    for part in value.split(","):
        key, _, number = part.partition("=")
        if key not in steps or not number.isdigit() or int(number) < 1:
            raise UsageError(f"--max-steps {value!r}: expected e.g. 'text=50,audio=500,vision=500'")
        steps[key] = int(number)
    if aligned:
        steps = {m: steps["text"] for m in steps}
    return steps


def decode_labels(raw: np.ndarray, kind: str, where: str) -> tuple[np.ndarray, list[str], bool]:
    if kind == "emotions":
        if raw.shape[1] < 7:
            raise DataError(f"{where}: labels have {raw.shape[1]} columns; emotion labels need 7 "
                            "(sentiment, happy, sad, anger, surprise, disgust, fear); "
                            "use --label-kind sentiment for a one-column sentiment file")
        return (raw[:, 1:7] > 0).astype(np.uint8), list(MOSEI_EMOTIONS), False
    negative = raw[:, 0] < 0
    return np.stack([negative, ~negative], axis=1).astype(np.uint8), ["negative", "non-negative"], True


class _SegmentRows:
    """A RowSource-like view: rows are segments, cut from one modality's sequence on demand."""

    def __init__(self, sequence, segments, frames, steps, aligned_to=None):
        self.sequence, self.segments, self.frames = sequence, segments, frames
        self.aligned_to = aligned_to  # per segment: the word intervals to average over
        self.shape = (len(segments), steps, sequence.dim if sequence is not None else 0)
        self.where = f"{sequence.path} (/{sequence.root}, cut into segments)" if sequence is not None else None
        self._cache = (None, None)

    def __len__(self):
        return self.shape[0]

    def _video(self, video):
        if self._cache[0] != video:
            middle = self.sequence.intervals(video).mean(axis=1)
            order = np.argsort(middle, kind="stable")
            self._cache = (video, (self.sequence.features(video), middle[order], order))
        return self._cache[1]

    def rows(self, start, stop):
        out = np.zeros((stop - start, self.shape[1], self.shape[2]), dtype=np.float32)
        for row, index in enumerate(range(start, stop)):
            video = self.segments[index][0]
            if video not in self.sequence:
                continue
            features, middle, order = self._video(video)
            if self.aligned_to is None:
                chosen = self.frames[index]
                out[row, : len(chosen)] = features[chosen]
            else:  # frames whose midpoint lies in each word's interval, found by binary search
                words = self.aligned_to[index]
                lo = np.searchsorted(middle, words[:, 0], side="left")
                hi = np.searchsorted(middle, words[:, 1], side="left")
                for step, (a, b) in enumerate(zip(lo, hi)):
                    if b > a:
                        out[row, step] = features[order[a:b]].mean(axis=0)
        return out


def import_sdk(output_path, name, dtype, labels, folds, text=None, audio=None, vision=None,
               aligned=False, max_steps=None, label_kind="emotions"):
    label_path = require_file(labels, "--labels (CMU_MOSEI_Labels.csd)")
    folds_path = require_file(folds, "--folds (standard_folds.json)")
    paths = {"text": text, "audio": audio, "vision": vision}
    # Which modality files are needed (aligned: --text; unaligned: at least one) is declared once, in
    # plugin.py, and checked by `mmerbench data import` before this function is called.
    given = {m: require_file(p, f"--{m} (.csd)") for m, p in paths.items() if p is not None}
    steps = parse_steps(max_steps, aligned)
    label_seq = ComputationalSequence(label_path, "--labels file")
    try:
        check_label_sequence(label_path, label_seq.root, label_seq.dim, label_kind)
    except DataError:
        label_seq.close()
        raise
    sequences = {m: ComputationalSequence(p, f"--{m} file") for m, p in given.items()}
    try:
        fold_of_video = dict(zip(label_seq.videos, assign_folds(label_seq.videos, load_folds(folds_path))))
        segments = {"train": [], "valid": [], "test": []}
        label_rows = {"train": [], "valid": [], "test": []}
        skipped = 0
        for video in label_seq.videos:
            split = fold_of_video[video]
            if not split:
                skipped += 1
                continue
            values, intervals = label_seq.features(video), label_seq.intervals(video)
            check_label_values(values, f"{label_path}: /{label_seq.root}/data/{video}/features")
            for i, (start, end) in enumerate(intervals):
                segments[split].append((video, i, float(start), float(end)))
                label_rows[split].append(values[i])
        if skipped:
            log.warning("%s: %d videos are in no standard fold and were skipped", label_path, skipped)
        out, label_names, single = {}, None, False
        for split, items in segments.items():
            if not items:
                if split == "valid":
                    continue
                raise DataError(f"{folds_path}: no labelled segment of {label_path} falls in the {split} fold "
                                "(do the folds belong to this dataset?)")
            raw = np.stack(label_rows[split]).astype(np.float32)
            labels_array, label_names, single = decode_labels(raw, label_kind, str(label_path))
            features, lengths = _cut(items, sequences, steps, aligned)
            ids = np.array([f"{video}[{i}]" for video, i, _, _ in items])
            out[split] = SplitSource(features, labels_array, lengths, ids, {"sentiment": raw[:, :1]})
        return write_canonical(
            output_path, name=name, dtype=dtype, label_names=label_names, splits=out, single_label=single,
            source_sha256=sources_sha256([label_path, folds_path, *given.values()]),
            attrs={"source_format": "cmu-sdk-csd", "aligned": bool(aligned), "max_steps": steps},
        )
    finally:
        label_seq.close()
        for sequence in sequences.values():
            sequence.close()


def _cut(items, sequences, steps, aligned):
    """Per modality: frame indices per segment (or word intervals when aligned), and lengths."""
    features, lengths = {}, {}
    intervals_cache: dict = {}

    def intervals(m, video):
        key = (m, video)
        if key not in intervals_cache:
            intervals_cache.clear() if len(intervals_cache) > 64 else None
            intervals_cache[key] = sequences[m].intervals(video) if video in sequences[m] else None
        return intervals_cache[key]

    words = None
    if aligned:
        words, word_frames, word_lengths = [], [], []
        for video, _i, start, end in items:
            iv = intervals("text", video)
            chosen = np.zeros(0, dtype=np.int64) if iv is None else frames_within(iv, start, end)[: steps["text"]]
            word_frames.append(chosen)
            words.append(iv[chosen] if iv is not None else np.zeros((0, 2)))
            word_lengths.append(len(chosen))
        features["text"] = _SegmentRows(sequences["text"], items, word_frames, steps["text"])
        lengths["text"] = np.array(word_lengths, dtype=np.int64)
    for m, sequence in sequences.items():
        if aligned and m == "text":
            continue
        if aligned:
            features[m] = _SegmentRows(sequence, items, None, steps[m], aligned_to=words)
            present = np.array([video in sequence for video, *_ in items])
            lengths[m] = np.where(present, lengths["text"], 0)
            continue
        frames = []
        for video, _i, start, end in items:
            iv = intervals(m, video)
            frames.append(np.zeros(0, dtype=np.int64) if iv is None else frames_within(iv, start, end)[: steps[m]])
        features[m] = _SegmentRows(sequence, items, frames, steps[m])
        lengths[m] = np.array([len(f) for f in frames], dtype=np.int64)
    order = [m for m in MODALITIES if m in features]
    return {m: features[m] for m in order}, {m: lengths[m] for m in order}


def import_sdk_aligned(output_path, name, dtype, **options):
    return import_sdk(output_path, name, dtype, aligned=True, **options)


def import_sdk_unaligned(output_path, name, dtype, **options):
    return import_sdk(output_path, name, dtype, aligned=False, **options)
