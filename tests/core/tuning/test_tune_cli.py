"""`mmerbench tune`'s command line: the dry-run plan, refusals that name the bad value."""

from __future__ import annotations

import pytest

from mmerbench.cli.main import main


def test_dry_run_shows_the_plan_the_spaces_and_says_when_there_is_no_timing(testing_plugin, tmp_path, capsys):
    code = main(["tune", "--methods", "br,prior", "--datasets", "tiny", "--trials", "5", "--seeds", "0,1",
                 "--results", str(tmp_path / "r"), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 method(s) x 1 dataset(s) x 5 trials" in out
    assert "br on tiny (default space" in out and "0/5 trials in the store, 7 job(s) left" in out
    assert "estimator_params.C: log-uniform[0.001, 100]" in out and "smoothing: uniform[0, 5]" in out
    assert "no stored timing" in out
    assert not (tmp_path / "r").exists(), "a dry run creates nothing"


@pytest.mark.parametrize("option, value, says", [
    ("--sampler", "grid", "--sampler 'grid' is not known; use one of tpe, random"),
    ("--pruner", "hyperband", "--pruner 'hyperband' is not known; use one of median, none"),
    ("--trials", "0", "--trials 0 is not valid"),
])
def test_a_bad_search_setting_is_refused_by_name(testing_plugin, tmp_path, capsys, option, value, says):
    code = main(["tune", "--methods", "br", "--datasets", "tiny", option, value, "--results", str(tmp_path)])
    assert code != 0 and says in capsys.readouterr().err


def test_a_method_without_a_space_for_its_configuration_is_named(testing_plugin, tmp_path, capsys):
    code = main(["tune", "--methods", "bias-only", "--datasets", "tiny", "--results", str(tmp_path), "--dry-run"])
    assert code != 0
    assert "method 'bias-only' declares no search space for its defaults (it declares: none)" in capsys.readouterr().err
