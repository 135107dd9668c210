"""The compute a search used, from its trial records: trials (scored, pruned, failed), epochs trained,
and the seconds of fit wall time, worker CPU time and GPU time (fit time of trials on a GPU)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Budget:
    trials: int = 0
    scored: int = 0
    pruned: int = 0
    failed: int = 0
    epochs: int = 0
    fit_seconds: float = 0.0
    cpu_seconds: float = 0.0
    gpu_seconds: float = 0.0

    def add(self, record: dict) -> None:
        self.trials += 1
        status = record.get("status")
        self.scored += status == "trial"
        self.pruned += status == "pruned"
        self.failed += status not in ("trial", "pruned")
        self.epochs += len(record.get("curve") or [])
        fit = float(record.get("fit_seconds") or 0.0)
        self.fit_seconds += fit
        self.cpu_seconds += float(record.get("cpu_seconds") or 0.0)
        if str(record.get("device") or "").startswith("cuda"):
            self.gpu_seconds += fit

    def describe(self) -> str:
        text = (f"{self.trials} trials ({self.scored} scored, {self.pruned} pruned, {self.failed} failed), "
                f"{self.epochs} epochs, {self.cpu_seconds:.0f} CPU s")
        if self.gpu_seconds:
            text += f", {self.gpu_seconds:.0f} GPU s"
        return text


def study_budgets(records: list[dict]) -> dict[str, Budget]:
    """Study id -> the compute of its trials in ``records`` (a store's records, any status)."""
    budgets: dict[str, Budget] = {}
    for record in records:
        tuning = record.get("tuning") or {}
        if tuning.get("role") == "trial":
            budgets.setdefault(tuning["study"], Budget()).add(record)
    return budgets
