"""`mmerbench predict`: a finished job's saved model applied to another dataset."""

from __future__ import annotations

import argparse
import sys

from mmerbench.cli.common import DEFAULT_RESULTS, setting_pair
from mmerbench.errors import UsageError



def add_parser(commands) -> None:
    predict = commands.add_parser("predict", help="apply a finished job's saved model to another dataset")
    predict.add_argument("--results", default=DEFAULT_RESULTS)
    predict.add_argument("--key", help="the job's key (or a unique prefix), as `mmerbench results` shows it")
    predict.add_argument("--method", help="with --trained-on (and --seed): the job's method")
    predict.add_argument("--trained-on", help="the dataset the job trained on")
    predict.add_argument("--seed", type=int, help="the job's seed (needed when several jobs match)")
    predict.add_argument("--on", required=True, help="the dataset to predict (same labels and modalities)")
    predict.add_argument("--set", action="append", type=setting_pair, metavar="DATASET.PARAM=VALUE",
                         help="a parameter of the --on dataset")
    predict.add_argument("--split", default="test", choices=["test", "valid", "train", "all"],
                         help="which split of the --on dataset (default: test)")
    predict.add_argument("--output", help="CSV file to write (default: standard output)")
    predict.add_argument("--device", help="cpu or cuda[:k] (default: where the model was fitted, if present)")
    predict.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    from mmerbench.execution.predict import run_predict

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
