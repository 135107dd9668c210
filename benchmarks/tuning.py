"""What `mmerbench tune` costs beyond training, and what pruning saves.

Overhead: ``--trials`` trials of ``prior`` and of ``br`` (their ``default`` spaces) on ``synthetic``
through an executor, into a fresh results folder; overhead per trial = (wall time of the search /
trials) - the mean of the trials' own fit + predict seconds: planning the trial, starting its worker
process, loading the data, scoring, storing the record and the sampler's ask and tell.

Pruning: ``--trials`` trials of ``lddu`` and ``mult`` (their ``cpu`` spaces) on ``synthetic``, once
with ``--pruner median`` and once with ``none`` (same sampler and seed): the epochs trained, the
search's wall time, and whether both choose the same configuration.

    python benchmarks/tuning.py overhead [--trials 16] [--executor local|ray] [--jobs 1]
    python benchmarks/tuning.py pruning [--trials 16] [--methods lddu,mult] [--jobs 1]

Timings on a shared CPU are noisy (other processes compete for the cores): give the load average
(`uptime`) with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("overhead", "pruning"))
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--methods", default=None, help="default: prior,br (overhead) / lddu,mult (pruning)")
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--executor", default="local")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--sampler-seed", type=int, default=0)
    return parser.parse_args(argv)


def _search(method: str, args, results: str, pruner: str):
    from mmerbench.config import RunConfig
    from mmerbench.store.results import ResultStore
    from mmerbench.tuning.search import tune
    from mmerbench.tuning.settings import TuneSettings

    config = RunConfig(methods=[method], datasets=[args.dataset], seeds=[0], results=results, jobs=args.jobs,
                       executor=args.executor, save_models=False)
    settings = TuneSettings(trials=args.trials, sampler="tpe", sampler_seed=args.sampler_seed, pruner=pruner)
    started = time.perf_counter()
    outcome = tune(config, settings)
    wall = time.perf_counter() - started
    with ResultStore(results, create=False, read_only=True) as store:
        records = store.records()
    trials = [r for r in records if (r.get("tuning") or {}).get("role") == "trial"]
    tuned = [r for r in records if (r.get("tuning") or {}).get("role") == "tuned"]
    return outcome.studies[0], trials, tuned, wall


def overhead(args) -> list[dict]:
    rows = []
    for method in (args.methods or "prior,br").split(","):
        with tempfile.TemporaryDirectory() as folder:
            study, trials, tuned, wall = _search(method, args, folder, "none")
        # The search's wall time also covers the tuned job on seed 0: count it as one more job.
        jobs = trials + tuned
        own = statistics.fmean(float(r["fit_seconds"] or 0) + float(r["predict_seconds"] or 0) for r in jobs)
        rows.append({"method": method, "trials": len(study.trials), "jobs": len(jobs), "wall_s": round(wall, 1),
                     "per_job_s": round(wall / len(jobs), 2), "own_fit_predict_s": round(own, 2),
                     "overhead_per_trial_s": round(wall / len(jobs) - own, 2), "executor": args.executor,
                     "jobs_at_once": args.jobs})
    return rows


def pruning(args) -> list[dict]:
    rows = []
    for method in (args.methods or "lddu,mult").split(","):
        found = {}
        for pruner in ("median", "none"):
            with tempfile.TemporaryDirectory() as folder:
                study, trials, _, wall = _search(method, args, folder, pruner)
            found[pruner] = study.best
            rows.append({"method": method, "pruner": pruner, "trials": len(study.trials),
                         "pruned": sum(t["state"] == "pruned" for t in study.trials),
                         "epochs": sum(len(r.get("curve") or []) for r in trials), "wall_s": round(wall, 1),
                         "best_valid_mif1": study.best_value, "best": study.best})
        rows.append({"method": method, "same_best": found["median"] == found["none"]})
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    load = os.getloadavg()
    rows = overhead(args) if args.what == "overhead" else pruning(args)
    print(json.dumps({"load_average_at_start": [round(x, 2) for x in load], "cpus": os.cpu_count(), "rows": rows},
                     indent=1))


if __name__ == "__main__":
    main()
