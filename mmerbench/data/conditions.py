"""The conditions a robustness protocol names, the one rule for an absent modality, the perturbed test split
of each condition and what its missingness came to (no model involved).

:func:`conditions` and :class:`ConditionBuilder` take parsed specs
(:class:`~mmerbench.data.protocol_specs.ProtocolSpec`) or their texts. The rule
(:func:`refusal`) and the realised shares (:func:`realised_missingness`) are the
ones every protocol, the re-evaluation and the reports use.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from mmerbench.data import perturb
from mmerbench.data.protocol_specs import parse_protocol

MISSINGNESS_KINDS = ("present", "absent", "missing-rate")


@dataclass(frozen=True)
class Condition:
    """One perturbed test split."""

    name: str  # "test@text+audio"
    kind: str  # "present" (a combination of `missing`) | "absent" (missing-modality) | "missing-rate" | "noise"
    present: tuple[str, ...] = ()  # kinds "present" / "absent": the modalities kept
    level: float = 0.0  # kind "missing-rate" with one rate for all: the rate; kind "noise": the scale
    target: str = ""  # kind "noise": a modality or "all"
    rates: tuple[tuple[str, float], ...] = ()  # kind "missing-rate": the rate of each of the dataset's modalities
    pattern_seeds: int = 1  # kind "missing-rate": drop patterns scored and averaged (@seeds=K)
    pattern_key: str = ""  # kind "missing-rate": what seeds the pattern (equal rates -> equal key, however written)
    protocol: str = ""  # the --protocol text this condition came from, as the user wrote it
    unknown: tuple[str, ...] = ()  # modalities the spec names that the dataset does not have

    def rate_of(self, modality: str) -> float:
        return dict(self.rates).get(modality, 0.0)


def _level(value: float) -> str:
    return f"{value:g}"


def _written(text: str) -> str:
    """A spec's text as a condition name: as written, without whitespace (a column name has none)."""
    return "".join(text.split())


def _rate_condition(label: str, rates: dict[str, float], modalities, spec, unknown=()) -> Condition:
    values = [rates.get(m, 0.0) for m in modalities]
    if len(set(values)) == 1:  # one rate for every modality: the same pattern as missing-rate:R
        key = f"test@missing-rate={_level(values[0])}"
    else:
        key = "test@missing-rate=" + ",".join(f"{m}:{_level(r)}" for m, r in zip(modalities, values))
    return Condition(label, "missing-rate", level=values[0] if len(set(values)) == 1 else 0.0,
                     rates=tuple(zip(modalities, values)), pattern_seeds=spec.pattern_seeds, pattern_key=key,
                     protocol=spec.text, unknown=tuple(unknown))


def conditions(protocols, modalities) -> list[Condition]:
    """Every condition of these protocol specs for a dataset with these modalities (in order)."""
    modalities = list(modalities)
    out: dict[str, Condition] = {}
    for spec in map(parse_protocol, protocols):
        if spec.name == "missing":
            for size in range(1, len(modalities) + 1):
                for present in combinations(modalities, size):
                    label = f"test@{'+'.join(present)}"
                    out.setdefault(label, Condition(label, "present", present=present, protocol=spec.text))
        elif spec.name == "missing-modality":
            label = f"test@{_written(spec.text)}"
            present = tuple(m for m in modalities if m not in spec.absent)
            unknown = tuple(m for m in spec.absent if m not in modalities)
            out.setdefault(label, Condition(label, "absent", present=present, protocol=spec.text, unknown=unknown))
        elif spec.name == "missing-rate" and spec.rates:
            label = f"test@{_written(spec.text)}"
            unknown = [m for m, _ in spec.rates if m not in modalities]
            out.setdefault(label, _rate_condition(label, dict(spec.rates), modalities, spec, unknown))
        elif spec.name == "missing-rate":
            suffix = f"@seeds={spec.pattern_seeds}" if spec.pattern_seeds > 1 else ""
            for rate in spec.values:
                label = f"test@missing-rate={_level(rate)}{suffix}"
                out.setdefault(label, _rate_condition(label, {m: rate for m in modalities}, modalities, spec))
        else:
            for scale in spec.values:
                for target in [*modalities, "all"]:
                    label = f"test@noise={_level(scale)}:{target}"
                    out.setdefault(label, Condition(label, "noise", level=scale, target=target, protocol=spec.text))
    return list(out.values())


# ------------------------------------------------------------------ the one rule for an absent modality


def removable(condition: Condition, modalities) -> tuple[str, ...]:
    """The modalities ``condition`` can remove from some test sample, decided from the condition itself
    (never from a random draw): those outside a combination, those listed absent, those with a rate above 0.
    Noise removes nothing."""
    if condition.kind in ("present", "absent"):
        return tuple(m for m in modalities if m not in condition.present)
    if condition.kind == "missing-rate":
        return tuple(m for m in modalities if condition.rate_of(m) > 0)
    return ()


def refusal(condition: Condition, required, modalities, who: str = "the method") -> str | None:
    """Why a method that requires ``required`` modalities is not scored on ``condition``, or None.

    The one rule (protocol version 2, :mod:`mmerbench.data.protocol_specs`): a condition that can remove a
    required modality from any sample is refused, whichever protocol made it, so every method scored on a
    condition saw the same inputs.
    """
    removed = set(removable(condition, modalities))
    absent = [str(m) for m in (required or ()) if m in removed]
    if not absent:
        return None
    fix = ""
    if condition.kind == "missing-rate":
        kept = ",".join(f"{m}={_level(condition.rate_of(m))}" for m in modalities
                        if m not in absent and condition.rate_of(m) > 0)
        seeds = f"@seeds={condition.pattern_seeds}" if condition.pattern_seeds > 1 else ""
        fix = (f"; to score it with missing modalities, leave {', '.join(absent)} out: missing-rate:{kept}{seeds}"
               if kept else "")
    return f"{who} requires modality {', '.join(absent)}, which {condition.name} removes{fix}"


# ------------------------------------------------------------------ what the missingness came to


def realised_missingness(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict:
    """What a condition's missingness came to, from the per-modality lengths of the test split before and
    after it (a modality is present in a sample when its length is above 0):

    - ``complete``: share of samples with every modality present;
    - ``none``: share of samples with no modality at all;
    - ``dropped``: share of the (sample, modality) pairs present before that the condition removed;
    - ``dropped_by_modality``: the same, per modality.

    The nominal rate of ``missing-rate:R`` is not the share dropped (at least one modality is kept per
    sample, so at R = 0.7 about 0.59 of three modalities go), and the share of complete samples at the same
    rate differs with the number of modalities: this is what a rate means, reported beside each score.
    """
    names = list(before)
    was = np.stack([np.asarray(before[m]) > 0 for m in names], axis=1)
    now = np.stack([np.asarray(after[m]) > 0 for m in names], axis=1)
    removed = was & ~now
    return {
        "complete": float(now.all(axis=1).mean()) if len(now) else 0.0,
        "none": float((~now).all(axis=1).mean()) if len(now) else 0.0,
        "dropped": float(removed.sum() / max(int(was.sum()), 1)),
        "dropped_by_modality": {m: float(removed[:, k].sum() / max(int(was[:, k].sum()), 1))
                                for k, m in enumerate(names)},
    }


def mean_missingness(shares: list[dict]) -> dict:
    """The mean of several :func:`realised_missingness` results (the patterns of ``@seeds=K``, or seeds)."""
    out = {key: float(np.mean([s[key] for s in shares])) for key in ("complete", "none", "dropped")}
    modalities = list(shares[0]["dropped_by_modality"]) if shares else []
    out["dropped_by_modality"] = {m: float(np.mean([s["dropped_by_modality"][m] for s in shares]))
                                  for m in modalities}
    return out


# ------------------------------------------------------------------ perturbed splits


def _stream(key: str) -> int:
    # Different conditions draw independent random numbers; the same condition always the same ones.
    return zlib.crc32(key.encode())


class ConditionBuilder:
    """Builds each condition's perturbed test split; the training std is computed once, when needed.

    A missing-rate pattern is drawn from (job seed, the condition's rates, pattern index): every method of
    the same seed gets the same pattern (paired), whatever the spec's spelling; pattern 0 is the one
    ``missing-rate:R`` has always drawn, patterns 1..K-1 are the extra ones of ``@seeds=K``.
    """

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed = dataset, int(seed)
        self._train_std = None

    def train_std(self) -> dict[str, np.ndarray]:
        if self._train_std is None:
            self._train_std = perturb.feature_std(self.dataset.train)
        return self._train_std

    def drop_pattern(self, condition: Condition, pattern: int = 0) -> np.ndarray:
        """(N, M) True where ``condition``'s pattern number ``pattern`` drops modality k of test sample i."""
        test = self.dataset.test
        entropy = [self.seed, _stream(condition.pattern_key)] + ([int(pattern)] if pattern else [])
        rates = np.array([condition.rate_of(m) for m in test.lengths], dtype=np.float64)  # drop_mask's order
        return perturb.drop_mask(test.lengths, rates, np.random.default_rng(entropy))

    def split(self, condition: Condition, pattern: int = 0):
        test = self.dataset.test
        if condition.kind in ("present", "absent"):
            return perturb.with_modalities(test, condition.present)
        if condition.kind == "missing-rate":
            return perturb.with_dropped(test, self.drop_pattern(condition, pattern))
        targets = list(test.features) if condition.target == "all" else [condition.target]
        std = self.train_std()
        scales = {m: condition.level * std[m] for m in targets}
        return perturb.with_noise(test, scales, (self.seed, _stream(condition.name)))
