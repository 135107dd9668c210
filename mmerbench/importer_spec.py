"""What ``mmerbench data import NAME`` accepts, declared once per importer.

An :class:`ImporterSpec` lists its :class:`ImporterOption`\\ s and the rules that tie several of them
together (:class:`AtLeastOne`, :class:`OneOf`). The usage line, the ``--help`` text and the check of a
command line are all generated from that one declaration, so they cannot disagree: an option declared
``required=True`` is shown without brackets and marked "(required)", and its absence is refused; a
group is shown, described and checked as one.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class ImporterOption:
    """One command-line option of ``mmerbench data import NAME``.

    ``flag`` is the long option (``"--source"``), or a bare name (``"dataset_name"``) for a positional
    argument; ``dest`` the keyword the importer function receives; the rest mirrors
    ``argparse.add_argument``. ``required=True`` makes the option required everywhere: in the usage
    line, in the help and in the check.
    """

    flag: str
    help: str
    dest: str | None = None
    required: bool = False
    default: Any = None
    type: Callable | None = None
    action: str | None = None
    choices: tuple | None = None
    metavar: str | None = None

    @property
    def positional(self) -> bool:
        return not self.flag.startswith("-")

    @property
    def key(self) -> str:
        """The keyword the importer function receives."""
        return self.dest or self.flag.lstrip("-").replace("-", "_")

    def shown(self) -> str:
        """How the option is written in a usage line: ``--source PATH``, ``--force``, ``NAME``."""
        if self.positional:
            return self.metavar or self.key.upper()
        if self.action in ("store_true", "store_false", "count"):
            return self.flag
        if self.metavar:
            value = self.metavar
        elif self.choices:
            value = "{" + ",".join(str(c) for c in self.choices) + "}"
        else:
            value = self.key.upper()
        return f"{self.flag} {value}"

    def add_to(self, parser) -> None:
        """Add to an argparse parser or group; absent options stay absent (the spec fills defaults)."""
        kwargs: dict[str, Any] = {"help": self.help + (" (required)" if self.required and not self.positional
                                                        else ""),
                                  "default": argparse.SUPPRESS}
        for key in ("type", "action", "choices", "metavar"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        if self.positional:
            parser.add_argument(self.key, **kwargs)
            return
        kwargs["dest"] = self.key
        if self.required:
            kwargs["required"] = True
        parser.add_argument(self.flag, **kwargs)


@dataclass(frozen=True)
class AtLeastOne:
    """Give one or more of ``flags`` (e.g. one feature file per modality, any of three)."""

    flags: tuple[str, ...]

    def members(self) -> tuple[str, ...]:
        return self.flags


@dataclass(frozen=True)
class Alternative:
    """One way of giving the input: ``required`` flags that go together, and ``optional`` ones that only
    make sense with them."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    def members(self) -> tuple[str, ...]:
        return self.required + self.optional


@dataclass(frozen=True)
class OneOf:
    """Exactly one of several alternatives (``--source FILE`` or ``--train FILE --test FILE``)."""

    alternatives: tuple[Alternative, ...]

    def members(self) -> tuple[str, ...]:
        return tuple(flag for alternative in self.alternatives for flag in alternative.members())


@dataclass(frozen=True)
class ImporterSpec:
    """How ``mmerbench data import NAME`` turns users' files into the canonical form.

    ``target`` is ``"module:function"``; the function is called as
    ``function(output_path=..., name=NAME, dtype=..., **options)`` (every option's ``key``, ``None`` or
    its declared default when not given) and must write the canonical HDF5 file with
    :class:`mmerbench.data.CanonicalWriter` (which writes atomically and validates). ``rules`` tie
    options together: :class:`AtLeastOne`, :class:`OneOf`.
    """

    target: str | Callable
    options: tuple[ImporterOption, ...] = ()
    help: str = ""
    rules: tuple[AtLeastOne | OneOf, ...] = ()

    def __post_init__(self) -> None:
        flags = {option.flag for option in self.options}
        for rule in self.rules:
            unknown = [flag for flag in rule.members() if flag not in flags]
            if unknown:
                raise ValueError(f"importer rule {rule} names options that are not declared: {unknown}")
            required = [o.flag for o in self.options if o.flag in rule.members() and o.required]
            if required:  # a required option inside a group would make the group say two things
                raise ValueError(f"importer rule {rule}: {required} cannot be required=True inside a group")

    def option(self, flag: str) -> ImporterOption:
        return next(option for option in self.options if option.flag == flag)

    # -- what the user sees ---------------------------------------------------------------

    def _shown_alternative(self, alternative: Alternative) -> str:
        parts = [self.option(flag).shown() for flag in alternative.required]
        parts += [f"[{self.option(flag).shown()}]" for flag in alternative.optional]
        return " ".join(parts)

    def _shown_rule(self, rule: AtLeastOne | OneOf) -> str:
        if isinstance(rule, AtLeastOne):
            return "(at least one of: " + " ".join(self.option(flag).shown() for flag in rule.flags) + ")"
        return "(" + " | ".join(self._shown_alternative(a) for a in rule.alternatives) + ")"

    def rule_title(self, rule: AtLeastOne | OneOf) -> str:
        """The heading of a rule's options in ``--help``: says the rule in words."""
        if isinstance(rule, AtLeastOne):
            return "at least one of " + ", ".join(rule.flags)
        return "one of: " + "; or ".join(self._shown_alternative(a) for a in rule.alternatives)

    def usage_parts(self) -> list[str]:
        """The usage line's words for this importer's options, in declared order, groups kept together."""
        parts, done = [], set()
        for option in self.options:
            if option.flag in done:
                continue
            rule = self.rule_of(option.flag)
            if rule is not None:
                parts.append(self._shown_rule(rule))
                done.update(rule.members())
            elif option.positional or option.required:
                parts.append(option.shown())
            else:
                parts.append(f"[{option.shown()}]")
        return parts

    def rule_of(self, flag: str) -> AtLeastOne | OneOf | None:
        return next((rule for rule in self.rules if flag in rule.members()), None)

    # -- the check ------------------------------------------------------------------------

    def check(self, given: set[str]) -> str | None:
        """Why the options ``given`` (their flags) break a rule, or ``None``. Required single options are
        refused by the parser itself, from the same ``required=True``."""
        for rule in self.rules:
            problem = self._check_rule(rule, given)
            if problem:
                return problem
        return None

    def _check_rule(self, rule: AtLeastOne | OneOf, given: set[str]) -> str | None:
        if isinstance(rule, AtLeastOne):
            if not given & set(rule.flags):
                return "give at least one of " + ", ".join(rule.flags)
            return None
        ways = "; or ".join(self._shown_alternative(a) for a in rule.alternatives)
        chosen = [a for a in rule.alternatives if given & set(a.members())]
        if not chosen:
            return f"give one of: {ways}"
        if len(chosen) > 1:
            used = [sorted(given & set(a.members()), key=a.members().index) for a in chosen]
            return (f"{' '.join(used[0])} and {' '.join(used[1])} cannot be combined: give one of: {ways}")
        missing = [flag for flag in chosen[0].required if flag not in given]
        if missing:
            present = [flag for flag in chosen[0].members() if flag in given]
            return (f"{' '.join(present)} needs {' and '.join(missing)} "
                    f"({self._shown_alternative(chosen[0])})")
        return None

    def keywords(self, given: dict[str, Any]) -> dict[str, Any]:
        """The importer function's keywords: what was given, else the declared default (or ``None``)."""
        return {option.key: given.get(option.key, option.default) for option in self.options}
