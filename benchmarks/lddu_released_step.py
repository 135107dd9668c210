"""Seconds per training step and peak memory of the authors' released LDDU code, at its own sizes.

The comparison point for ``benchmarks/lddu_step.py`` (issue 12, item 13): run
both in the same sitting. This script imports the model and optimiser from a
local checkout of the public code (github 201983290498/lddu_mmer, not part
of mmerbench, never vendored here) and times what its ``train.py`` does per
batch: ``MyModel.forward(..., training=True)`` (all loss terms, queue
update), backward, ``clip_grad_norm_(1.0)`` and ``BertAdam.step``, with
train.sh's settings (batch 64, lr 2e-4, cml 0.3, kll 0, cdl 1, crl 0.3,
queue 8192, hidden 256, latent 128) on random aligned inputs of MOSEI's
sizes (50 steps; text 768, vision 35, audio 74) with MOSEI-like label
frequencies, on the CPU.

    git clone https://github.com/201983290498/lddu_mmer /tmp/lddu_mmer
    python benchmarks/lddu_released_step.py --code /tmp/lddu_mmer --threads 2

Notes on running that code on a CPU: ``train.py`` calls
``torch.cuda.set_device``, which this script never reaches (it builds the
model itself); the code's ``file_utils`` imports ``boto3``/``requests``/``tqdm`` to
download pretrained weights it never needs here, so when they are not
installed empty stand-in modules are registered for the import only. The
released queue is full from the start (random rows), so every step already
builds the full (1152 + 8192)^2 similarity matrix: no warm-up fill is needed.
The last line is ``JSON {"seconds_per_step": ..., "peak_rss_mb": ...}``.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import resource
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

MOSEI_FREQUENCIES = np.array([0.50, 0.25, 0.21, 0.10, 0.17, 0.08])
TRAIN_SH = dict(lr=2e-4, cml=0.3, kll=0.0, cdl=1.0, rel=0.0, crl=0.3, batch_size=64)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", required=True, type=Path, help="a checkout of github 201983290498/lddu_mmer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--queue", type=int, default=8192, help="moco_queue (train.py's default 8192)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def stand_in_modules() -> None:
    """Empty modules for the download-only imports of the code's file_utils, when not installed."""
    for package, names in (("boto3", ["boto3"]), ("requests", ["requests"]), ("tqdm", ["tqdm"]),
                           ("botocore", ["botocore", "botocore.exceptions"])):
        if package in sys.modules or importlib.util.find_spec(package) is not None:
            continue
        for name in names:
            module = types.ModuleType(name)
            module.ClientError = type("ClientError", (Exception,), {})
            module.tqdm = None
            module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # torch inspects specs
            sys.modules[name] = module


def task_config(queue: int) -> argparse.Namespace:
    """train.py's defaults with train.sh's overrides: what ``MyModel`` reads from ``task_config``."""
    return argparse.Namespace(
        aligned=True, text_dim=768, video_dim=35, audio_dim=74, max_words=60, max_frames=60, max_sequence=60,
        bert_num_hidden_layers=3, visual_num_hidden_layers=3, audio_num_hidden_layers=3,
        cross_num_hidden_layers=3, decoder_num_hidden_layers=1, num_classes=6, hidden_size=256,
        latent_size=128, label_dim=256, pro_dim=256, threshold=0.21, final_loss=1.0, moco_queue=queue,
        temperature=0.07, local_rank=0, warmup_proportion=0.1, **TRAIN_SH,
    )


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    stand_in_modules()
    sys.path.insert(0, str(args.code.resolve()))
    from src.models.myModels import MyModel  # the released code
    from src.models.optimization import BertAdam

    config = task_config(args.queue)
    model = MyModel.from_pretrained("bert-base", "visual-base", "audio-base", "cross-base", "decoder-base",
                                    task_config=config)
    model.train()
    no_decay = ("bias", "LayerNorm.bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = BertAdam(groups, lr=config.lr, warmup=0.1, schedule="warmup_cosine", t_total=1000,
                         weight_decay=0.01, max_grad_norm=1.0)
    rng = np.random.default_rng(args.seed)
    label_input, label_mask = torch.arange(6), torch.ones(6, dtype=torch.long)
    batch = config.batch_size
    step_times, cpu_times = [], []
    for step in range(args.warmup + args.steps):
        text = torch.from_numpy(rng.standard_normal((batch, 50, 768)).astype(np.float32))
        vision = torch.from_numpy(rng.standard_normal((batch, 50, 35)).astype(np.float32))
        audio = torch.from_numpy(rng.standard_normal((batch, 50, 74)).astype(np.float32))
        mask = torch.ones(batch, 50, dtype=torch.long)
        labels = torch.from_numpy((rng.random((batch, 6)) < MOSEI_FREQUENCIES).astype(np.float32))
        index = torch.arange(step * batch, (step + 1) * batch)
        started, cpu_started = time.perf_counter(), time.process_time()
        loss = model(text, mask, vision, mask, audio, mask, label_input, label_mask,
                     groundTruth_labels=labels, training=True, samples_index=index)[0]
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step_times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    timed = step_times[args.warmup:]
    seconds, cpu_seconds = statistics.median(timed), statistics.median(cpu_times[args.warmup:])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"released LDDU code ({args.code}), train.sh sizes, batch {batch}, queue {args.queue}, "
          f"{args.threads} torch threads")
    print(f"  steps (s): {', '.join(f'{t:.3f}' for t in timed)}")
    print(f"  median seconds per step: {seconds:.3f}; CPU seconds per step: {cpu_seconds:.3f}")
    print(f"  peak RSS: {peak_mb:.0f} MB  (shared CPU: timings are noisy)")
    result = {"seconds_per_step": round(seconds, 4), "cpu_seconds_per_step": round(cpu_seconds, 4),
              "peak_rss_mb": round(peak_mb, 1)}
    print("JSON " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
