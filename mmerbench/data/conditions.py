"""The conditions a robustness protocol names, and the perturbed test split of each (no model involved).

:func:`conditions` and :class:`ConditionBuilder` take parsed specs
(:class:`~mmerbench.data.protocol_specs.ProtocolSpec`) or their texts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from mmerbench.data import perturb
from mmerbench.data.protocol_specs import parse_protocol


@dataclass(frozen=True)
class Condition:
    """One perturbed test split."""

    name: str  # "test@text+audio"
    kind: str  # "present" | "missing-rate" | "noise"
    present: tuple[str, ...] = ()  # kind "present": the modalities kept
    level: float = 0.0  # kind "missing-rate": the rate; kind "noise": the scale
    target: str = ""  # kind "noise": a modality or "all"


def _level(value: float) -> str:
    return f"{value:g}"


def conditions(protocols, modalities) -> list[Condition]:
    """Every condition of these protocol specs for a dataset with these modalities (in order)."""
    modalities = list(modalities)
    out: dict[str, Condition] = {}
    for spec in protocols:
        name, values, _ = parse_protocol(spec)
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
