"""Stopping a hopeless search trial early: Optuna's pruner, run inside the trial's own worker.

A trial of ``mmerbench tune --pruner median`` carries the per-epoch validation miF1 curves of the
trials that finished before it started (``Job.pruning``). The worker builds a throw-away in-memory
Optuna study from those curves, reports each epoch's validation score to it and asks Optuna's own
pruner whether to stop. Nothing travels back to the driver while the job runs, so this works alike on
the local pool, Ray and Slurm, and a trial re-run after a kill makes the same decision (the curves it
is compared with are fixed when it is planned).

The hook is the training loop's per-epoch progress report (``progress.report(kind="epoch", ...)``):
:meth:`EpochPruner.observe` raises :class:`TrialPruned` from it, which ends ``fit``; the worker records
the trial as ``pruned`` with the epoch it stopped at. Methods without epochs are never pruned.
"""

from __future__ import annotations

from typing import Any

PRUNERS = ("median", "none")


class TrialPruned(Exception):
    """Raised from the per-epoch report when the pruner stops the trial."""

    def __init__(self, epoch: int, score: float):
        super().__init__(f"pruned after epoch {epoch} (validation miF1 {score:.4f} below the median of the "
                         "earlier trials at that epoch)")
        self.epoch = epoch
        self.score = score


def pruning_context(pruner: str, earlier_curves: list[dict[int, float]], *, n_startup_trials: int = 5,
                    n_warmup_steps: int = 2) -> dict[str, Any] | None:
    """What a trial's job carries (``Job.pruning``); None without a pruner. Optuna's MedianPruner
    settings: compare only once ``n_startup_trials`` trials have finished, never in the first
    ``n_warmup_steps`` epochs."""
    if pruner == "none":
        return None
    if pruner not in PRUNERS:
        raise ValueError(f"pruner {pruner!r} is not known; use one of {', '.join(PRUNERS)}")
    return {"pruner": pruner, "n_startup_trials": n_startup_trials, "n_warmup_steps": n_warmup_steps,
            # JSON keys are strings: epochs as [epoch, score] pairs
            "earlier": [sorted([int(epoch), float(score)] for epoch, score in curve.items())
                        for curve in earlier_curves]}


class EpochPruner:
    """Reports each epoch's validation score to an in-memory study of the earlier trials."""

    def __init__(self, context: dict[str, Any]):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # Optuna judges a step once step >= n_warmup_steps; epochs count from 1, so the first
        # n_warmup_steps epochs stay unjudged with one more.
        pruner = optuna.pruners.MedianPruner(n_startup_trials=int(context["n_startup_trials"]),
                                             n_warmup_steps=int(context["n_warmup_steps"]) + 1)
        self._study = optuna.create_study(direction="maximize", pruner=pruner)
        for curve in context["earlier"]:
            values = {int(epoch): float(score) for epoch, score in curve}
            if values:
                self._study.add_trial(optuna.trial.create_trial(
                    value=max(values.values()), intermediate_values=values, params={}, distributions={}))
        self._trial = self._study.ask()
        self.curve: list[dict[str, float]] = []

    def observe(self, event: dict) -> None:
        if event.get("kind") != "epoch" or event.get("valid_mif1") is None:
            return
        epoch, score = int(event["epoch"]), float(event["valid_mif1"])
        self.curve.append({"epoch": epoch, "valid_mif1": score})
        self._trial.report(score, epoch)
        if self._trial.should_prune():
            raise TrialPruned(epoch, score)
