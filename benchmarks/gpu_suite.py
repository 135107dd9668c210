"""Training steps of every deep method's paper preset on MOSEI-sized synthetic data, ready for a GPU.

For every dataset (``synthetic-mosei-aligned``: 60 steps per modality;
``synthetic-mosei``: text 50, audio and vision 500 frames; MOSEI's dims 300 /
74 / 35) and every deep method, this builds the model as ``fit`` does and runs
``--steps`` training steps (forward, all loss terms, backward, clipping,
optimiser and scheduler: ``baselines_step.time_steps``) on random
mini-batches of the preset's own batch size, after ``--warmup`` untimed steps.
Per configuration it prints:

- seconds per step (median of the timed steps) and samples per second;
- the epoch time that implies for MOSEI's 16326 training samples;
- peak GPU memory (``torch.cuda.max_memory_allocated``, reset before each
  configuration); on the CPU the process's peak RSS, which only grows;
- the mean loss of the first and the last quarter of the steps, and whether
  it decreased (batches differ from step to step: a sanity check, noisy over
  few steps);
- validation miF1 (threshold 0.5) after the run, and for every variant
  beside fp32 eager its difference from fp32 eager (same seed, same
  initial weights, same batches).

Variants: fp32 eager always; ``--precision bf16`` adds bfloat16 autocast (what
a method's ``amp=True`` does); ``--compile`` adds ``torch.compile``d models
(backend ``--compile-backend``, default inductor) for each precision. A
configuration that fails (e.g. out of memory) is reported and the rest go on.

Smoke mode (implied without a GPU, or ``--smoke``): every method with its
``test_params`` (tiny widths and batches) on tiny versions of both datasets
(``--n-train`` samples, 8 text steps, 16 audio/vision frames unaligned), 2
steps, on the CPU, so that the script is known to run before anyone has a
GPU; ``tests/test_gpu_suite.py`` runs it. Its timings mean nothing.

    python benchmarks/gpu_suite.py                                   # on a GPU: fp32, 50 steps per method
    python benchmarks/gpu_suite.py --precision bf16 --compile        # plus bf16 and compiled rows
    python benchmarks/gpu_suite.py --steps 0                         # a whole epoch per configuration
    python benchmarks/gpu_suite.py --smoke --methods lddu,mult       # anywhere, seconds

The last line is ``JSON {"rows": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import shlex
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines_step import load_small, time_steps  # noqa: E402  (a sibling script, not a package)

DATASETS = "synthetic-mosei-aligned,synthetic-mosei"
MOSEI_TRAIN = 16326
# Smoke mode's tiny shapes (MOSEI's dims are kept): aligned 8 steps everywhere, unaligned 8 text steps
# and 16 audio/vision frames, so that both code paths (equal and unequal lengths) run.
SMOKE_STEPS = {"synthetic-mosei-aligned": (8, 8), "synthetic-mosei": (8, 16)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="all", help="comma-separated, or 'all' deep methods")
    parser.add_argument("--datasets", default=DATASETS)
    parser.add_argument("--preset", default="paper", help="the preset timed (default: each method's paper preset)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per configuration (default 50, smoke 2; 0: a whole epoch of MOSEI's size)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3, smoke 0)")
    parser.add_argument("--precision", default="fp32", help="comma-separated: fp32 (always run) and/or bf16")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend (default inductor)")
    parser.add_argument("--n-train", type=int, default=None,
                        help="training samples generated (default: enough for the steps; smoke 32)")
    parser.add_argument("--n-valid", type=int, default=None, help="validation samples scored (default 512, smoke 16)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 2 steps, on the CPU (implied without a GPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    args.precisions = ["fp32"] + [p for p in dict.fromkeys(x.strip() for x in args.precision.split(",")) if p and p != "fp32"]
    for precision in args.precisions:
        if precision not in ("fp32", "bf16"):
            parser.error(f"--precision {precision!r} is not valid: use fp32 and/or bf16, e.g. --precision bf16")
    if args.steps is not None and args.steps < 0:
        parser.error(f"--steps {args.steps} is not valid: use a positive number, or 0 for a whole epoch")
    return args


def deep_methods(names: str) -> list[str]:
    from mmerbench.api import method_class
    from mmerbench.plugins import get_registry
    from mmerbench.training import TorchMethod

    registered = sorted(get_registry().methods)
    wanted = registered if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in registered]
    if unknown:
        raise SystemExit(f"--methods: unknown {', '.join(unknown)}; registered: {', '.join(registered)}")
    return [n for n in wanted if issubclass(method_class(n), TorchMethod)]


def load_dataset(name: str, n_train: int, n_valid: int, smoke: bool):
    """The dataset with n_train / n_valid samples (and tiny sequences in smoke mode)."""
    import mmerbench

    if not smoke:
        dataset, _ = load_small(name, n_train)
        if n_valid and len(dataset.valid) < n_valid:
            dataset = mmerbench.load_dataset(name, n_train=n_train, n_valid=n_valid, n_test=8)
        return dataset
    if name not in SMOKE_STEPS:
        raise SystemExit(f"--smoke knows tiny shapes for {', '.join(SMOKE_STEPS)} only, not {name!r}")
    text, frames = SMOKE_STEPS[name]
    return mmerbench.load_dataset(name, n_train=n_train, n_valid=n_valid, n_test=8, text_steps=text,
                                  audio_steps=frames, vision_steps=frames)


def make_method(name: str, preset: str, smoke: bool, device: str):
    import mmerbench
    from mmerbench.api import method_class

    cls = method_class(name)
    if smoke:
        return mmerbench.make_method(name, device=device, **dict(cls.test_params))
    return mmerbench.make_method(name, preset=preset if preset in cls.presets else None, device=device)


def validation_mif1(method, model, valid, precision: str) -> float:
    """miF1 at 0.5 on the validation split, evaluated as the variant trained (same autocast)."""
    import numpy as np
    import torch

    from mmerbench.training import Batch

    model.eval()
    outputs = []
    with torch.no_grad():
        for indices, chunk in valid.batches(int(getattr(method, "eval_batch_size", None) or method.batch_size)):
            batch = Batch.from_split(chunk, indices, method.device_)
            with method._autocast():  # the precision the variant trained with (set by time_steps)
                outputs.append(method.forward_proba(model, batch).float().cpu().numpy())
    model.train()
    return float(method.selection_score(np.clip(np.concatenate(outputs), 0.0, 1.0), valid.labels))


def loss_trend(losses: list[float]) -> tuple[float, float, bool]:
    """Mean loss of the first and the last quarter of the steps (at least one step each), and whether it fell."""
    quarter = max(1, len(losses) // 4)
    first, last = statistics.fmean(losses[:quarter]), statistics.fmean(losses[-quarter:])
    return first, last, last < first


def peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; process-wide, never reset


def run_variant(method_name: str, dataset, args, device: str, precision: str, compiled: bool, steps: int,
                warmup: int) -> dict:
    """One configuration: fresh method and model from the seed, the steps, the trend, the score."""
    import torch

    method = make_method(method_name, args.preset, args.smoke, device)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timed = steps or math.ceil(MOSEI_TRAIN / int(method.batch_size))
    row = time_steps(method, dataset.train, timed, warmup, device, args.seed, precision=precision,
                     compile_backend=args.compile_backend if compiled else None)
    model = row.pop("model")
    first, last, decreased = loss_trend(row.pop("losses"))
    row.update(method=method_name, variant=precision + (" compiled" if compiled else ""), timed_steps=timed,
               samples_per_second=row["batch_size"] / row["seconds_per_step"],
               epoch_seconds=row["seconds_per_step"] * math.ceil(MOSEI_TRAIN / row["batch_size"]),
               peak_mb=peak_memory_mb(device), loss_first=first, loss_last=last, loss_decreased=decreased,
               valid_mif1=validation_mif1(method, model, dataset.valid, precision))
    return row


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    args.smoke = args.smoke or device == "cpu"
    steps = args.steps if args.steps is not None else (2 if args.smoke else 50)
    warmup = args.warmup if args.warmup is not None else (0 if args.smoke else 3)
    n_valid = args.n_valid or (16 if args.smoke else 512)
    variants = [(p, False) for p in args.precisions] + ([(p, True) for p in args.precisions] if args.compile else [])
    methods = deep_methods(args.methods)
    print(f"# device {device}" + (" (smoke mode: tiny sizes, test_params, timings mean nothing)" if args.smoke else "")
          + f"; {len(methods)} methods; variants: {', '.join(p + (' compiled' if c else '') for p, c in variants)}",
          flush=True)
    rows, failures = [], []
    for dataset_name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        largest_batch = max(int(make_method(m, args.preset, args.smoke, device).batch_size) for m in methods)
        n_train = args.n_train or (32 if args.smoke else min(MOSEI_TRAIN, 4 * largest_batch))
        dataset = load_dataset(dataset_name, n_train, n_valid, args.smoke)
        print(f"# {dataset_name}: steps {dataset.train.steps}, dims {dataset.train.modality_dims}, "
              f"{len(dataset.train)} train / {len(dataset.valid)} valid samples generated", flush=True)
        for method_name in methods:
            reference = None
            for precision, compiled in variants:
                label = f"{method_name} [{precision}{' compiled' if compiled else ''}] on {dataset_name}"
                try:
                    row = run_variant(method_name, dataset, args, device, precision, compiled, steps, warmup)
                except Exception as error:  # e.g. out of memory: report it and go on
                    failures.append(f"{label}: {type(error).__name__}: {error}")
                    print(f"  {label}: FAILED: {type(error).__name__}: {str(error)[:300]}", flush=True)
                    continue
                row["dataset"] = dataset_name
                if (precision, compiled) == ("fp32", False):
                    reference = row["valid_mif1"]
                row["mif1_difference"] = None if reference is None else row["valid_mif1"] - reference
                rows.append(row)
                difference = "" if row["variant"] == "fp32" or row["mif1_difference"] is None else \
                    f" ({row['mif1_difference']:+.3f} vs fp32)"
                print(f"  {label}: {row['seconds_per_step']:.3f} s/step, {row['samples_per_second']:.0f} samples/s, "
                      f"peak {row['peak_mb']:.0f} MB, loss {row['loss_first']:.4f} -> {row['loss_last']:.4f} "
                      f"({'decreased' if row['loss_decreased'] else 'did not decrease'}), "
                      f"valid miF1 {row['valid_mif1']:.3f}{difference}", flush=True)
    print_table(rows, device, args, steps, warmup, argv)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "failures": failures, "args": vars(args)}, indent=2, default=str))
    result = {"rows": rows, "failures": failures}
    print("JSON " + json.dumps(result))
    return result


def print_table(rows: list[dict], device: str, args, steps: int, warmup: int, argv) -> None:
    import torch

    print()
    print("| method | dataset | variant | batch | s/step | samples/s | epoch (min) | peak memory (MB) "
          "| loss first -> last | valid miF1 | vs fp32 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        difference = "" if row["mif1_difference"] is None or row["variant"] == "fp32" else f"{row['mif1_difference']:+.3f}"
        print(f"| {row['method']} | {row['dataset']} | {row['variant']} | {row['batch_size']} | "
              f"{row['seconds_per_step']:.3f} | {row['samples_per_second']:.0f} | {row['epoch_seconds'] / 60:.1f} | "
              f"{row['peak_mb']:.0f} | {row['loss_first']:.3f} -> {row['loss_last']:.3f}"
              f"{'' if row['loss_decreased'] else ' (no decrease)'} | {row['valid_mif1']:.3f} | {difference} |")
    gpu = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    memory = "peak GPU memory (torch.cuda.max_memory_allocated)" if device == "cuda" else \
        "peak RSS of the whole process so far (CPU)"
    print(f"\n{device} ({gpu}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"{'test_params' if args.smoke else 'preset ' + args.preset}; median of {steps or 'an epoch of'} steps "
          f"after {warmup} warm-up; memory: {memory}")
    given = sys.argv[1:] if argv is None else list(argv)
    print("reproduce: python benchmarks/gpu_suite.py " + " ".join(shlex.quote(a) for a in given))


if __name__ == "__main__":
    main()
