"""Issue 20, "Output is text, not markup": strings from records are escaped for each output format.

A preset or parameter string holding an ANSI escape, ``<script>``, a ``|`` or a newline followed by
``# heading`` came out raw on main in the terminal table, `mmerbench status`, the published markdown and
report.md. Each row is one such string in one field, checked in every output.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from mmerbench.cli.main import main

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "execution"))
from untrusted_results import make_record, store_ok  # noqa: E402

ANSI = "\x1b[2J\x1b[31mred"
SCRIPT = "<script>alert(1)</script>"
HEADING = "x\n# owned heading"
PIPE = "a | b | c"

ATTACKS = [
    pytest.param({"preset": ANSI}, id="ansi-in-preset"),
    pytest.param({"overrides": {"lr": SCRIPT}}, id="script-in-parameter"),
    pytest.param({"preset": HEADING}, id="newline-heading-in-preset"),
    pytest.param({"preset": PIPE}, id="pipes-in-preset"),
]


def _clean(text: str, where: str, markup: bool = True) -> None:
    assert "\x1b" not in text, f"{where}: a terminal escape came through"
    assert not any(line.startswith("# owned") for line in text.splitlines()), f"{where}: a heading was injected"
    if not markup:  # a terminal line: HTML and pipes are just characters there
        return
    assert "<script>" not in text, f"{where}: HTML came through"
    for table in re.split(r"\n(?!\|)[^\n]*", text):  # runs of consecutive table lines
        widths = {line.count("|") - line.count("\\|") for line in table.splitlines() if line.startswith("|")}
        assert len(widths) <= 1, f"{where}: a cell was split ({widths}):\n{table}"


@pytest.mark.parametrize("fields", ATTACKS)
def test_record_text_is_escaped_in_every_output(tmp_path, capsys, fields):
    results = tmp_path / "results"
    store_ok(results, make_record(seed=0, **fields))
    store_ok(results, make_record(seed=0, method="br"))  # a second row: the table has its column layout
    submission = results / "slurm" / "1" / "submission.json"
    submission.parent.mkdir(parents=True)
    log = next(iter(fields.values()))
    submission.write_text(json.dumps({"jobs": [{"key": make_record(seed=0)["key"], "stderr": str(log)}]}))
    capsys.readouterr()
    main(["leaderboard", "--results", str(results), "--dataset", "tiny"])
    _clean(capsys.readouterr().out, "terminal table")
    main(["status", "--results", str(results)])
    _clean(capsys.readouterr().out, "mmerbench status", markup=False)
    main(["leaderboard", "--results", str(results), "--dataset", "tiny", "--publish", "--output-dir",
          str(tmp_path / "boards")])
    _clean((tmp_path / "boards" / "tiny.md").read_text(), "published markdown")
    main(["report", "--results", str(results), "--out", str(tmp_path / "report")])
    _clean((tmp_path / "report" / "report.md").read_text(), "report.md")
    main(["leaderboard", "--results", str(results), "--dataset", "tiny", "--format", "latex"])
    latex = capsys.readouterr().out
    assert "\x1b" not in latex and "\n# owned" not in latex
