"""A reference detector that knows the generator's cue patterns: the yardstick for "how hard is a sample".

For every (emotion, modality) it reads the emotion's coefficient at every
step (the least-squares unmixing of the step on the emotions' signatures),
smooths it over a cue window, keeps the strongest response over the valid steps and divides it
by the sample's own background level (estimated from its features); one
logistic regression per emotion on the training split turns the modalities'
responses into a probability. Its per-sample loss (mean binary cross-entropy
over emotions) says how hard a sample is for an ideal-ish detector, and its
Spearman correlation with ``meta["noise"]`` says how much the true noise level
drives that difficulty.
"""

from __future__ import annotations

import numpy as np

from mmerbench_datasets.synthetic.story import signatures


def matched_filter_responses(split, story) -> np.ndarray:
    """(N, q, M): per emotion and modality, the strongest smoothed projection on the emotion's signature."""
    patterns = signatures(story)
    data = split.take(np.arange(len(split)))
    responses = []
    for m in story.modalities:
        x = data.features[m]  # (N, T, D)
        # The signatures are random, so not orthogonal: projecting on the pseudo-inverse reads each
        # emotion's own coefficient without cross-talk from the other emotions' cues.
        projection = x @ np.linalg.pinv(patterns[m]).astype(np.float32)  # (N, T, q)
        width = max(1, int(round(story.cue_steps * story.frame_ratio(m))))
        kernel = np.sin(np.pi * (np.arange(width) + 0.5) / width)
        kernel /= kernel.sum()
        smoothed = np.apply_along_axis(lambda column: np.convolve(column, kernel, mode="same"), 1, projection)
        valid = np.arange(x.shape[1])[None, :, None] < data.lengths[m][:, None, None]
        smoothed = np.where(valid, smoothed, -np.inf)
        best = smoothed.max(axis=1)  # (N, q)
        # In units of the sample's own background level (a robust scale of its features over the valid
        # steps; a cue window is too short to move a median), as a constant-false-alarm-rate detector does:
        # one threshold then fits quiet and noisy samples alike.
        magnitude = np.where(valid[..., 0, None], np.abs(x), np.nan).reshape(len(x), -1)
        with np.errstate(all="ignore"):
            background = 1.4826 * np.nanmedian(magnitude, axis=1)
        background = np.where(np.isfinite(background) & (background > 0), background, 1.0)
        responses.append(np.where(np.isfinite(best), best / background[:, None], 0.0))
    return np.stack(responses, axis=2)


def reference_losses(dataset, story) -> tuple[np.ndarray, np.ndarray]:
    """(test per-sample loss (N,), test probabilities (N, q)) of the reference detector fitted on train."""
    from sklearn.linear_model import LogisticRegression

    train_x = matched_filter_responses(dataset.train, story)
    test_x = matched_filter_responses(dataset.test, story)
    train_y, test_y = np.asarray(dataset.train.labels), np.asarray(dataset.test.labels)
    proba = np.zeros(test_y.shape)
    for j in range(train_y.shape[1]):
        model = LogisticRegression(max_iter=1000).fit(train_x[:, j], train_y[:, j])
        proba[:, j] = model.predict_proba(test_x[:, j])[:, 1]
    p = np.clip(proba, 1e-7, 1 - 1e-7)
    loss = -(test_y * np.log(p) + (1 - test_y) * np.log1p(-p)).mean(axis=1)
    return loss, proba
