"""Generation time, peak memory and file size of the synthetic datasets.

Each dataset is generated from scratch in its own process (so the peak
resident memory, ``ru_maxrss``, is that dataset's own) into a temporary
``MMERBENCH_HOME`` that is removed afterwards (``--keep`` keeps it). Then a few
random batches are read back, the way the training loop reads them.

    python benchmarks/synthetic.py                              # the small default
    python benchmarks/synthetic.py --datasets synthetic,synthetic-mosei
    python benchmarks/synthetic.py --datasets synthetic-mosei --dtype float16
    python benchmarks/synthetic.py --difficulty                 # how hard the default is

``--difficulty`` fits one logistic regression per label (binary relevance) on
pooled features of the small default and prints test scores next to the
label prior: mean pooling (what a crude method sees), max/min pooling, and
the oracle matched filter (max over time of each emotion's true signature,
smoothed over a cue window), and, with ``--attention``, a small learned model
that attends over time (per modality a one-layer transformer encoder, hidden
64, then one attention query per label; 12 epochs; best epoch on valid).

Timings are noisy on a shared machine; run it twice before trusting a number.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 64
BATCHES = 20


def estimated_bytes(name: str, dtype: str) -> int:
    from mmerbench.api import dataset_param_defaults

    p = dataset_param_defaults(name)
    n = p["n_train"] + p["n_valid"] + p["n_test"]
    if "text_steps" in p:
        per_sample = sum(p[f"{m}_steps"] * p[f"{m}_dim"] for m in ("text", "audio", "vision"))
    else:
        ratio = p["frame_ratio"] if p["unaligned"] else 1
        per_sample = p["steps"] * (p["text_dim"] + ratio * (p["audio_dim"] + p["vision_dim"]))
    return n * per_sample * (2 if dtype == "float16" else 4)


def measure_one(name: str, dtype: str) -> dict:
    """Generate ``name`` into the current MMERBENCH_HOME and read batches back (runs in a child)."""
    import numpy as np

    import mmerbench

    mmerbench.get_registry()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    dataset = mmerbench.load_dataset(name, dtype=dtype)
    generate_s = time.perf_counter() - start
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    again = mmerbench.load_dataset(name, dtype=dtype)
    cached_load_s = time.perf_counter() - start
    assert again.fingerprint == dataset.fingerprint
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(BATCHES):
        dataset.train.take(np.sort(rng.choice(len(dataset.train), BATCH, replace=False)))
    batch_ms = 1000 * (time.perf_counter() - start) / BATCHES
    return {
        "dataset": name,
        "dtype": dtype,
        "sizes": {k: len(v) for k, v in dataset.splits.items()},
        "steps": dataset.train.steps,
        "dims": dataset.modalities,
        "fingerprint": dataset.fingerprint,
        "file_gb": os.path.getsize(dataset.path) / 1e9,
        "generate_s": generate_s,
        "samples_per_s": sum(len(v) for v in dataset.splits.values()) / generate_s,
        "cached_load_s": cached_load_s,
        "random_batch_ms": batch_ms,
        "peak_rss_mb_before": rss_before / 1024,  # Linux reports KiB
        "peak_rss_mb": rss_peak / 1024,
    }


def attention_probabilities(train, valid, test, epochs: int = 12, seed: int = 0):
    """Valid and test probabilities of a small transformer + label-wise attention pooling."""
    import numpy as np
    import torch
    from torch import nn

    from mmerbench.evaluation.metrics import micro_f1

    torch.manual_seed(seed)
    hidden, q = 64, train.n_labels

    class LabelAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.project = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in train.modality_dims.items()})
            self.encode = nn.ModuleDict({m: nn.TransformerEncoder(
                nn.TransformerEncoderLayer(hidden, 4, 128, 0.1, batch_first=True), 1, enable_nested_tensor=False)
                for m in train.modalities})
            self.queries = nn.Parameter(0.1 * torch.randn(q, hidden))
            self.out = nn.Parameter(0.05 * torch.randn(q, hidden * len(train.modalities)))
            self.bias = nn.Parameter(torch.zeros(q))

        def forward(self, split):
            pooled = []
            for m in split.modalities:
                x = torch.from_numpy(np.asarray(split.features[m], dtype=np.float32))  # (B, T, D)
                mask = torch.arange(x.shape[1])[None, :] < torch.from_numpy(split.lengths[m])[:, None]  # (B, T)
                mask_any = mask.any(dim=1)
                mask = mask | ~mask_any[:, None]  # a missing modality attends to its zeros, then is zeroed
                h = self.encode[m](self.project[m](x), src_key_padding_mask=~mask)  # (B, T, H)
                scores = torch.einsum("bth,qh->bqt", h, self.queries).masked_fill(~mask[:, None], -1e9)
                weights = torch.softmax(scores, dim=-1) * mask_any[:, None, None]  # (B, q, T)
                pooled.append(torch.einsum("bqt,bth->bqh", weights, h))
            return (torch.cat(pooled, dim=-1) * self.out).sum(-1) + self.bias  # (B, q) logits

    model = LabelAttention()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng, best = np.random.default_rng(seed), (-1.0, None, None)
    for _ in range(epochs):
        model.train()
        for _, batch in train.batches(64, order=rng.permutation(len(train))):
            loss = nn.functional.binary_cross_entropy_with_logits(model(batch), torch.from_numpy(batch.labels).float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            proba_valid, proba_test = (torch.sigmoid(model(s)).numpy() for s in (valid, test))
        score = micro_f1(valid.labels, proba_valid > 0.5)
        if score > best[0]:
            best = (score, proba_valid, proba_test)
    return best[1], best[2]


def difficulty(name: str, seeds: list[int], attention: bool = False) -> None:
    """Prior vs binary-relevance logistic regression on pooled features (test miF1 / maF1)."""
    import h5py
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    import mmerbench
    from mmerbench.evaluation.metrics import best_threshold, macro_f1, micro_f1
    from mmerbench_datasets.synthetic.generator import SyntheticParams
    from mmerbench_datasets.synthetic.story import signatures

    def pooled(split, how, pattern):
        parts = []
        for m, x in split.features.items():
            x = np.asarray(x)
            valid = np.arange(x.shape[1])[None, :] < split.lengths[m][:, None]
            if how == "mean":
                parts.append(x.sum(axis=1) / np.maximum(split.lengths[m], 1)[:, None])
            elif how == "max/min":
                parts += [np.where(valid[..., None], x, -np.inf).max(axis=1), np.where(valid[..., None], x, np.inf).min(axis=1)]
            else:  # oracle matched filter, smoothed over a window of the cue's width
                width = max(1, round(3 * x.shape[1] / split.steps["text"]))
                projection = np.cumsum(np.pad(x @ pattern[m].T, ((0, 0), (1, 0), (0, 0))), axis=1)
                smooth = (projection[:, width:] - projection[:, :-width]) / width
                inside = np.arange(smooth.shape[1])[None, :] <= (split.lengths[m] - width)[:, None]
                parts.append(np.where(inside[..., None], smooth, -np.inf).max(axis=1))
        out = np.concatenate(parts, axis=1)
        return np.where(np.isfinite(out), out, 0.0)  # missing modalities

    print(f"difficulty of {name}: test micro-F1 / macro-F1, threshold chosen on valid")
    for seed in seeds:
        dataset = mmerbench.load_dataset(name, seed=seed)
        with h5py.File(dataset.path) as handle:
            stored = json.loads(handle.attrs["params"])
        pattern = signatures(SyntheticParams(**stored).story())
        train, valid, test = (s.to_memory() for s in (dataset.train, dataset.valid, dataset.test))
        rows = {}
        prior = train.labels.mean(axis=0)
        threshold = best_threshold(valid.labels, np.tile(prior, (len(valid), 1)))
        predicted = np.tile(prior, (len(test), 1)) > threshold
        rows["label prior"] = (micro_f1(test.labels, predicted), macro_f1(test.labels, predicted))
        for how in ("mean", "max/min", "oracle"):
            scaler = StandardScaler().fit(pooled(train, how, pattern))
            x_train, x_valid, x_test = (scaler.transform(pooled(s, how, pattern)) for s in (train, valid, test))
            proba_valid, proba_test = np.zeros(valid.labels.shape), np.zeros(test.labels.shape)
            for j in range(train.n_labels):
                model = LogisticRegression(max_iter=2000).fit(x_train, train.labels[:, j])
                proba_valid[:, j] = model.predict_proba(x_valid)[:, 1]
                proba_test[:, j] = model.predict_proba(x_test)[:, 1]
            predicted = proba_test > best_threshold(valid.labels, proba_valid)
            rows[f"BR-LR {how} pooled"] = (micro_f1(test.labels, predicted), macro_f1(test.labels, predicted))
        if attention:
            proba_valid, proba_test = attention_probabilities(train, valid, test)
            predicted = proba_test > best_threshold(valid.labels, proba_valid)
            rows["learned attention"] = (micro_f1(test.labels, predicted), macro_f1(test.labels, predicted))
        print(f"  seed {seed}: " + "; ".join(f"{k} {a:.3f}/{b:.3f}" for k, (a, b) in rows.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="synthetic", help="comma-separated synthetic dataset names")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16"))
    parser.add_argument("--home", help="MMERBENCH_HOME to generate into (default: a temporary folder, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--difficulty", action="store_true", help="score pooled-feature baselines instead")
    parser.add_argument("--attention", action="store_true", help="with --difficulty: also train a small attention model")
    parser.add_argument("--seeds", default="0", help="dataset seeds for --difficulty (comma-separated)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.difficulty:
        flags = " --attention" if args.attention else ""
        print(f"command: python benchmarks/synthetic.py --difficulty{flags} --datasets {args.datasets} --seeds {args.seeds}")
        for name in args.datasets.split(","):
            difficulty(name, [int(s) for s in args.seeds.split(",")], args.attention)
        return
    if args.child:
        print(json.dumps(measure_one(args.child, args.dtype)))
        return

    home = Path(args.home or tempfile.mkdtemp(prefix="mmerbench-bench-"))
    print(f"command: python benchmarks/synthetic.py --datasets {args.datasets} --dtype {args.dtype}")
    print(f"machine: {os.cpu_count()} cores visible; timings are noisy when the machine is shared")
    try:
        for name in args.datasets.split(","):
            need = estimated_bytes(name, args.dtype)
            free = shutil.disk_usage(home).free
            if need > 0.9 * free:
                print(f"{name}: skipped, needs about {need / 1e9:.1f} GB and {home} has {free / 1e9:.1f} GB free "
                      "(try --dtype float16 or --home on a larger disk)")
                continue
            cache = home / "cache" / "synthetic"
            for old in cache.glob(f"{name}-*.h5") if cache.exists() else ():
                old.unlink()  # measure a fresh generation
            env = {**os.environ, "MMERBENCH_HOME": str(home)}
            child = subprocess.run([sys.executable, __file__, "--child", name, "--dtype", args.dtype], env=env,
                                   capture_output=True, text=True)
            if child.returncode != 0:
                print(f"{name}: failed\n{child.stderr}")
                continue
            r = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"\n{name} ({r['dtype']}): sizes {r['sizes']}, steps {r['steps']}, dims {r['dims']}, "
                  f"fingerprint {r['fingerprint']}")
            print(f"  generate + write  {r['generate_s']:8.1f} s   ({r['samples_per_s']:.0f} samples/s)")
            print(f"  file size         {r['file_gb']:8.2f} GB  (estimated {need / 1e9:.2f} GB of features)")
            print(f"  peak RSS          {r['peak_rss_mb']:8.0f} MB  (after imports: {r['peak_rss_mb_before']:.0f} MB)")
            print(f"  cached load       {r['cached_load_s']:8.2f} s")
            print(f"  random batch of {BATCH} train samples: {r['random_batch_ms']:.1f} ms")
    finally:
        if not args.keep and not args.home:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
