"""Seconds per LDDU training step and peak memory, at the released code's sizes or on a dataset.

Default (``--sizes released``): the sizes of the authors' train.sh -- batch 64,
6 labels, hidden 256, emotion space 256, latent 128, queue 8192, 50 steps per
modality, text 768 / vision 35 / audio 74 -- with random inputs and
MOSEI-like label frequencies, and mmerbench's default (paper) contrastive
loss. ``--scl reference-code`` times the released code's contrastive choice
instead (36 classes, every queue row an anchor: a 9344 x 9344 matrix).

``--dataset NAME --preset paper`` times the preset on real batches of a
registered dataset (loaded with a small ``n_train``: a step's cost depends on
the batch's shapes, not on the split's size) and prints the epoch time implied
for the dataset's default training size.

A step is what ``fit`` does per batch: ``training_loss`` (forward, all loss
terms, queue update), backward, gradient clipping, the optimizer and
scheduler steps. The queue is filled before timing (steady state, as after the
first epoch's few steps); the first ``--warmup`` steps are discarded and the
median of the next ``--steps`` is reported, plus the time of the contrastive
loss alone (forward and backward). At the released sizes each step draws a
fresh random batch (as ``lddu_released_step.py`` does), so the process holds
one batch and the two scripts' peak RSS count the same things. Peak memory is
the process's peak RSS (``ru_maxrss``), imports included. Besides
wall-clock seconds the script prints the process's CPU seconds per step: on a
loaded machine the wall time is inflated by waiting for a core, the CPU time
much less (at ``--threads 1`` it is the most load-robust figure).

The FLOP floor (skip with ``--no-floor``; ``flop_floor.py``): one more step is
run with every matrix product recorded (attention on PyTorch's math path, so
that its products are seen) and its FLOPs counted; the recorded products are
then replayed alone, back to back, at the same thread count. That replay time
is the floor: the step if everything but its matrix products were free and
those products ran at the speed this machine gives their exact shapes. At
the released sizes a step is 85 GFLOP, almost all of it the three
encoders' linear layers (forward and both backward products).

``--released-code CHECKOUT`` then times the released code's step
(``lddu_released_step.py``) in a fresh process in the same sitting, with
the same threads, and prints the ratio; the load averages before and after
are printed with every run.

    python benchmarks/lddu_step.py --threads 2 --released-code /tmp/lddu_mmer   # the issue-24 figures
    python benchmarks/lddu_step.py --scl reference-code  # the released code's SupCon, for comparison
    python benchmarks/lddu_step.py --dataset synthetic-mosei --preset paper
    python benchmarks/lddu_step.py --dataset synthetic-mosei-aligned --preset paper

Peak RSS depends on the allocator. By default this script measures with
glibc's dynamic default, as a job runs; ``--malloc-mmap-threshold 131072``
fixes the mmap threshold (the same as running with
``MALLOC_MMAP_THRESHOLD_=131072``) so that freed activations go back to the OS:
less memory, more page faults. Quiet, at the released sizes (2 threads),
before issue 24: 0.90 s/step and 1509 MB by default, 1.40 s/step and 1016 MB
with the fixed threshold; in one quiet sitting (2026-11-30): 0.91 s/step and
1584 MB here; ``--scl reference-code`` 2.43 s/step and 2913 MB; the released
code itself (``lddu_released_step.py --threads 2``) 4.10 s/step and 6649 MB.
Where the time went then (torch profiler, released sizes): PyTorch's CPU
dropout mask (``bernoulli_``) was a third of the step's CPU time, the
matrix products most of the rest. Since issue 24 every built-in method draws
its dropout masks with ``methods/_blocks/dropout.py`` (``rand >= p``: the
mask's draw 3.2x cheaper than ``bernoulli_``, 2.4 against 7.7 ms for 64 x 50
x 256 floats, and the layer's forward and backward 1.5x, 6.1 against 9.2 ms,
1 thread, CPU time; a new random stream, so those methods' versions were
bumped). What is left (profiler, 1 thread): the matrix products about two
thirds of the CPU time, CPU flash attention about an eighth (T = 50 is too
short for it to run near the products' speed, and the math path is slower
still), the dropout's uniform draws about 6% (serial: PyTorch's CPU generator
is one stream), the paper's SupCon at queue 8192 about 3% (about 250 anchors
x 9344 rows; 2.6 GFLOP).
Then (issue 24, LDDU at its targets), every change but the last leaving every
number as it was, bit for bit: the dropout mask is a float tensor made in place
in the uniform draw's buffer (a boolean mask cost a conversion inside each
product, forward and backward); the float32 uniforms are drawn two per int64
word (``methods/_blocks/uniform.py``: torch.rand's numbers at about half the
serial generator's cost, which more threads do not reduce); an unpadded batch
skips the attention mask; SupCon's class sums no longer copy the queue; and,
changing rounding only (lddu version 4), LDDU's Adam runs in PyTorch's fused
kernel (5 against 17 ms a step) and its encoders' input LayerNorm and
projection take ``methods/_blocks/norm_linear.py``'s backward (one matrix
product instead of two: 1.4 GFLOP less a step). Together about 0.1 CPU
seconds a step at 1 thread (in-process A/B, alternated steps, on a loaded
machine).
Then (lddu version 5, both changing LDDU's numbers and nobody else's): CPU
flash attention hardly gains from a second thread at T = 50 (about 21 ms per
layer, forward and backward, on one thread, 15-16 ms on two), so LDDU's
encoders project queries, keys and values with one product and attend
through batched products that keep the 5 MB probability map for backward
(``methods/_blocks/short_self_attention.py``; long sequences keep the fused
kernel); and its dropout masks come from NumPy's PCG64 seeded by one draw of
torch's generator per mask, each 32-bit word compared with an integer
threshold in one pass (``methods/_blocks/pcg_masks.py``; the serial draw about
a third cheaper, the passes that made float uniforms gone, a large mask's two
halves drawn by two threads). In-process A/B against version 4's paths at 2
threads (alternated steps, 8 each, medians; 2026-12-08, a shared VM whose
speed drifted by 15% within the hour): 0.756 -> 0.703 s/step wall at load
0.1 (before the two-thread draw, which took another 14-17 ms), 0.850 -> 0.759
(1.662 -> 1.479 CPU s) in a slower hour; at 1 thread 1.288 -> 1.259 CPU s
(-2%: the attention gain is mostly the second thread's). This script at 2
threads: 0.686 s/step (floor 0.490 s, 1.40x; released code 6.55 s, 9.6x) in
the quiet sitting, 0.717-0.739 s/step (released 7.1-7.4 s) in the slower
hour. Peak RSS 1306-1379 MB, about 90 MB more than version 4 (the kept
probability maps and per-head copies). After the merge (a job run with
``--threads 1`` draws both halves of a mask on its own thread), quiet machine
(load 0.6 before), ``python benchmarks/lddu_step.py --threads 2 --released-code
<export of 201983290498/lddu_mmer>``: 0.717 s/step (steps 0.69-0.88), CPU 1.430
s/step, peak RSS 1314 MB; floor 0.576 s (83.3 GFLOP at 141 GFLOP/s: this VM's
matrix products ran 13% slower than the day before), step / floor 1.25;
released code 7.810 s/step, 7033 MB, in the same sitting: 10.89x.

Timings on a shared CPU are noisy: other processes compete for the cores.
The last line is ``JSON {"seconds_per_step": ..., "peak_rss_mb": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

RELEASED = dict(hidden=256, layers=3, heads=8, feedforward=256, label_dim=256, attention_dim=256,
                emotion_dim=256, latent=128, queue_size=8192, batch_size=64)
RELEASED_DIMS = {"text": 768, "vision": 35, "audio": 74}
MOSEI_FREQUENCIES = np.array([0.50, 0.25, 0.21, 0.10, 0.17, 0.08])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=None, help="a registered dataset (default: random tensors at released sizes)")
    parser.add_argument("--preset", default=None, help="an LDDU preset (with --dataset; default paper)")
    parser.add_argument("--scl", choices=("paper", "reference-code"), default="paper",
                        help="contrastive mode at released sizes (default: mmerbench's default, the paper's)")
    parser.add_argument("--steps", type=int, default=7, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="steps discarded before timing")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--n-train", type=int, default=512, help="samples loaded from --dataset")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="override the batch size (e.g. to fit paper-preset unaligned steps in CPU memory); "
                             "the implied epoch time is then scaled per sample")
    parser.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                        help="override an LDDU hyperparameter (value parsed as JSON when it parses), "
                             "e.g. --set checkpoint_encoders=true; repeatable")
    parser.add_argument("--malloc-mmap-threshold", type=int, default=0, metavar="BYTES",
                        help="fix glibc's mmap threshold (bytes; 0 = leave glibc's dynamic default). With the "
                             "dynamic default, freed activation tensors stay in the heap and RSS only grows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the FLOP floor (one more step, recorded, and its matrix products replayed)")
    parser.add_argument("--released-code", type=Path, default=None, metavar="CHECKOUT",
                        help="then time the released code's step in the same sitting (lddu_released_step.py, same "
                             "threads, in a fresh process) and print the ratio")
    parser.add_argument("--released-steps", type=int, default=3, help="timed steps of the released code")
    return parser.parse_args(argv)


def fix_mmap_threshold(threshold: int) -> bool:
    """mallopt(M_MMAP_THRESHOLD, threshold) on glibc: large tensors are then mmapped and go back to the OS when freed.

    glibc raises its mmap threshold each time a large mmapped block is freed,
    so after the first step PyTorch's activation buffers come from the heap,
    which is never trimmed: peak RSS then counts freed memory too. Setting
    the threshold explicitly turns that adjustment off (the same as the
    environment variable MALLOC_MMAP_THRESHOLD_). False when not on glibc.
    """
    if threshold <= 0:
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(-3, int(threshold)))  # -3 = M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


def overrides(pairs: list[str]) -> dict:
    parsed = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected PARAM=VALUE, e.g. --set checkpoint_encoders=true")
        try:
            parsed[name] = json.loads(text)
        except json.JSONDecodeError:
            parsed[name] = text
    return parsed


def random_split(n: int, steps: int, rng: np.random.Generator):
    from mmerbench.data import make_split

    labels = (rng.random((n, 6)) < MOSEI_FREQUENCIES).astype(np.uint8)
    features = {m: rng.standard_normal((n, steps, d)).astype(np.float32) for m, d in RELEASED_DIMS.items()}
    lengths = {m: np.full(n, steps, dtype=np.int64) for m in RELEASED_DIMS}
    return make_split(features, labels, lengths, label_names=["happy", "sad", "anger", "surprise", "disgust", "fear"])


def build(args):
    from mmerbench.api import load_dataset, make_method

    if args.dataset is None:
        train = random_split(64, 50, np.random.default_rng(args.seed))  # one batch: the shapes for build_model
        params = dict(RELEASED, device="cpu")
        if args.scl == "reference-code":
            params.update(similarity_scale=0.5, scl_anchors="batch+queue", scl_anchors_without_positives="zero")
        method = make_method("lddu", **params)
        default_n_train = None
    else:
        dataset = load_dataset(args.dataset, n_train=args.n_train, n_valid=8, n_test=8)
        from mmerbench.api import dataset_param_defaults

        default_n_train = dataset_param_defaults(args.dataset).get("n_train")
        train = dataset.train
        method = make_method("lddu", preset=args.preset or "paper", device="cpu")
        if args.batch_size:
            method.set_params(batch_size=args.batch_size)
    if args.set:
        method.set_params(**overrides(args.set))
    return method, train, default_n_train


def fill_queue(method, rng_seed: int) -> None:
    """Fill the queue with unit rows and classes as real batches would leave it."""
    queue = method.queue_
    generator = torch.Generator().manual_seed(rng_seed)
    rows = torch.nn.functional.normalize(torch.randn(queue.capacity, queue.dim, generator=generator), dim=1)
    classes = torch.randint(0, 36, (queue.capacity,), generator=generator)
    queue.enqueue(rows, classes)


def main(argv=None) -> dict:
    args = parse_args(argv)
    mmap_fixed = fix_mmap_threshold(args.malloc_mmap_threshold)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from mmerbench.training import Batch

    load_before = os.getloadavg()

    method, train, default_n_train = build(args)
    method.device_ = torch.device("cpu")
    model = method.build_model(train)
    method.on_fit_start(model, train)
    model.train()
    optimizer, scheduler = method.configure_optimizer(model, 1000)
    fill_queue(method, args.seed)
    batch_size = int(method.batch_size)
    order = np.random.default_rng(args.seed).permutation(len(train))
    # At the released sizes each step gets a fresh random batch, as lddu_released_step.py does: the process
    # then holds one batch, not every step's, so that the two scripts' peak RSS count the same things.
    rng = np.random.default_rng(args.seed + 1)

    def next_batch(step: int):
        if args.dataset is None:
            return Batch.from_split(random_split(batch_size, 50, rng), np.arange(batch_size), method.device_)
        indices = np.sort(order[np.arange(step * batch_size, (step + 1) * batch_size) % len(train)])
        return Batch.from_split(train.take(indices), indices, method.device_)

    def run_step(batch) -> None:
        loss, _ = method.training_loss(model, batch, epoch=2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(method.grad_clip))
        optimizer.step()
        scheduler.step()

    step_times, cpu_times, loss_times = [], [], []
    for step in range(args.warmup + args.steps):
        batch = next_batch(step)
        started, cpu_started = time.perf_counter(), time.process_time()
        run_step(batch)
        step_times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        loss_times.append(time_contrastive_loss(method, model, batch))
    timed, timed_loss = step_times[args.warmup:], loss_times[args.warmup:]
    seconds, cpu_seconds = statistics.median(timed), statistics.median(cpu_times[args.warmup:])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    where = args.dataset or f"released sizes (batch 64, 50 steps, text 768 / vision 35 / audio 74, scl={args.scl})"
    if args.batch_size and args.dataset is None:
        raise SystemExit("--batch-size is for --dataset runs; the released sizes use batch 64")
    print(f"LDDU training step on {where}, preset {args.preset or ('paper' if args.dataset else 'released-code sizes')}")
    print(f"  torch threads {args.threads}; {args.warmup} warm-up + {args.steps} timed steps of batch {batch_size}")
    print(f"  steps (s): {', '.join(f'{t:.3f}' for t in timed)}")
    print(f"  median seconds per step: {seconds:.3f}  (contrastive loss alone, fwd+bwd: {statistics.median(timed_loss):.3f})")
    print(f"  median CPU seconds per step (all threads of this process): {cpu_seconds:.3f}")
    print(f"  peak RSS: {peak_mb:.0f} MB  (glibc mmap threshold "
          f"{'fixed at ' + str(args.malloc_mmap_threshold) + ' bytes' if mmap_fixed else 'dynamic'})")
    result = {"seconds_per_step": round(seconds, 4), "peak_rss_mb": round(peak_mb, 1),
              "cpu_seconds_per_step": round(cpu_seconds, 4),
              "contrastive_seconds": round(statistics.median(timed_loss), 4)}
    if args.floor:
        from flop_floor import floor_report

        result.update(floor_report(lambda: run_step(batch), seconds))
    if default_n_train:
        epoch = seconds * int(np.ceil(default_n_train / batch_size))
        print(f"  implied epoch on {default_n_train} training samples: {epoch:.0f} s ({epoch / 60:.1f} min)")
        result["epoch_seconds"] = round(epoch, 1)
    print("  reproduce: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    if args.released_code is not None:
        result.update(time_released_code(args, seconds, peak_mb))
    load_after = os.getloadavg()
    result["load_average"] = [round(x, 2) for x in (*load_before, *load_after)]
    print(f"  load average (1, 5, 15 min) before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} on {os.cpu_count()} CPUs"
          "  (shared CPU: timings are noisy; quiet figures need a load near 0)")
    print("JSON " + json.dumps(result))
    return result


def time_released_code(args, seconds: float, peak_mb: float) -> dict:
    """The released code's step in a fresh process, now: the same sitting, the same threads."""
    script = Path(__file__).resolve().parent / "lddu_released_step.py"
    command = [sys.executable, str(script), "--code", str(args.released_code), "--threads", str(args.threads),
               "--steps", str(args.released_steps), "--seed", str(args.seed)]
    completed = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("JSON ")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"the released code's step failed ({' '.join(command)}):\n{completed.stderr[-2000:]}")
    released = json.loads(lines[-1][5:])
    ratio = released["seconds_per_step"] / seconds
    print(f"  released code, same sitting ({args.released_steps} timed steps, {args.threads} threads): "
          f"{released['seconds_per_step']:.3f} s/step, peak RSS {released['peak_rss_mb']:.0f} MB -> mmerbench is "
          f"{ratio:.2f}x faster per step, with {peak_mb / released['peak_rss_mb']:.2f}x the memory")
    return {"released_seconds_per_step": released["seconds_per_step"], "released_peak_rss_mb": released["peak_rss_mb"],
            "released_cpu_seconds_per_step": released["cpu_seconds_per_step"], "speedup": round(ratio, 2)}


def time_contrastive_loss(method, model, batch) -> float:
    """Forward and backward of L_scl alone on this batch's distributions (queue as it is)."""
    if not method.use_scl:
        return 0.0
    with torch.no_grad():
        outputs = model(batch.features, batch.masks)
    mu = outputs["mu"].detach().requires_grad_(True)
    sigma = outputs["sigma"].detach().requires_grad_(True)
    capacity_before = (method.queue_.size, method.queue_.next, method.queue_.embeddings, method.queue_.classes)
    started = time.perf_counter()
    loss = method.contrastive_loss({"mu": mu, "sigma": sigma}, batch.labels)
    loss.backward()
    elapsed = time.perf_counter() - started
    # Leave the queue as the real step left it.
    method.queue_.size, method.queue_.next, method.queue_.embeddings, method.queue_.classes = capacity_before
    return elapsed


if __name__ == "__main__":
    main()
