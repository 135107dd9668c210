"""One run configuration: every setting is a command-line option, a --config key and a run() keyword."""

from __future__ import annotations

import inspect
from dataclasses import fields

import pytest

import mmerbench
from mmerbench.cli.main import build_parser
from mmerbench.config import RunConfig
from mmerbench.errors import UsageError


def _run_options() -> dict[str, str]:
    parser = build_parser()
    (run,) = [a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "run"]
    return {action.dest: action.option_strings[0] for action in run[1]._actions if action.option_strings}


def test_every_setting_is_a_command_line_option():
    options = _run_options()
    missing = [f.name for f in fields(RunConfig) if f.name not in options]
    assert not missing, f"settings without a `mmerbench run` option: {missing}"


def test_every_setting_is_a_config_key_with_its_default(tmp_path):
    for key in RunConfig.keys():
        default = getattr(RunConfig(), RunConfig.keys()[key])
        if default is None:
            continue
        value = dict(default) if isinstance(default, dict) else default
        assert getattr(RunConfig.from_mapping({key: value}), RunConfig.keys()[key]) == default, key


def test_run_takes_the_settings_as_keywords_and_refuses_unknown_ones(tmp_path):
    assert "config" in inspect.signature(mmerbench.run).parameters
    with pytest.raises(TypeError, match="unexpected keyword argument.*no_such_setting"):
        mmerbench.run(["prior"], no_such_setting=1, dry_run=True, results=tmp_path)
    with pytest.raises(UsageError, match=r"jobs = '2' is a str; jobs must be an integer"):
        mmerbench.run(["prior"], jobs="2", dry_run=True, results=tmp_path)


def test_the_command_line_wins_over_the_config_file(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('methods = ["prior"]\njobs = 3\nprotocols = ["missing-rate:0.1,0.3"]\n[set.prior]\nx = 1\n')
    chosen = RunConfig.from_args(build_parser().parse_args(
        ["run", "--config", str(config), "--jobs", "2", "--set", "prior.y=2"]))
    assert chosen.jobs == 2 and chosen.methods == ["prior"]
    assert chosen.protocols == ["missing-rate:0.1,0.3"]  # one spec with its commas, not two
    assert chosen.settings == {"prior.x": 1, "prior.y": 2}


def test_protocol_specs_are_parsed_once_with_the_text_the_user_wrote():
    specs = RunConfig(methods=["prior"], protocols=["missing", "missing-rate:0.1,0.3"]).protocol_specs()
    assert [(s.name, s.values, s.text) for s in specs] == [("missing", (), "missing"),
                                                          ("missing-rate", (0.1, 0.3), "missing-rate:0.1,0.3")]
