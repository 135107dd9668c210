"""Saving and loading a fitted model: seconds and megabytes, LDDU's `cpu` and `paper` presets.

A model's size depends on its hyperparameters and the data's feature dims, not on how long it
trained, so each preset is fitted for one epoch on a few random samples with the chosen dims
(default: the LDDU paper's MOSEI setup -- text 768 (BERT), audio 74, vision 35, 50 steps,
6 labels). Then ``method.save(dir)`` and ``Method.load(dir)`` are timed (median of
``--repeats``; the first load pays for imports and is reported apart) and the directory's size
is measured. The loaded model must give the same probabilities as the saved one. Loading
rebuilds the network from the saved hyperparameters (torch's random initialisation included,
then overwritten by the weights), which is most of a load's time; the process's CPU seconds
are printed beside wall-clock seconds because on a loaded machine the wall time includes
waiting for a core.

    python benchmarks/saved_models.py                       # paper dims, presets cpu and paper
    python benchmarks/saved_models.py --dims synthetic      # the synthetic default's dims (48/24/16, 24 steps)

Timings on a shared CPU are noisy. The last line is ``JSON {...}`` with every number.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIMS = {
    "paper": ({"text": 768, "audio": 74, "vision": 35}, 50),
    "synthetic": ({"text": 48, "audio": 24, "vision": 16}, 24),
}


def random_dataset(dims: dict[str, int], steps: int, n: int = 16, q: int = 6):
    from mmerbench.data import make_dataset, make_split

    rng = np.random.default_rng(0)

    def split():
        labels = (rng.random((n, q)) < 0.3).astype(np.uint8)
        labels[np.arange(n), rng.integers(0, q, n)] = 1
        features = {m: rng.normal(size=(n, steps, d)).astype(np.float32) for m, d in dims.items()}
        return make_split(features, labels, label_names=[f"emotion_{j}" for j in range(q)])

    return make_dataset("random", split(), split(), split(), params={})


def measure(preset: str, dataset, repeats: int) -> dict:
    import mmerbench
    from mmerbench.method import Method

    method = mmerbench.make_method("lddu", preset=preset, epochs=1, batch_size=16, device="cpu")
    method.fit(dataset.train, dataset.valid)
    expected = method.predict_proba(dataset.test)
    save_times, load_times, load_cpu = [], [], []
    with tempfile.TemporaryDirectory(prefix="mmerbench-bench-") as root:
        first_load = None
        for i in range(repeats):
            directory = Path(root) / f"model-{i}"
            started = time.perf_counter()
            method.save(directory)
            save_times.append(time.perf_counter() - started)
            started, cpu_started = time.perf_counter(), time.process_time()
            loaded = Method.load(directory, device="cpu")
            elapsed = time.perf_counter() - started
            if first_load is None:
                first_load = elapsed
            else:
                load_times.append(elapsed)
                load_cpu.append(time.process_time() - cpu_started)
        files = {p.name: p.stat().st_size for p in sorted(directory.iterdir())}
    same = bool(np.array_equal(loaded.predict_proba(dataset.test), expected))
    return {
        "preset": preset,
        "parameters": int(method.fit_info_["parameters"]),
        "megabytes": round(sum(files.values()) / 1e6, 3),
        "files": files,
        "save_seconds": round(statistics.median(save_times), 4),
        "load_seconds": round(statistics.median(load_times), 4) if load_times else None,
        "load_cpu_seconds": round(statistics.median(load_cpu), 4) if load_cpu else None,
        "first_load_seconds": round(first_load, 4),
        "same_probabilities": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", choices=sorted(DIMS), default="paper")
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    dims, steps = DIMS[args.dims]
    dataset = random_dataset(dims, steps)
    rows = [measure(preset, dataset, max(2, args.repeats)) for preset in args.presets.split(",")]
    for row in rows:
        print(f"lddu {row['preset']:<6} {row['parameters']:>10,} parameters  {row['megabytes']:8.2f} MB  "
              f"save {row['save_seconds']:.3f} s  load {row['load_seconds']:.3f} s "
              f"({row['load_cpu_seconds']:.3f} CPU s) "
              f"(first load {row['first_load_seconds']:.3f} s)  same probabilities: {row['same_probabilities']}")
    print(f"dims {args.dims}: {dims}, {steps} steps; reproduce: python benchmarks/saved_models.py "
          + " ".join(sys.argv[1:]))
    print("JSON " + json.dumps({"dims": args.dims, "rows": rows}))


if __name__ == "__main__":
    main()
