"""Seconds per training step of deep methods, the epoch times they imply, and parameter counts.

For every (dataset, method, preset) this builds the method's model exactly as
``fit`` would (``build_model`` on the training split), then times full
training steps -- ``training_loss`` forward, backward, gradient clipping and
the optimizer step -- on random mini-batches of the method's own batch size.
The first ``--warmup`` steps are discarded; the median of the next
``--steps`` is reported. Loading a batch from the split is not timed.

The datasets are loaded with a small ``n_train`` (``--n-train``) where they
take that parameter: the time of one step depends on the batch's shapes, not on
how many samples the split holds. Epoch times are scaled to the dataset's
*default* training size (e.g. 16326 for synthetic-mosei).

Example (what the MulT/MISA/TAILOR note reports):

    python benchmarks/baselines_step.py --methods mult,misa,tailor \\
        --datasets synthetic-mosei,synthetic-mosei-aligned --presets cpu,paper

LSGMER and MCUR (their note; one thread, so that the CPU seconds are comparable):

    python benchmarks/baselines_step.py --methods lsgmer,mcur \
        --datasets synthetic-mosei-aligned,synthetic-mosei --presets paper,cpu --threads 1 --steps 3 --warmup 1

and for the LDDU paper's other baselines (wave 13):

    python benchmarks/baselines_step.py --methods raven,dfg,mms2s,hhmpn \\
        --datasets synthetic-mosei-aligned,synthetic-mosei --presets paper --n-train 64

Timings on a shared CPU are noisy: other processes compete for the cores. The CPU seconds
per step (``cpu_seconds_per_step``, printed beside the wall time) count only this process's own
work, so they stay meaningful on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import statistics
import sys
import time

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", required=True, help="comma-separated registered method names")
    parser.add_argument("--datasets", default="synthetic-mosei,synthetic-mosei-aligned")
    parser.add_argument("--presets", default="cpu,paper", help="comma-separated; 'default' = no preset")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--n-train", type=int, default=256, help="training samples to load (timing only)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    return parser.parse_args(argv)


def load_small(name: str, n_train: int):
    """The dataset with few samples where it takes n_train/n_valid/n_test, and its default train size."""
    import mmerbench
    from mmerbench.api import dataset_param_defaults

    defaults = dataset_param_defaults(name)
    small = {key: value for key, value in (("n_train", n_train), ("n_valid", 8), ("n_test", 8)) if key in defaults}
    dataset = mmerbench.load_dataset(name, **small)
    full_train = int(defaults.get("n_train", len(dataset.train)))
    return dataset, full_train


def time_steps(method, train, steps: int, warmup: int, device: str, seed: int, precision: str = "fp32",
               compile_backend: str | None = None) -> dict:
    """Build the model as ``fit`` does, then time ``warmup + steps`` training steps of the loop's own code.

    The model, optimiser and scheduler come from ``TorchMethod._start_fit`` and each step is
    ``TorchMethod._train_step`` (autocast, loss, backward, clip, step), so what is timed is what
    ``mmerbench run`` trains. ``precision`` "bf16" runs each step's forward and loss under bfloat16
    autocast; ``compile_backend`` (e.g. "inductor") hands ``training_loss`` a ``torch.compile``d model (the
    warm-up steps then include the compilation). The result also carries every step's loss (``losses``)
    and the trained model (``model``), so that a caller can score it.
    """
    import os

    import torch

    from mmerbench.training import COMPILE_BACKEND, Batch

    # The state Method.fit sets before TorchMethod._fit.
    method._check_threshold_param()
    method.label_names_ = list(train.label_names)
    method.n_labels_ = train.n_labels
    method.single_label_ = bool(train.single_label)
    method.fit_info_ = {"has_valid": False}
    method.device = device
    method.random_state = seed
    method.set_run_options(precision=precision, compile=bool(compile_backend))
    previous_backend = os.environ.get(COMPILE_BACKEND)
    if compile_backend:
        os.environ[COMPILE_BACKEND] = compile_backend
    try:
        model, optimizer, scheduler = method._start_fit(train)
    finally:
        if previous_backend is None:
            os.environ.pop(COMPILE_BACKEND, None)
        else:
            os.environ[COMPILE_BACKEND] = previous_backend
    batch_size = int(method.batch_size)
    rng = np.random.default_rng(seed)
    times, cpu_times, losses = [], [], []
    model.train()
    for step in range(warmup + steps):
        indices = np.sort(rng.choice(len(train), size=min(batch_size, len(train)), replace=False))
        batch = Batch.from_split(train.take(indices), indices, method.device_)
        if method.device_.type == "cuda":
            torch.cuda.synchronize()
        started, cpu_started = time.perf_counter(), time.process_time()
        loss, _ = method._train_step(model, batch, optimizer, scheduler, 1)
        if method.device_.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - cpu_started)
        losses.append(float(loss.detach()))
    for handle in getattr(method, "_clip_handles", []):  # methods that hook gradients during fit
        handle.remove()
    return {
        "seconds_per_step": statistics.median(times),
        # CPU seconds of this process (all its threads) per step: on a shared, overloaded
        # machine the wall time mostly measures the queue for the cores, this does not.
        "cpu_seconds_per_step": statistics.median(cpu_times),
        "batch_size": batch_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "losses": losses,
        "model": model,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    import mmerbench
    from mmerbench.api import method_class
    from mmerbench.training import TorchMethod

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    rows = []
    for dataset_name in datasets:
        dataset, full_train = load_small(dataset_name, args.n_train)
        train = dataset.train
        print(f"# {dataset_name}: steps {train.steps}, dims {train.modality_dims}; epochs scaled to {full_train} samples",
              flush=True)
        for method_name in methods:
            cls = method_class(method_name)
            if not issubclass(cls, TorchMethod):
                print(f"  {method_name}: not a torch method, skipped", flush=True)
                continue
            for preset in presets:
                if preset != "default" and preset not in cls.presets:
                    print(f"  {method_name}: no preset {preset!r} (has {sorted(cls.presets)}), skipped", flush=True)
                    continue
                method = mmerbench.make_method(method_name, preset=None if preset == "default" else preset,
                                               device=args.device)
                try:
                    row = time_steps(method, train, args.steps, args.warmup, args.device, args.seed)
                except Exception as error:  # report and go on: one broken configuration must not hide the rest
                    print(f"  {method_name} [{preset}]: FAILED: {type(error).__name__}: {error}", flush=True)
                    continue
                steps_per_epoch = math.ceil(full_train / row["batch_size"])
                row.pop("model")
                row.update(method=method_name, preset=preset, dataset=dataset_name,
                           steps_per_epoch=steps_per_epoch,
                           seconds_per_epoch=row["seconds_per_step"] * steps_per_epoch)
                rows.append(row)
                print(f"  {method_name:8s} [{preset:5s}] {row['seconds_per_step']:.3f} s/step "
                      f"({row['cpu_seconds_per_step']:.3f} CPU s) "
                      f"(batch {row['batch_size']}) -> {row['seconds_per_epoch'] / 60:.1f} min/epoch, "
                      f"{row['parameters']:,} parameters", flush=True)

    print()
    print("| method | preset | dataset | batch | s/step (median) | epoch (min) | parameters |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['method']} | {row['preset']} | {row['dataset']} | {row['batch_size']} | "
              f"{row['seconds_per_step']:.3f} | {row['seconds_per_epoch'] / 60:.1f} | {row['parameters']:,} |")
    print()
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}; median of {args.steps} steps after {args.warmup} warm-up")
    print("reproduce: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rows": rows, "args": vars(args), "torch": torch.__version__}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
