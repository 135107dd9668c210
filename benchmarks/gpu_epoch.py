"""One training epoch of each deep method's ``paper`` preset on MOSEI-sized synthetic data, on a GPU.

For every (dataset, method, precision) this builds the model as ``fit`` does and
runs training steps (forward, backward, clipping, optimiser) on random
mini-batches of the method's own batch size: a whole epoch's worth of steps
(16326 training samples for ``synthetic-mosei``), or ``--steps`` of them. It
prints seconds per epoch (measured, or extrapolated from the steps timed), and
the peak GPU memory of each configuration. Precision: fp32, and bf16 under
``torch.autocast`` (what ``amp=True`` does in ``TorchMethod``).

Without a GPU it runs in smoke mode (``--smoke`` is implied): a few steps on
the CPU, no bf16, peak RSS instead of GPU memory, so that the script is known
to work before anyone has a GPU. Example:

    python benchmarks/gpu_epoch.py                      # on a GPU machine: every method, full epochs
    python benchmarks/gpu_epoch.py --smoke --methods mult,lddu --n-train 64   # anywhere
"""

from __future__ import annotations

import argparse
import math
import platform
import resource
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines_step import load_small, time_steps  # noqa: E402  (a sibling script, not a package)

DATASETS = "synthetic-mosei-aligned,synthetic-mosei"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="all", help="comma-separated, or 'all' deep methods")
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--steps", type=int, default=0, help="steps to time (0: a whole epoch)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=0,
                        help="training samples to generate (0: the dataset's full size, needed for a whole epoch)")
    parser.add_argument("--smoke", action="store_true", help="a few steps only, on whatever device there is")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def deep_methods(names: str) -> list[str]:
    from mmerbench.api import method_class
    from mmerbench.plugins import get_registry
    from mmerbench.training import TorchMethod

    wanted = [n.strip() for n in names.split(",") if n.strip()] if names != "all" else sorted(get_registry().methods)
    return [n for n in wanted if issubclass(method_class(n), TorchMethod)]


def peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; process-wide, not per row


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    import mmerbench

    device = "cuda" if torch.cuda.is_available() else "cpu"
    smoke = args.smoke or device == "cpu"
    steps = args.steps or (3 if smoke else 0)
    precisions = ["fp32", "bf16"] if device == "cuda" else ["fp32"]
    n_train = args.n_train or (64 if smoke else 0)
    print(f"# device {device}{' (smoke mode: a few steps, timings are not an epoch)' if smoke else ''}", flush=True)
    rows = []
    for dataset_name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        dataset, full_train = load_small(dataset_name, n_train) if n_train else load_small(dataset_name, 10**9)
        train = dataset.train
        for method_name in deep_methods(args.methods):
            for precision in precisions:
                method = mmerbench.make_method(method_name, preset=args.preset, device=device)
                if precision == "bf16":
                    method.amp = True  # TorchMethod._autocast reads it
                batch_size = int(method.batch_size)
                epoch_steps = math.ceil(full_train / batch_size)
                timed = steps or epoch_steps
                if device == "cuda":
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                try:
                    row = time_steps(method, train, timed, args.warmup, device, args.seed)
                except Exception as error:  # e.g. out of memory: report it and go on
                    print(f"  {method_name} [{precision}] on {dataset_name}: FAILED: {type(error).__name__}: {error}",
                          flush=True)
                    continue
                row.update(method=method_name, dataset=dataset_name, precision=precision, timed_steps=timed,
                           epoch_seconds=row["seconds_per_step"] * epoch_steps, peak_mb=peak_memory_mb(device))
                rows.append(row)
                print(f"  {method_name:8s} {precision} {dataset_name}: {row['seconds_per_step']:.3f} s/step x "
                      f"{epoch_steps} steps = {row['epoch_seconds'] / 60:.1f} min/epoch, peak {row['peak_mb']:.0f} MB",
                      flush=True)
    print()
    print("| method | dataset | precision | batch | s/step | epoch (min) | peak memory (MB) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['method']} | {row['dataset']} | {row['precision']} | {row['batch_size']} | "
              f"{row['seconds_per_step']:.3f} | {row['epoch_seconds'] / 60:.1f} | {row['peak_mb']:.0f} |")
    memory = "peak GPU memory (torch.cuda.max_memory_allocated)" if device == "cuda" else "peak RSS of the process so far"
    print(f"\n{device}, torch {torch.__version__}, {platform.processor() or platform.machine()}; "
          f"preset {args.preset}; median step of {steps or 'an epoch of'} steps; memory: {memory}")
    print("reproduce: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
