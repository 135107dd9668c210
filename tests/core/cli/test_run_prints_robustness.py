"""`mmerbench run --protocol ...` ends with the run's robustness table, as the plain run ends with its table."""

from __future__ import annotations

from mmerbench.cli.main import main


def test_run_with_a_protocol_prints_its_robustness_table(testing_plugin, tmp_path, capsys):
    assert main(["run", "--methods", "prior", "--datasets", "tiny", "--device", "cpu", "--protocol", "missing",
                 "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## Robustness (test mif1" in out and "Modalities present at test time" in out
    assert out.index("tiny (test split)") < out.index("## Robustness")
