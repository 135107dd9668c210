"""Commands that read a store, run from a folder without one, say where they looked and what they can see.

`leaderboard`, `results`, `report` and `status` share one helper (`mmerbench.cli.common.require_store`):
the message suggests `--results` and lists the stores found under the current folder, newest first.
"""

from __future__ import annotations

import os

import pytest

from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore

COMMANDS = {  # command -> its arguments besides --results
    "leaderboard": [],
    "results": [],
    "report": ["--out", "report-folder"],
    "status": [],
}


def make_store(folder, age_seconds=0):
    with ResultStore(folder):
        pass
    stamp = os.path.getmtime(folder / "results.sqlite") - age_seconds
    os.utime(folder / "results.sqlite", (stamp, stamp))


@pytest.mark.parametrize("command", list(COMMANDS))
def test_from_another_folder_the_error_suggests_results_and_lists_the_stores_it_sees(command, tmp_path,
                                                                                      monkeypatch, capsys):
    make_store(tmp_path / "old" / "mmerbench-results", age_seconds=3600)
    make_store(tmp_path / "exp" / "run1")
    make_store(tmp_path / ".hidden" / "r")  # hidden folders are not searched
    make_store(tmp_path / "a" / "b" / "c" / "d")  # deeper than the search goes
    monkeypatch.chdir(tmp_path)
    assert main([command, *COMMANDS[command]]) == 1
    err = capsys.readouterr().err
    assert "no results store at mmerbench-results/results.sqlite" in err
    assert f"`mmerbench {command} --results DIR`" in err
    listed = [line.split()[0] for line in err.splitlines() if line.startswith("  ")]
    assert listed == [os.path.join("exp", "run1"), os.path.join("old", "mmerbench-results")]  # newest first
    assert f"e.g. `mmerbench {command} --results {os.path.join('exp', 'run1')}`" in err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_with_no_store_anywhere_it_says_so(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([command, "--results", "nowhere", *COMMANDS[command]]) == 1
    err = capsys.readouterr().err
    assert "no results store at nowhere/results.sqlite" in err
    assert f"no results store under the current folder {tmp_path} either" in err


def test_a_store_in_the_current_folder_is_found_and_used(tmp_path, monkeypatch, capsys):
    make_store(tmp_path / "mmerbench-results")
    monkeypatch.chdir(tmp_path)
    assert main(["results"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
