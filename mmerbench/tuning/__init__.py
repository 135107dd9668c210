"""``mmerbench tune``: every method searched under the same budget, trials run as ordinary jobs.

settings.py    TuneSettings: the budget (trials), the sampler and its seed, the pruner
optuna_space.py  declared distributions -> Optuna's; the seeded samplers
trials.py      the study id, a trial's job and a tuned job (keys, overrides), reading a trial's outcome
search.py      the ask-and-tell loop: rounds of trials through the runner, then the best configuration
               over every requested seed
dry_run.py     the plan and its cost, estimated from stored timings
budget.py      the compute each study used (trials, pruned, epochs, CPU and GPU seconds)

This room sits above ``execution/`` (it plans and runs jobs through the runner) and below ``cli/``.
"""
