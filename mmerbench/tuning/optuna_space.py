"""Declared distributions (:mod:`mmerbench.search_spaces`) as Optuna's, and the seeded samplers."""

from __future__ import annotations

from mmerbench.search_spaces import Choice, IntRange, LogUniform, Uniform


def optuna_distributions(space: dict) -> dict:
    import optuna.distributions as d

    converted = {}
    for name, distribution in sorted(space.items()):
        if isinstance(distribution, Uniform):
            converted[name] = d.FloatDistribution(distribution.low, distribution.high)
        elif isinstance(distribution, LogUniform):
            converted[name] = d.FloatDistribution(distribution.low, distribution.high, log=True)
        elif isinstance(distribution, IntRange):
            converted[name] = d.IntDistribution(distribution.low, distribution.high, log=distribution.log)
        elif isinstance(distribution, Choice):
            converted[name] = d.CategoricalDistribution(distribution.values)
        else:  # space_problems refuses these before a search starts
            raise TypeError(f"{name}: {distribution!r} is not a search-space distribution")
    return converted


def make_sampler(name: str, seed: int):
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"sampler {name!r} is not known")


def new_study(sampler: str, seed: int):
    """An in-memory study: nothing but the results store holds a search (it is rebuilt from the store's
    trial records on every run, so a killed search resumes without a database of its own)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="maximize", sampler=make_sampler(sampler, seed))
