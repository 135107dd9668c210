"""Import and epoch benchmark at MOSEI scale, in MulT's unaligned pickle layout.

Writes synthetic-mosei-shaped data (16326 / 1871 / 4659 samples; text 50x300,
audio 500x74, vision 500x35, float32: about 6.4 GB) as MulT's
``mosei_senti_data_noalign.pkl`` plus a labels-only ``train_valid_test.pt``,
imports it with ``mmerbench data import cmu-mosei-unaligned --dtype float16``
in a child process (time, peak RSS = VmHWM, and peak anonymous memory sampled
every 50 ms), then iterates one epoch of shuffled
training batches from the imported file in another child process (peak RSS,
batches per second). The features are random normal values generated chunk
by chunk (the figures measure I/O and memory, not learning). Timings are noisy:
the machine's cores are shared.

    python benchmarks/data.py [--workdir DIR] [--scale 1.0] [--batch-size 32] [--max-batches N]
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"train": 16326, "valid": 1871, "test": 4659}
SHAPES = {"text": (50, 300), "audio": (500, 74), "vision": (500, 35)}


def write_sources(folder: Path, scale: float, seed: int = 0) -> tuple[Path, Path]:
    """The MulT pickle (arrays generated into memmaps chunk by chunk, then pickled one by one)."""
    import torch

    rng = np.random.default_rng(seed)
    data, labels = {}, {}
    for split, n in SIZES.items():
        n = max(8, int(n * scale))
        data[split] = {}
        for m, (t, d) in SHAPES.items():
            target = np.lib.format.open_memmap(folder / f"{split}-{m}.npy", mode="w+", dtype=np.float32, shape=(n, t, d))
            for start in range(0, n, 512):
                stop = min(n, start + 512)
                target[start:stop] = rng.standard_normal((stop - start, t, d), dtype=np.float32)
            target.flush()
            data[split][m] = np.asarray(target)  # an ndarray view: pickles as a plain array
        data[split]["labels"] = rng.normal(size=(n, 1, 1)).astype(np.float32)
        labels[split] = {"tgt": [[2, int(e), 3] for e in rng.integers(4, 10, size=n)]}
    source = folder / "mosei_senti_data_noalign.pkl"
    with open(source, "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    del data
    for npy in folder.glob("*.npy"):
        npy.unlink()
    label_file = folder / "train_valid_test.pt"
    torch.save(labels, label_file)
    return source, label_file


PROBE = """
import threading, time
def _status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0
_peak = {"anon": 0.0}
def _sample():
    while True:
        _peak["anon"] = max(_peak["anon"], _status("RssAnon:"))
        time.sleep(0.05)
threading.Thread(target=_sample, daemon=True).start()
def peaks():
    _peak["anon"] = max(_peak["anon"], _status("RssAnon:"))
    return f"{_status('VmHWM:'):.0f} {_peak['anon']:.0f}"
"""

IMPORT_CHILD = PROBE + """
import resource, sys, time
from mmerbench.cli.main import main
start = time.perf_counter()
code = main(["data", "import", "cmu-mosei-unaligned", "--source", sys.argv[1], "--labels-from", sys.argv[2],
             "--dtype", "float16", "--force"])
print("IMPORT", code, time.perf_counter() - start, peaks())
"""

EPOCH_CHILD = PROBE + """
import resource, sys, time
import numpy as np, torch
import mmerbench
batch_size, max_batches = int(sys.argv[1]), int(sys.argv[2])
dataset = mmerbench.load_dataset("cmu-mosei-unaligned")
train = dataset.train
order = np.random.default_rng(0).permutation(len(train))
start, batches = time.perf_counter(), 0
for indices, batch in train.batches(batch_size, order):
    tensors = {m: torch.from_numpy(batch.features[m]) for m in batch.modalities}
    labels = torch.from_numpy(batch.labels.astype(np.float32))
    batches += 1
    if max_batches and batches >= max_batches:
        break
elapsed = time.perf_counter() - start
print("EPOCH", batches, elapsed, batches / elapsed, peaks())
"""


def child(code: str, *args: str, env: dict) -> list[str]:
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"child failed:\n{result.stdout}\n{result.stderr}")
    return [line for line in result.stdout.splitlines() if line.startswith(("IMPORT", "EPOCH"))][-1].split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="where to write the multi-GB files (default: a temporary folder)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of MOSEI's sample counts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-batches", type=int, default=0, help="stop the epoch early (0 = full epoch)")
    args = parser.parse_args()
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="mmerbench-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    needed = 3.2 * 6.4e9 * args.scale
    free = shutil.disk_usage(folder).free
    if free < needed:
        sys.exit(f"{folder}: {free / 1e9:.1f} GB free, the benchmark needs about {needed / 1e9:.1f} GB")
    env = {**os.environ, "MMERBENCH_HOME": str(folder / "home")}
    try:
        start = time.perf_counter()
        source, labels = write_sources(folder, args.scale)
        print(f"wrote {source} ({source.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")
        _, code, seconds, hwm, anon = child(IMPORT_CHILD, str(source), str(labels), env=env)
        stored = (folder / "home" / "data" / "cmu-mosei-unaligned.h5").stat().st_size
        print(f"import (float16): {float(seconds):.0f} s, peak RSS {hwm} MiB (of which anonymous, sampled: "
              f"{anon} MiB; the rest is the memory-mapped pickle, reclaimable page cache), "
              f"canonical file {stored / 1e9:.2f} GB")
        _, batches, seconds, rate, hwm, anon = child(EPOCH_CHILD, str(args.batch_size), str(args.max_batches), env=env)
        print(f"epoch: {batches} shuffled batches of {args.batch_size} in {float(seconds):.0f} s = "
              f"{float(rate):.1f} batches/s, peak RSS {hwm} MiB (anonymous, sampled: {anon} MiB)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print("reproduce: python benchmarks/data.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
