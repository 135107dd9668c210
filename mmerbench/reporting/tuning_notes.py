"""What a table's footer says about its tuned rows (``m (cpu, tuned 16)``, from ``mmerbench tune``):
the budget, the sampler and its seed, the compute each search used, the chosen values, and one
``mmerbench tune`` command that re-creates the tuned rows."""

from __future__ import annotations

import shlex

from mmerbench.reporting.reproduce import _ordered_union


def is_tuned(record: dict) -> bool:
    return (record.get("tuning") or {}).get("role") == "tuned"


def _search_of(record: dict) -> tuple:
    tuning = record["tuning"]
    return (tuning.get("trials"), tuning.get("sampler"), tuning.get("sampler_seed"), tuning.get("pruner"),
            tuning.get("round_size"))


def tune_command(tuned: list[dict]) -> str | None:
    """One `mmerbench tune` command for tuned records that share a budget, sampler, pruner and round size."""
    searches = {_search_of(r) for r in tuned}
    if len(searches) != 1:
        return None
    (trials, sampler, sampler_seed, pruner, round_size), = searches
    first = tuned[0]
    tuned_names = {name.partition(".")[0] for name in first["tuning"].get("params") or {}}
    try:
        tokens = shlex.split(str(first.get("command") or ""))
    except ValueError:
        return None
    words, index = ["mmerbench", "tune"], 2
    while index < len(tokens):
        token, value = tokens[index], tokens[index + 1] if index + 1 < len(tokens) else None
        if token in ("--methods", "--seeds") or (
                token == "--set" and value and value.partition("=")[0].rpartition(".")[2] in tuned_names):
            index += 2
            continue
        words.append(token)
        index += 1
    methods = _ordered_union(r["method"] for r in tuned)
    seeds = sorted({str(r["seed"]) for r in tuned}, key=lambda s: (len(s), s))
    words[2:2] = ["--methods", ",".join(methods), "--seeds", ",".join(seeds)]
    words += ["--trials", str(trials), "--sampler", str(sampler), "--sampler-seed", str(sampler_seed),
              "--pruner", str(pruner)]
    if round_size and round_size != 1:
        words += ["--jobs", str(round_size)]
    return shlex.join(words)


def tuning_lines(records: list[dict], dataset: str) -> list[str]:
    """Footer lines for the tuned rows of ``dataset`` (none when it has none)."""
    from mmerbench.tuning.budget import study_budgets

    tuned = [r for r in records if r.get("dataset") == dataset and r.get("status") == "ok" and is_tuned(r)]
    if not tuned:
        return []
    budgets = study_budgets([r for r in records if r.get("dataset") == dataset])
    searches = sorted({_search_of(r) for r in tuned}, key=repr)
    budget_text = "; ".join(f"{trials} trials, sampler {sampler} (seed {seed}), pruner {pruner}"
                            for trials, sampler, seed, pruner, _ in searches)
    lines = [f"Tuned rows (`m (preset, tuned N)`): every method searched its declared search space with the same "
             f"budget ({budget_text}; Optuna ask-and-tell), each trial an ordinary job on the first seed, fitted "
             "on train and scored on validation miF1 only (a trial never predicts the test split); the best "
             "trial's configuration then ran on every seed shown. Rows without `tuned` are the presets."]
    studies: dict[str, dict] = {}
    for record in tuned:
        studies.setdefault(record["tuning"]["study"], record)
    compute, chosen = [], []
    for study, record in sorted(studies.items(), key=lambda item: item[1]["method"]):
        budget = budgets.get(study)
        compute.append(f"{record['method']}: {budget.describe() if budget else 'trial records not in this store'}")
        values = ", ".join(f"{k}={_short(v)}" for k, v in sorted(record["tuning"].get("params", {}).items()))
        chosen.append(f"{record['method']}: {values}")
    lines.append("Search compute: " + "; ".join(compute))
    lines.append("Chosen configurations: " + "; ".join(chosen))
    by_search: dict[tuple, list[dict]] = {}
    for record in tuned:
        by_search.setdefault(_search_of(record), []).append(record)
    commands = [command for group in by_search.values() if (command := tune_command(group))]
    if commands:
        lines.append("Re-create the tuned rows: " + " and ".join(f"`{c}`" for c in commands) +
                     " (it resumes from the trials already in `--results`)")
    return lines


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
