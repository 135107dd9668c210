"""Robustness protocols: evaluate a fitted method on perturbed test splits (no refit).

``--protocol`` specs (several may be given; they are not part of the job key):

- ``missing``: the test split under every non-empty combination of the
  dataset's modalities (7 for text/audio/vision), the absent ones given length
  0 and zero features; conditions ``test@text+audio`` (present modalities in
  the dataset's order) and their mean ``test@missing-mean`` (MCUR's reporting).
- ``missing-rate:0.1,0.3``: each modality of each test sample dropped
  independently at that rate, at least one kept, seeded by the job seed;
  conditions ``test@missing-rate=0.3``.
- ``noise:0.5,1,2``: Gaussian noise on the valid steps, scaled per feature
  dimension by that dimension's standard deviation on the training split, to
  each modality alone and to all at once; ``test@noise=1:audio``, ``test@noise=1:all``.

Each condition's scores (the accuracy metrics of ``metrics["test"]``) go to
``record["metrics"]["test@<condition>"]``; a condition the method cannot take
(a modality it requires is absent, or its prediction fails) goes to
``record["condition_errors"]`` with the reason, and the other conditions go on.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from mmerbench.errors import UsageError
from mmerbench.evaluation import perturb
from mmerbench.metrics import score, threshold_predictions

PROTOCOL_HELP = "missing | missing-rate:R1,R2,... (0 < R < 1) | noise:S1,S2,... (S > 0)"
MISSING_MEAN = "test@missing-mean"


@dataclass(frozen=True)
class Condition:
    """One perturbed test split."""

    name: str  # "test@text+audio"
    kind: str  # "present" | "missing-rate" | "noise"
    present: tuple[str, ...] = ()  # kind "present": the modalities kept
    level: float = 0.0  # kind "missing-rate": the rate; kind "noise": the scale
    target: str = ""  # kind "noise": a modality or "all"


@dataclass
class ProtocolResult:
    metrics: dict[str, dict] = field(default_factory=dict)  # condition -> scores
    errors: dict[str, str] = field(default_factory=dict)  # condition -> why it has no scores
    seconds: float = 0.0
    prediction_passes: int = 0


def _numbers(protocol: str, text: str, low_open: float, high_open: float | None) -> list[float]:
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"--protocol {protocol!r}: {part!r} is not a number. Valid: {PROTOCOL_HELP}") from None
        if not (value > low_open and (high_open is None or value < high_open)) or not math.isfinite(value):
            bounds = f"between {low_open:g} and {high_open:g} (exclusive)" if high_open else f"above {low_open:g}"
            raise UsageError(f"--protocol {protocol!r}: {value:g} must be {bounds}. Valid: {PROTOCOL_HELP}")
        values.append(value)
    return values


def parse_protocol(text: str) -> tuple[str, tuple[float, ...]]:
    """``"missing-rate:0.1,0.3"`` -> ``("missing-rate", (0.1, 0.3))``; a clear error otherwise."""
    text = text.strip()
    name, colon, values = text.partition(":")
    if name == "missing" and not colon:
        return "missing", ()
    if name == "missing-rate" and values:
        return "missing-rate", tuple(_numbers(text, values, 0.0, 1.0))
    if name == "noise" and values:
        return "noise", tuple(_numbers(text, values, 0.0, None))
    raise UsageError(f"--protocol {text!r} is not valid. Valid: {PROTOCOL_HELP}")


def _level(value: float) -> str:
    return f"{value:g}"


def conditions(protocols, modalities) -> list[Condition]:
    """Every condition of these protocol specs for a dataset with these modalities (in order)."""
    modalities = list(modalities)
    out: dict[str, Condition] = {}
    for text in protocols:
        name, values = parse_protocol(text)
        if name == "missing":
            for size in range(1, len(modalities) + 1):
                for present in combinations(modalities, size):
                    label = f"test@{'+'.join(present)}"
                    out[label] = Condition(label, "present", present=present)
        elif name == "missing-rate":
            for rate in values:
                label = f"test@missing-rate={_level(rate)}"
                out[label] = Condition(label, "missing-rate", level=rate)
        else:
            for scale in values:
                for target in [*modalities, "all"]:
                    label = f"test@noise={_level(scale)}:{target}"
                    out[label] = Condition(label, "noise", level=scale, target=target)
    return list(out.values())


def _stream(condition: Condition) -> int:
    # Different conditions draw independent random numbers; the same condition always the same ones.
    return zlib.crc32(condition.name.encode())


class ConditionBuilder:
    """Builds each condition's perturbed test split; the training std is computed once, when needed."""

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed = dataset, int(seed)
        self._train_std = None

    def train_std(self) -> dict[str, np.ndarray]:
        if self._train_std is None:
            self._train_std = perturb.feature_std(self.dataset.train)
        return self._train_std

    def split(self, condition: Condition):
        test = self.dataset.test
        if condition.kind == "present":
            return perturb.with_modalities(test, condition.present)
        if condition.kind == "missing-rate":
            rng = np.random.default_rng([self.seed, _stream(condition)])
            return perturb.with_dropped(test, perturb.drop_mask(test.lengths, condition.level, rng))
        targets = list(test.features) if condition.target == "all" else [condition.target]
        std = self.train_std()
        scales = {m: condition.level * std[m] for m in targets}
        return perturb.with_noise(test, scales, (self.seed, _stream(condition)))


def _absent_required(method, condition: Condition, modalities) -> list[str]:
    required = tuple(getattr(method, "requires", {}).get("modalities", ()))
    if condition.kind == "present":
        return [m for m in required if m not in condition.present]
    return []


def evaluate_conditions(method, dataset, protocols, seed: int, *, test_proba=None) -> ProtocolResult:
    """Score a fitted ``method`` on every condition of ``protocols`` (no refit).

    ``test_proba`` (the plain test probabilities, when already computed) is
    reused for the combination with every modality present, which is the plain
    test split itself.
    """
    result = ProtocolResult()
    if not protocols:
        return result
    started = time.perf_counter()
    modalities = list(dataset.modalities)
    builder = ConditionBuilder(dataset, seed)
    threshold = method.threshold_
    single_label = bool(getattr(method, "single_label_", dataset.single_label))
    for condition in conditions(protocols, modalities):
        absent = _absent_required(method, condition, modalities)
        if absent:
            result.errors[condition.name] = (
                f"{method.name or type(method).__name__} requires modality {', '.join(absent)}, "
                f"which {condition.name} removes")
            continue
        try:
            if condition.kind == "present" and len(condition.present) == len(modalities) and test_proba is not None:
                proba = np.asarray(test_proba, dtype=np.float64)  # nothing removed: the plain test split
            else:
                proba = method.predict_proba(builder.split(condition))
                result.prediction_passes += 1
            if not np.isfinite(proba).all():
                raise ValueError(f"{int((~np.isfinite(proba)).sum())} probabilities are NaN or infinite")
            predictions = threshold_predictions(proba, threshold, single_label)
            scores = score(dataset.test.labels, predictions, proba, single_label=single_label)
            scores.pop("per_label")
            result.metrics[condition.name] = scores
        except Exception as exc:  # noqa: BLE001 - one condition failing must not stop the others
            result.errors[condition.name] = f"{type(exc).__name__}: {exc}"
    combos = [c.name for c in conditions(protocols, modalities) if c.kind == "present"]
    if combos:
        failed = [name for name in combos if name not in result.metrics]
        if failed:
            result.errors[MISSING_MEAN] = f"not computed: {len(failed)} of {len(combos)} combinations have no scores"
        else:
            keys = [k for k, v in result.metrics[combos[0]].items() if isinstance(v, (int, float))]
            result.metrics[MISSING_MEAN] = {k: float(np.mean([result.metrics[c][k] for c in combos])) for k in keys}
    result.seconds = time.perf_counter() - started
    return result
