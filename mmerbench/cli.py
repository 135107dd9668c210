"""The ``mmerbench`` command line. Heavy libraries are imported inside handlers only."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import warnings
from pathlib import Path

from mmerbench.cli_checks import check_config_types, check_leaderboard_args
from mmerbench.errors import MMERBenchError, UsageError
from mmerbench.cli_executors import add_executor_arguments, cmd_collect, cmd_status, executor_options

DEFAULT_RESULTS = "./mmerbench-results"


def _csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}") from None


def _setting(text: str) -> tuple[str, object]:
    from mmerbench.params import parse_value

    target_param, equals, value = text.partition("=")
    if not equals or "." not in target_param:
        raise argparse.ArgumentTypeError(f"--set {text!r}: use TARGET.PARAM=VALUE, e.g. lddu.use_queue=false")
    return target_param.strip(), parse_value(value)


@contextlib.contextmanager
def _user_warnings():
    """Show each warning meant for users (a skipped malformed row) as one plain line, every time."""
    from mmerbench.store_rows import MalformedRowWarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, MalformedRowWarning):
            print(f"mmerbench: warning: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", MalformedRowWarning)
        default, warnings.showwarning = warnings.showwarning, show
        yield


# --------------------------------------------------------------------------- run


RUN_DEFAULTS = {
    "methods": None, "datasets": ["synthetic"], "seeds": [0], "device": "auto", "jobs": 1,
    "results": DEFAULT_RESULTS, "preset": None, "threshold": None, "set": {}, "resume": True, "protocols": [],
    "resample_valid": False,
    "save_models": True, "keep_checkpoints": False, "timeout_per_job": None,
    "executor": "local", "ray_address": None, "cpus_per_job": 1.0, "gpus_per_job": 0.0, "slurm_partition": None,
    "slurm_time": 60, "slurm_array_parallelism": 64, "slurm_setup": [], "detach": False,
}


def load_run_config(path: str) -> dict:
    """Settings from a TOML file with the same names as the command-line options."""
    import tomllib

    try:
        with open(path, "rb") as handle:
            config = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--config {path}: not valid TOML ({exc})") from None
    config = config.get("run", config)
    unknown = sorted(set(config) - set(RUN_DEFAULTS))
    if unknown:
        raise UsageError(f"--config {path}: unknown setting(s) {unknown}; valid: {sorted(RUN_DEFAULTS)}")
    check_config_types(config, path)
    for key in ("methods", "datasets"):
        if isinstance(config.get(key), str):
            config[key] = _csv_list(config[key])
    if isinstance(config.get("seeds"), (int, str)):
        config["seeds"] = [int(part) for part in _csv_list(str(config["seeds"]))]
    settings = {}
    for target, value in (config.get("set") or {}).items():
        if isinstance(value, dict):  # [set.lddu] use_queue = false
            settings.update({f"{target}.{param}": v for param, v in value.items()})
        else:  # "lddu.use_queue" = false
            settings[target] = value
    config["set"] = settings
    return config


def resolve_run_options(args: argparse.Namespace) -> dict:
    options = dict(RUN_DEFAULTS)
    if args.config:
        options.update(load_run_config(args.config))
    for key in RUN_DEFAULTS:
        value = getattr(args, key.replace("-", "_"), None)
        if key == "set":
            if value:
                options["set"] = {**options["set"], **dict(value)}
        elif key == "resume":
            if args.no_resume:
                options["resume"] = False
        elif key == "resample_valid":
            if getattr(args, "resample_valid", False):
                options["resample_valid"] = True
        elif value is not None:
            options[key] = value
    if not options["methods"]:
        raise UsageError("no methods given: use --methods a,b (see `mmerbench list methods`)")
    return options


def cmd_run(args: argparse.Namespace) -> int:
    from mmerbench.display import make_progress
    from mmerbench.leaderboard import build_rows, render
    from mmerbench.runner import run
    from mmerbench.store import ResultStore

    options = resolve_run_options(args)
    display = make_progress()
    with display:
        outcome = run(
            options["methods"], options["datasets"], options["seeds"], device=options["device"],
            jobs=options["jobs"], results=options["results"], preset=options["preset"], settings=options["set"],
            threshold=options["threshold"], resume=options["resume"], dry_run=args.dry_run,
            on_event=display if not args.dry_run else None, protocols=options["protocols"],
            resample_valid=options["resample_valid"],
            save_models=options["save_models"],
            keep_checkpoints=options["keep_checkpoints"], timeout_per_job=options["timeout_per_job"],
            executor=executor_options(options),
        )
    if options["detach"]:
        for note in outcome.notes:
            print(note)
        return 0
    if args.dry_run:
        for note in outcome.notes:  # a real run showed them before its first job
            print(note)
        done = {job.key for job in outcome.skipped}
        print(f"{len(outcome.planned)} jobs ({len(done)} already done):")
        for job in outcome.planned:
            state = f"incompatible: {job.incompatible}" if job.incompatible else "done" if job.key in done else "to run"
            print(f"  [{state}] {job.key}  {job.command}")
        return 0
    with ResultStore(options["results"], create=False, read_only=True) as store:
        records = store.records()
    this_run = {job.key for job in outcome.planned}  # the whole store stays available through `leaderboard`
    records = [record for record in records if record["key"] in this_run]
    for dataset in options["datasets"]:
        print(f"\n{dataset} (test split)\n")
        print(render(build_rows(records, dataset)))
    print(f"\nResults: {Path(options['results']).resolve()}  (mmerbench leaderboard --results {options['results']})")
    unsaved = [r for r in outcome.records if r.get("model_error")]
    if unsaved:
        print(f"\n{len(unsaved)} job(s) finished but their model could not be saved (their scores stand):",
              file=sys.stderr)
        for record in unsaved:
            print(f"  {record['method']} on {record['dataset']} seed {record['seed']}: {record['model_error']}",
                  file=sys.stderr)
    print_incompatible(outcome)
    print_warnings(outcome)
    print_condition_errors(outcome.records)
    if outcome.evaluation is not None:
        print_evaluation(outcome.evaluation)
    if outcome.failed:
        print(f"\n{len(outcome.failed)} job(s) failed (they are retried on the next run):", file=sys.stderr)
        for record in outcome.failed:
            print(f"  {record['method']} on {record['dataset']} seed {record['seed']}: {record['error']}",
                  file=sys.stderr)
        return 1
    return 0


def print_warnings(outcome) -> None:
    """Once per run: jobs that finished but whose numbers need a second look (e.g. a collapsed model)."""
    warned = [record for record in outcome.records if record.get("warnings")]
    if not warned:
        return
    print(f"\n{len(warned)} job(s) finished with a warning:")
    for record in warned:
        for warning in record["warnings"]:
            print(f"  {record['method']} on {record['dataset']} seed {record['seed']}: {warning}")


def print_incompatible(outcome) -> None:
    """Once per run: the jobs planned but not run because the method cannot use the dataset."""
    if not outcome.incompatible:
        return
    groups: dict[tuple, list[int]] = {}
    for job in outcome.incompatible:
        groups.setdefault((job.method, job.dataset, job.incompatible), []).append(job.seed)
    print(f"\n{len(outcome.incompatible)} job(s) not run, incompatible (they are never retried):")
    for (method, dataset, reason), seeds in groups.items():
        print(f"  {method} on {dataset}: {reason} (seeds {', '.join(map(str, seeds))})")
    if not outcome.failed:
        print("Every other job finished; incompatible jobs alone do not make the run fail.")


def print_condition_errors(records) -> None:
    """The robustness conditions some methods could not take (their jobs stay ok)."""
    lines = [f"  {r['method']} on {r['dataset']} seed {r['seed']}, {condition}: {message}"
             for r in records for condition, message in sorted((r.get("condition_errors") or {}).items())]
    if lines:
        print(f"\n{len(lines)} robustness condition(s) without scores:", file=sys.stderr)
        print("\n".join(lines), file=sys.stderr)


def print_evaluation(evaluation, with_progress: bool = True) -> bool:
    """Print what an evaluation of finished jobs did; True when every job could be evaluated."""
    from mmerbench.evaluation.reevaluate import summary

    out, err = summary(evaluation, with_progress)
    for line in out:
        print(line)
    if err:
        print("\n".join(err), file=sys.stderr)
    print_condition_errors(evaluation.updated)
    return not (evaluation.no_model or evaluation.failed)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mmerbench.evaluation.reevaluate import evaluate_finished, progress_line
    from mmerbench.store import ResultStore

    def show(event: dict) -> None:  # a line per job as it finishes: loading and predicting can take minutes
        print(progress_line(event["record"]), flush=True)

    protocols = list(args.protocols or [])
    with ResultStore(args.results, create=False) as store:
        records = [r for r in store.records(dataset=args.dataset, status="ok")
                   if (not args.methods or r["method"] in args.methods)
                   and (not args.key or r["key"].startswith(args.key))]
        if not records:
            raise UsageError(f"no finished jobs in {args.results} match (dataset {args.dataset or 'any'}, "
                             f"methods {','.join(args.methods or []) or 'any'}, key {args.key or 'any'})")
        evaluation = evaluate_finished(store, args.results, records, protocols, device=args.device, on_event=show)
    return 0 if print_evaluation(evaluation, with_progress=False) else 1


# --------------------------------------------------------------------------- list


def cmd_list(args: argparse.Namespace) -> int:
    from mmerbench.plugins import get_registry
    from mmerbench.paths import canonical_path

    registry = get_registry()
    what = args.what or "all"
    if what in ("all", "methods"):
        print("Methods:")
        for spec in sorted(registry.methods.values(), key=lambda s: s.name):
            print(f"  {spec.name:<14} v{spec.version:<4} {spec.summary}  [{spec.origin}]")
    if what in ("all", "datasets"):
        print("Datasets:")
        for spec in sorted(registry.datasets.values(), key=lambda s: s.name):
            available = spec.generated or canonical_path(spec.name).exists()
            state = "available" if available else "not imported"
            print(f"  {spec.name:<26} {state:<13} {spec.summary}  [{spec.origin}]")
        for name, path in imported_without_plugin(registry):  # `data import table NAME` chose the name
            print(f"  {name:<26} {'available':<13} imported table  [{path}]")
    if registry.broken:
        print("Broken plugins (not loaded):")
        for plugin in registry.broken:
            print(f"  {plugin.name}: {plugin.error}")
    return 0


def imported_without_plugin(registry) -> list[tuple[str, str]]:
    """(name, path) of canonical files under the data folder that no plugin registers (imported tables)."""
    from mmerbench.paths import data_dir
    from mmerbench.registry import NAME_PATTERN

    folder = data_dir()
    if not folder.is_dir():
        return []
    return [(path.stem, str(path)) for path in sorted(folder.glob("*.h5"))
            if path.stem not in registry.datasets and NAME_PATTERN.match(path.stem)]


# --------------------------------------------------------------------------- results / leaderboard


def cmd_results(args: argparse.Namespace) -> int:
    from mmerbench.store import ResultStore

    with ResultStore(args.results, create=False, read_only=True) as store:
        records = store.records(dataset=args.dataset)
    if getattr(args, "per_label", False):
        from mmerbench.results_csv import write_per_label_csv

        write_per_label_csv(records, sys.stdout)
    elif args.format == "json":
        print(json.dumps(records, indent=2))
    else:
        from mmerbench.results_csv import write_records_csv

        write_records_csv(records, sys.stdout)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from mmerbench.leaderboard import build_rows, leaderboard_markdown, publish, render, reported_rows
    from mmerbench.leaderboard import significance_footer
    from mmerbench.reporting.reported_gap import annotate_reported
    from mmerbench.store import ResultStore

    with ResultStore(args.results, create=False, read_only=True) as store:
        records = store.records()
    datasets = [args.dataset] if args.dataset else sorted({r["dataset"] for r in records if r["status"] == "ok"})
    if not datasets:
        raise UsageError(f"no finished jobs in {args.results}")
    check_leaderboard_args(args, records, store.db_path)
    metrics = _csv_list(args.metrics) if args.metrics else None
    robustness = {"metric": args.robustness_metric, "reference": args.robustness_reference}
    for dataset in datasets:
        if args.publish:
            path = publish(records, dataset, args.output_dir, with_reported=args.reported,
                           legacy_pr=args.legacy_pr, metrics=metrics, results_dir=args.results, ci=args.ci,
                           robustness_options=robustness)
            print(f"wrote {path}")
            continue
        if args.format == "markdown":
            print(leaderboard_markdown(records, dataset, with_reported=args.reported, legacy_pr=args.legacy_pr,
                                       metrics=metrics, results_dir=args.results, ci=args.ci,
                                       robustness_options=robustness))
        else:
            ours = build_rows(records, dataset)
            footer = significance_footer(ours, records, args.results, args.ci, metrics)
            reported = reported_rows(dataset) if args.reported else []
            if args.reported and not reported:
                from mmerbench.leaderboard import no_reported_rows

                print(no_reported_rows(dataset), file=sys.stderr)
            footer += annotate_reported(ours, reported, args.legacy_pr) if reported else []
            print(render(ours + reported, args.format, metrics, legacy_pr=args.legacy_pr))
            if args.format == "latex":
                print("\n".join(f"% {line}" for line in footer))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from mmerbench.reporting.report import write_report

    report = write_report(args.results, args.out, dataset=args.dataset)
    print(f"wrote {report.path} and {len(report.figures)} figure(s)"
          + (f"; {len(report.skipped)} figure(s) skipped (see report.md)" if report.skipped else ""))
    return 0


# --------------------------------------------------------------------------- predict


def cmd_predict(args: argparse.Namespace) -> int:
    from mmerbench.prediction import run_predict

    dataset_params = {}
    for target_param, value in args.set or []:
        target, _, param = target_param.partition(".")
        if target != args.on:
            raise UsageError(f"--set {target_param}: predict takes settings of the --on dataset ({args.on}) only")
        dataset_params[param] = value
    text, summary = run_predict(
        args.results, on=args.on, dataset_params=dataset_params, key=args.key, method=args.method,
        trained_on=args.trained_on, seed=args.seed, split=args.split, output=args.output, device=args.device,
    )
    if text:
        sys.stdout.write(text)
        print(summary, file=sys.stderr)
    else:
        print(summary)
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from mmerbench import __version__

    parser = argparse.ArgumentParser(prog="mmerbench", description="Benchmark multimodal multi-label emotion recognition.")
    parser.add_argument("--version", action="version", version=f"mmerbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="train and evaluate methods x datasets x seeds")
    run.add_argument("--methods", type=_csv_list, help="comma-separated method names (see `mmerbench list`)")
    run.add_argument("--datasets", type=_csv_list, help="comma-separated dataset names (default: synthetic)")
    run.add_argument("--seeds", type=_seed_list, help="comma-separated seeds (default: 0)")
    run.add_argument("--device", help="auto (GPU when present, else CPU), cpu or cuda[:k] (default: auto)")
    run.add_argument("--jobs", type=int, help="jobs run at once, each in its own process (default: 1)")
    run.add_argument("--results", help=f"results directory (default: {DEFAULT_RESULTS})")
    run.add_argument("--preset", help="apply this preset to every method that defines it (e.g. paper, cpu)")
    run.add_argument("--set", action="append", type=_setting, metavar="TARGET.PARAM=VALUE",
                     help="override a method or dataset parameter; VALUE is parsed as JSON when it parses")
    run.add_argument("--threshold", help="valid (default) | valid-per-label | published | fixed:X")
    run.add_argument("--no-resume", action="store_true", help="re-run jobs even when their results exist")
    run.add_argument("--dry-run", action="store_true", help="list the jobs and which are done; run nothing")
    run.add_argument("--resample-valid", action="store_true",
                     help="let each seed also re-draw a validation split carved from train (datasets without "
                          "their own; off by default: a seed then varies only the method's random_state)")
    run.add_argument("--config", help="TOML file with the same settings (command-line options win)")
    run.add_argument("--protocol", dest="protocols", action="append", metavar="SPEC",
                     help="robustness protocol evaluated on each fitted model, repeatable: missing | "
                          "missing-rate:0.1,0.3 | noise:0.5,1,2 (not part of the job key)")
    run.add_argument("--no-save-models", dest="save_models", action="store_false", default=None,
                     help="do not save each job's fitted model under <results>/models/<key>/")
    run.add_argument("--keep-checkpoints", action="store_true", default=None,
                     help="keep each deep job's last epoch checkpoint (<results>/checkpoints/<key>/) when it ends")
    run.add_argument("--timeout-per-job", type=float, metavar="SECONDS",
                     help="stop a job running longer than this; it is recorded as 'timeout' and keeps its checkpoint")
    add_executor_arguments(run)
    run.set_defaults(func=cmd_run)

    evaluate = commands.add_parser(
        "evaluate", help="score finished jobs under new robustness protocols on their saved models (no refit)",
        description="Evaluate finished jobs again without refitting: the conditions of each --protocol that a job "
                    "lacks run on its saved model; jobs stored before calibration and uncertainty scores existed "
                    "get them from their stored probabilities. Exits 1 when a job has no saved model.")
    evaluate.add_argument("--results", default=DEFAULT_RESULTS)
    evaluate.add_argument("--protocol", dest="protocols", action="append", metavar="SPEC",
                          help="missing | missing-rate:0.1,0.3 | noise:0.5,1,2 (repeatable)")
    evaluate.add_argument("--dataset", help="only jobs on this dataset")
    evaluate.add_argument("--methods", type=_csv_list, help="only jobs of these methods")
    evaluate.add_argument("--key", help="only the job with this key (or key prefix)")
    evaluate.add_argument("--device", help="cpu or cuda[:k] (default: where the model was fitted, if present)")
    evaluate.set_defaults(func=cmd_evaluate)

    status = commands.add_parser("status", help="pending / running / done / failed per job of a run")
    status.add_argument("--results", default=DEFAULT_RESULTS)
    status.set_defaults(func=cmd_status)

    collect = commands.add_parser("collect", help="gather into the store the jobs that Slurm or Ray workers finished")
    collect.add_argument("--results", default=DEFAULT_RESULTS)
    collect.set_defaults(func=cmd_collect)

    predict = commands.add_parser("predict", help="apply a finished job's saved model to another dataset")
    predict.add_argument("--results", default=DEFAULT_RESULTS)
    predict.add_argument("--key", help="the job's key (or a unique prefix), as `mmerbench results` shows it")
    predict.add_argument("--method", help="with --trained-on (and --seed): the job's method")
    predict.add_argument("--trained-on", help="the dataset the job trained on")
    predict.add_argument("--seed", type=int, help="the job's seed (needed when several jobs match)")
    predict.add_argument("--on", required=True, help="the dataset to predict (same labels and modalities)")
    predict.add_argument("--set", action="append", type=_setting, metavar="DATASET.PARAM=VALUE",
                         help="a parameter of the --on dataset")
    predict.add_argument("--split", default="test", choices=["test", "valid", "train", "all"],
                         help="which split of the --on dataset (default: test)")
    predict.add_argument("--output", help="CSV file to write (default: standard output)")
    predict.add_argument("--device", help="cpu or cuda[:k] (default: where the model was fitted, if present)")
    predict.set_defaults(func=cmd_predict)

    listing = commands.add_parser("list", help="list methods and datasets with their plugins")
    listing.add_argument("what", nargs="?", choices=["methods", "datasets"])
    listing.set_defaults(func=cmd_list)

    results = commands.add_parser("results", help="print every job record of a results store")
    results.add_argument("--results", default=DEFAULT_RESULTS)
    results.add_argument("--format", choices=["json", "csv"], default="json")
    results.add_argument("--dataset")
    results.add_argument("--per-label", action="store_true",
                         help="CSV in long format: per-label P, R, F1 and support of every job and split")
    results.set_defaults(func=cmd_results)

    board = commands.add_parser("leaderboard", help="aggregate results into tables (mean ± std over seeds)")
    board.add_argument("--results", default=DEFAULT_RESULTS)
    board.add_argument("--dataset")
    board.add_argument("--format", choices=["markdown", "csv", "json", "latex"], default="markdown")
    board.add_argument("--metrics", help="comma-separated metrics (default: acc,p,r,mif1,maf1,hamming,subset_acc)")
    board.add_argument("--publish", action="store_true", help="write leaderboards/<dataset>.md with provenance")
    board.add_argument("--output-dir", default="leaderboards", help="where --publish writes (default: leaderboards)")
    board.add_argument("--reported", action="store_true", help="add rows reported in papers, marked as such")
    board.add_argument("--legacy-pr", action="store_true",
                       help="show P and R swapped as the TAILOR/CARAT/LDDU code printed them (marked legacy)")
    board.add_argument("--ci", action="store_true",
                       help="show 95%% paired-bootstrap intervals (test samples resampled, seeds pooled) in the cells")
    board.add_argument("--robustness-metric", default="mif1",
                       help="metric of the robustness tables (conditions of --protocol; default: mif1)")
    board.add_argument("--robustness-reference", default="br",
                       help="method whose curve effective robustness is measured against (default: br)")
    board.set_defaults(func=cmd_leaderboard)

    report = commands.add_parser("report", help="write report.md with leaderboards, significance and PNG figures")
    report.add_argument("--results", default=DEFAULT_RESULTS)
    report.add_argument("--dataset", help="only this dataset (default: every dataset with finished jobs)")
    report.add_argument("--out", required=True, help="folder for report.md and figures/")
    report.set_defaults(func=cmd_report)

    from mmerbench.reporting.site import command as site_command

    site = commands.add_parser("site", help="write a static HTML site: sortable leaderboards, row pages, samples")
    site_command.add_arguments(site)
    site.set_defaults(func=site_command.main)

    try:
        from mmerbench.cli_data import register as register_data_commands
    except ImportError:
        pass
    else:
        register_data_commands(commands)
    return parser


def _discard_stdout() -> None:
    """The reader of our output went away (`mmerbench results | head`): end quietly, as `head` expects.

    Pointing stdout at /dev/null keeps the interpreter's final flush from raising the same error again.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _user_warnings():
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that went away (`| head`) shows up here at the latest
        return code
    except BrokenPipeError:
        _discard_stdout()
        return 0
    except MMERBenchError as exc:
        print(f"mmerbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mmerbench: interrupted; finished jobs are kept in the results store", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
