"""`mmerbench evaluate`: finished jobs scored under new protocols on their saved models (no refit)."""

from __future__ import annotations

import argparse

from mmerbench.cli.common import DEFAULT_RESULTS, csv_list
from mmerbench.cli.outcome import print_evaluation
from mmerbench.data.protocol_specs import PROTOCOL_HELP
from mmerbench.errors import UsageError



def add_parser(commands) -> None:
    evaluate = commands.add_parser(
        "evaluate", help="score finished jobs under new robustness protocols on their saved models (no refit)",
        description="Evaluate finished jobs again without refitting: the conditions of each --protocol that a job "
                    "lacks run on its saved model; jobs stored before calibration and uncertainty scores existed "
                    "get them from their stored probabilities. Exits 1 when a job has no saved model.")
    evaluate.add_argument("--results", default=DEFAULT_RESULTS)
    evaluate.add_argument("--protocol", dest="protocols", action="append", metavar="SPEC",
                          help=f"{PROTOCOL_HELP} (repeatable; jobs scored under an older protocol rule "
                               "have every condition scored again)")
    evaluate.add_argument("--dataset", help="only jobs on this dataset")
    evaluate.add_argument("--methods", type=csv_list, help="only jobs of these methods")
    evaluate.add_argument("--key", help="only the job with this key (or key prefix)")
    evaluate.add_argument("--device", help="cpu or cuda[:k] (default: where the model was fitted, if present)")
    evaluate.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mmerbench.execution.reevaluate import evaluate_finished, progress_line
    from mmerbench.store.results import ResultStore

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
