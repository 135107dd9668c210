"""The settings of a search that are not run settings (those stay in :class:`mmerbench.config.RunConfig`)."""

from __future__ import annotations

from dataclasses import dataclass

from mmerbench.errors import UsageError
from mmerbench.execution.pruning import PRUNERS

SAMPLERS = ("tpe", "random")


@dataclass(frozen=True)
class TuneSettings:
    """The budget and the search: ``trials`` per method x dataset, Optuna's ``sampler`` seeded with
    ``sampler_seed``, and the ``pruner`` that stops hopeless deep trials (``none`` to train every epoch)."""

    trials: int = 16
    sampler: str = "tpe"
    sampler_seed: int = 0
    pruner: str = "median"

    def checked(self) -> "TuneSettings":
        if isinstance(self.trials, bool) or not isinstance(self.trials, int) or self.trials < 1:
            raise UsageError(f"--trials {self.trials!r} is not valid: give the number of trials per method, at least 1")
        if self.sampler not in SAMPLERS:
            raise UsageError(f"--sampler {self.sampler!r} is not known; use one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise UsageError(f"--pruner {self.pruner!r} is not known; use one of {', '.join(PRUNERS)}")
        return self

    def describe(self) -> str:
        return f"{self.trials} trials, sampler {self.sampler} (seed {self.sampler_seed}), pruner {self.pruner}"
