"""`mmerbench data import NAME`: the usage line, the help and the check come from one declaration.

For every registered importer, each required option is shown without brackets, marked "(required)" and
refused when absent; each optional one is shown in brackets and may be left out; each group
(at least one of / one of) is shown, titled and checked as one. Then the two cases a new user tripped
over, table-driven: the command line, and the message it must give.
"""

from __future__ import annotations

import re

import pytest

from mmerbench.cli.data import build_import_parser, parse_import_options
from mmerbench.cli.main import main
from mmerbench.importer_spec import Alternative, AtLeastOne, ImporterOption, ImporterSpec, OneOf
from mmerbench.plugins import get_registry


def importers():
    return {name: spec for name, spec in sorted(get_registry().datasets.items()) if spec.importer is not None}


def usage_of(parser) -> str:
    return " ".join(parser.format_usage().split())  # the wrapped line as one


def minimal_argv(importer) -> list[str]:
    """The smallest command line the declaration accepts: required options and the first way of each group."""
    argv = []
    for option in importer.options:
        if option.required or option.positional:
            argv += [option.shown().split()[-1]] if option.positional else [option.flag, "x"]
    for rule in importer.rules:
        flags = rule.flags[:1] if isinstance(rule, AtLeastOne) else rule.alternatives[0].required
        for flag in flags:
            argv += [flag, "x"]
    return argv


@pytest.mark.parametrize("name", sorted(importers()))
def test_usage_help_and_check_agree_for_every_importer(name, capsys):
    spec = importers()[name]
    importer = spec.importer
    parser = build_import_parser(name, spec)
    usage, help_text = usage_of(parser), " ".join(parser.format_help().split())
    accepted = parse_import_options(parser, importer, minimal_argv(importer))
    assert set(accepted) >= {option.key for option in importer.options}  # every keyword reaches the function

    for option in importer.options:
        shown = option.shown()
        if importer.rule_of(option.flag) is not None:
            continue  # checked with its group below
        if option.positional:
            assert shown in usage
        elif option.required:
            assert f" {shown} " in usage + " " and f"[{shown}]" not in usage
            assert re.search(re.escape(option.flag) + r" .*?\(required\)", help_text), (name, option.flag)
            without = minimal_argv(importer)
            index = without.index(option.flag)
            del without[index: index + 2]
            with pytest.raises(SystemExit):
                parse_import_options(parser, importer, without)
            assert option.flag in capsys.readouterr().err
        else:
            assert f"[{shown}]" in usage, (name, option.flag)

    for rule in importer.rules:
        assert importer.rule_title(rule) in help_text
        for flag in rule.members():
            assert flag in usage
        if isinstance(rule, AtLeastOne):
            assert "(at least one of: " in usage
        argv = [a for a in minimal_argv(importer)]
        for flag in rule.members():  # take the whole group away: refused, naming the group
            if flag in argv:
                index = argv.index(flag)
                del argv[index: index + 2]
        with pytest.raises(SystemExit):
            parse_import_options(parser, importer, argv)
        err = capsys.readouterr().err
        assert "usage:" in err and all(flag in err for flag in rule.members()[:1])


CASES = [
    # (importer, arguments, what the refusal must say)
    ("table", ["t", "--source", "a.csv"], "the following arguments are required: --label-columns"),
    ("table", ["t", "--label-columns", "last:2"],
     "give one of: --source FILE [--test-fraction F] [--seed N]; or --train FILE --test FILE [--valid FILE]"),
    ("table", ["t", "--train", "a.csv", "--label-columns", "last:2"], "--train needs --test"),
    ("table", ["t", "--source", "a.csv", "--train", "b.csv", "--label-columns", "last:2"],
     "--source and --train cannot be combined"),
    ("table", ["t", "--train", "a", "--test", "b", "--seed", "3", "--label-columns", "last:2"],
     "--seed and --train --test cannot be combined"),
    ("cmu-mosei-sdk-aligned", ["--labels", "l", "--folds", "f", "--audio", "a"],
     "the following arguments are required: --text"),
    ("cmu-mosei-sdk-aligned", ["--labels", "l", "--folds", "f"], "the following arguments are required: --text"),
    ("cmu-mosei-sdk-unaligned", ["--labels", "l", "--folds", "f"], "give at least one of --text, --audio, --vision"),
]


@pytest.mark.parametrize("name, argv, message", CASES)
def test_the_refusals_a_new_user_met(name, argv, message, capsys):
    assert main(["data", "import", name, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert f"usage: mmerbench data import {name}" in err  # the usage line says the same thing as the error


USAGE = [
    ("table", "--label-columns SPEC [--view NAME=a:b]"),
    ("table", "(--source FILE [--test-fraction F] [--seed N] | --train FILE --test FILE [--valid FILE])"),
    ("cmu-mosei-sdk-aligned", "--labels PATH --folds PATH --text PATH [--audio PATH] [--vision PATH]"),
    ("cmu-mosei-sdk-unaligned", "--folds PATH (at least one of: --text PATH --audio PATH --vision PATH)"),
]


@pytest.mark.parametrize("name, shown", USAGE)
def test_usage_lines(name, shown, capsys):
    assert main(["data", "import", name, "--help"]) == 0
    assert shown in " ".join(capsys.readouterr().out.split())


def test_a_partial_unaligned_import_passes_the_check():
    spec = importers()["cmu-mosei-sdk-unaligned"]
    parser = build_import_parser("cmu-mosei-sdk-unaligned", spec)
    keywords = parse_import_options(parser, spec.importer, ["--labels", "l", "--folds", "f", "--audio", "a"])
    assert keywords["audio"] == "a" and keywords["text"] is None and keywords["label_kind"] == "emotions"


def test_a_declaration_that_contradicts_itself_is_refused_at_registration():
    source = ImporterOption("--source", "file", required=True)
    with pytest.raises(ValueError, match="cannot be required=True inside a group"):
        ImporterSpec("m:f", (source, ImporterOption("--train", "t")),
                     rules=(OneOf((Alternative(("--source",)), Alternative(("--train",)))),))
    with pytest.raises(ValueError, match="not declared"):
        ImporterSpec("m:f", (ImporterOption("--a", "a"),), rules=(AtLeastOne(("--a", "--b")),))
