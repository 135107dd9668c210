"""Per-job overhead of each executor against the local pool, and the cost of one epoch's checkpoint.

Overhead: the same 12 tiny jobs (the label prior on the test fixture dataset ``tiny``, seeds 0..11:
each fits in milliseconds, so the time is the executor's) through each executor, each time into a
fresh results directory; seconds per job = wall time of ``mmerbench.run`` / 12, median of
``--repeats``. Ray runs a private local instance started once before the timings (its start-up is
reported apart); slurm-local runs submitit's local executor (one process per job, as on a node).

Checkpoint: the state a deep job saves at an epoch end (model, best weights, Adam state, scheduler,
RNG states, LDDU's queue and correctness history), written by ``JobCheckpoints.save``; seconds
(median of ``--repeats``) and MB on disk, for LDDU ``cpu`` on ``synthetic`` and LDDU ``paper`` at
CMU-MOSEI's sizes (``synthetic-mosei-aligned``: batch 128, its default 16326 training samples for
the correctness history, a full 8192-row SupCon queue). The model is built as ``fit`` builds it;
no training is needed to size or time the save.

    python benchmarks/executors.py --executors local,ray,slurm-local --jobs 2

Timings on a shared CPU are noisy (other processes compete for the cores): say so with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executors", default="local,ray,slurm-local")
    parser.add_argument("--jobs", type=int, default=2, help="jobs at once (local pool and Ray's CPUs)")
    parser.add_argument("--n-jobs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-checkpoint", action="store_true")
    return parser.parse_args(argv)


def overhead(executors: list[str], workers: int, n_jobs: int, repeats: int) -> None:
    # The test suite's plugins (a sleepy method, tiny datasets) live under tests/plugins, for workers too.
    plugins = str(Path(__file__).resolve().parents[1] / "tests" / "plugins")
    sys.path.insert(0, plugins)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (plugins, os.environ.get("PYTHONPATH")) if p)
    os.environ.setdefault("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin")
    import mmerbench

    if "ray" in executors:
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"MMERBENCH_PLUGINS": os.environ["MMERBENCH_PLUGINS"]}})
        print(f"ray: local instance started in {time.perf_counter() - started:.1f} s (not counted below)")
    per_job = {}
    for name in executors:
        times = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as results:
                started = time.perf_counter()
                outcome = mmerbench.run(["prior"], ["tiny"], list(range(n_jobs)), results=results, jobs=workers,
                                        device="cpu", executor=name)
                times.append((time.perf_counter() - started) / n_jobs)
                assert not outcome.failed, outcome.failed[0]["error"]
        per_job[name] = statistics.median(times)
        extra = f", {per_job[name] - per_job['local']:+.3f} s vs local" if "local" in per_job and name != "local" else ""
        print(f"{name:<12} {per_job[name]:.3f} s per job (median of {repeats}: "
              f"{', '.join(f'{t:.3f}' for t in times)}){extra}")


def checkpoint_cost(repeats: int) -> None:
    import torch

    import mmerbench
    from mmerbench.api import dataset_param_defaults, make_method
    from mmerbench.execution.checkpoints import JobCheckpoints
    from mmerbench.training import Batch, resolve_device
    from mmerbench.saved_models import describe_split
    import numpy as np

    for dataset_name, preset, extra in (("synthetic", "cpu", {}), ("synthetic-mosei-aligned", "paper",
                                                                    {"batch_size": 128})):
        defaults = dataset_param_defaults(dataset_name)
        small = {k: v for k, v in (("n_train", 256), ("n_valid", 8), ("n_test", 8)) if k in defaults}
        dataset = mmerbench.load_dataset(dataset_name, **small)
        full_train = int(defaults.get("n_train", len(dataset.train)))
        method = make_method("lddu", preset=preset, **{"device": "cpu", **extra})
        train = dataset.train
        method.label_names_, method.n_labels_, method.single_label_ = list(train.label_names), train.n_labels, False
        method.train_schema_ = describe_split(train)
        method.fit_info_ = {}
        method.device_ = resolve_device("cpu")
        model = method.build_model(train)
        method.on_fit_start(model, train)
        # The correctness history spans the whole training split; the queue is full after a few batches.
        from mmerbench_methods.lddu.losses import CorrectnessHistory

        method.history_ = CorrectnessHistory(full_train, train.n_labels, device=method.device_)
        queue = method.queue_
        if queue.capacity:
            queue.enqueue(torch.randn(queue.capacity, queue.dim), torch.randint(0, 2, (queue.capacity,)))
        optimizer, scheduler = method.configure_optimizer(model, 1000)
        indices = np.arange(min(int(method.batch_size), len(train)))
        batch = Batch.from_split(train.take(indices), indices, method.device_)
        loss, _ = method.training_loss(model, batch, 1)
        loss.backward()
        optimizer.step()
        scheduler.step()
        best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        times, size = [], 0.0
        with tempfile.TemporaryDirectory() as folder:
            checkpoints = JobCheckpoints(Path(folder) / "ckpt", "bench")
            for epoch in range(1, repeats + 1):
                started = time.perf_counter()
                checkpoints.save(epoch, model=model, optimizer=optimizer, scheduler=scheduler,
                                 shuffler=np.random.default_rng(0), loop={"best_score": 0.5, "best_epoch": 1,
                                                                          "waited": 0, "stopped": False},
                                 curve=[{"epoch": e} for e in range(epoch)], best_state=best,
                                 extra=method.extra_state())
                times.append(time.perf_counter() - started)
            size = sum(p.stat().st_size for p in (Path(folder) / "ckpt").rglob("*") if p.is_file()) / 1e6
        parameters = sum(p.numel() for p in model.parameters())
        print(f"lddu {preset:<6} on {dataset_name:<24} {parameters / 1e6:.2f} M parameters, history {full_train} x "
              f"{train.n_labels}, queue {queue.capacity}: checkpoint {statistics.median(times):.3f} s per epoch "
              f"(median of {repeats}: {', '.join(f'{t:.3f}' for t in times)}), {size:.1f} MB")


def store_writes(count: int = 200) -> None:
    """How many job records per second the driver can commit (one transaction each, synchronous=FULL)."""
    from mmerbench.store.results import ResultStore

    record = {"method": "lddu", "dataset": "x", "seed": 0, "status": "ok", "finished_at": "",
              "metrics": {"test": {f"m{i}": 0.5 for i in range(12)}}, "curve": [{"epoch": e, "loss": 0.1}
                                                                             for e in range(30)]}
    with tempfile.TemporaryDirectory() as folder, ResultStore(folder) as store:
        started = time.perf_counter()
        for i in range(count):
            store.put({**record, "key": f"{i:064x}"})
        seconds = time.perf_counter() - started
    print(f"store: {count / seconds:.0f} records committed per second ({count} in {seconds:.2f} s, {tempfile.gettempdir()})")


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (timings on a shared machine are noisy)")
    if not args.skip_overhead:
        overhead([e for e in args.executors.split(",") if e], args.jobs, args.n_jobs, args.repeats)
    if not args.skip_checkpoint:
        checkpoint_cost(args.repeats)
    store_writes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
