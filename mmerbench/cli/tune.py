"""`mmerbench tune`: every method searched under the same budget, then its best configuration on every seed,
beside its preset, in one table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmerbench.config import RunConfig, add_run_arguments


def add_parser(commands) -> None:
    tune = commands.add_parser(
        "tune", help="search each method's declared space under one budget; run the best on every seed",
        description="For each method x dataset: TRIALS configurations from the method's declared search space "
                    "(its preset's, e.g. cpu), each an ordinary job on the first seed scored on the validation "
                    "split only; then the best on every seed (rows `m (cpu, tuned N)`), beside the preset's "
                    "own rows (`m (cpu)`). Killing and re-running resumes the search.")
    add_run_arguments(tune)
    search = tune.add_argument_group("search")
    search.add_argument("--trials", type=int, default=16, help="trials per method and dataset (default: 16)")
    search.add_argument("--sampler", default="tpe", help="tpe (default) or random")
    search.add_argument("--sampler-seed", type=int, default=0, help="seed of the sampler (default: 0)")
    search.add_argument("--pruner", default="median",
                        help="median (default: a deep trial below the median of the earlier trials at the same "
                             "epoch stops) or none")
    search.add_argument("--tuned-only", action="store_true",
                        help="do not also run each method's preset on the same seeds")
    tune.add_argument("--dry-run", action="store_true", help="show the plan, the spaces and the cost; run nothing")
    tune.add_argument("--config", help="TOML file with the run settings (command-line options win)")
    tune.set_defaults(func=cmd_tune)


def _settings(args):
    from mmerbench.tuning.settings import TuneSettings

    return TuneSettings(trials=args.trials, sampler=args.sampler, sampler_seed=args.sampler_seed,
                        pruner=args.pruner).checked()


def cmd_tune(args: argparse.Namespace) -> int:
    config = RunConfig.from_args(args).checked()
    settings = _settings(args)
    if args.dry_run:
        return _print_plan(config, settings)
    from mmerbench.cli.display import make_progress
    from mmerbench.execution.runner import run_config
    from mmerbench.tuning.search import tune

    display = make_progress()
    with display:
        outcome = tune(config, settings, on_event=display)
        if not args.tuned_only:  # the preset rows, so that the table shows both (skipped when already run)
            presets = run_config(config, on_event=display)
    for note in outcome.notes:
        print(note)
    _print_studies(config, outcome)
    _print_table(config)
    failed = outcome.failed + ([] if args.tuned_only else presets.failed)
    if failed:
        print(f"\n{len(failed)} job(s) failed (they are retried on the next run):", file=sys.stderr)
        for record in failed:
            print(f"  {record['method']} on {record['dataset']} seed {record['seed']}: {record['error']}",
                  file=sys.stderr)
        return 1
    return 0


def _print_studies(config: RunConfig, outcome) -> None:
    from mmerbench.store.results import ResultStore
    from mmerbench.tuning.budget import study_budgets

    with ResultStore(config.results, create=False, read_only=True) as store:
        budgets = study_budgets(store.records())
    for study in outcome.studies:
        best = "none" if study.best is None else f"{study.best_value:.4f} with " + ", ".join(
            f"{k}={_short(v)}" for k, v in sorted(study.best.items()))
        budget = budgets.get(study.study)
        print(f"\n{study.method} on {study.dataset}: search {study.study} ({study.space_name} space), "
              f"{budget.describe() if budget else 'no trial records'}; {study.ran} run now")
        print(f"  best validation miF1: {best}")


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _print_table(config: RunConfig) -> None:
    from mmerbench.reporting.leaderboard import build_rows, render
    from mmerbench.store.results import ResultStore

    with ResultStore(config.results, create=False, read_only=True) as store:
        records = [r for r in store.records() if r["method"] in config.methods]
    for dataset in config.datasets:
        print(f"\n{dataset} (test split)\n")
        print(render(build_rows(records, dataset)))
    print(f"\nResults: {Path(config.results).resolve()}  (mmerbench leaderboard --results {config.results} "
          "for the table with its significance marks and the search budget in its footer)")


def _print_plan(config: RunConfig, settings) -> int:
    from mmerbench.cli.eta import format_duration
    from mmerbench.tuning.dry_run import plan_tuning

    planned = plan_tuning(config, settings)
    for note in planned.notes:
        print(note)
    print(f"{len(config.methods)} method(s) x {len(config.datasets)} dataset(s) x {settings.trials} trials "
          f"({settings.describe()}); trials on seed {config.seeds[0]}, the best on seeds "
          f"{', '.join(map(str, config.seeds))}; {config.jobs} trial(s) at once")
    total, unknown = 0.0, []
    for search in planned.searches:
        head = f"\n{search.method} on {search.dataset}"
        if search.incompatible:
            print(f"{head}: incompatible ({search.incompatible}), not tuned")
            continue
        estimate = search.estimate
        cost = ("no stored timing of it on this dataset" if estimate is None else
                f"~{format_duration(estimate)} of job time ({search.seconds_per_job:.1f} s per job, stored median)")
        print(f"{head} ({search.space_name} space, search {search.study}): {search.trials_done}/{settings.trials} "
              f"trials in the store, {search.jobs_left} job(s) left, {cost}")
        for name, distribution in sorted(search.space.items()):
            print(f"  {name}: {distribution.describe()}")
        if estimate is None:
            unknown.append(search.method)
        else:
            total += estimate
    print(f"\nEstimated job time: ~{format_duration(total)}"
          + (f" (without {', '.join(sorted(set(unknown)))}: no stored timing)" if unknown else "")
          + f"; divided by the jobs run at once ({config.jobs}); pruning shortens deep trials")
    return 0
