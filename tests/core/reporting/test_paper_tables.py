"""Tables a paper can use: LaTeX (booktabs, marks as math, floats), robustness intervals and marks, CSV."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

import numpy as np
import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.reporting.latex import Cell, escape, tabular
from mmerbench.reporting.leaderboard import build_leaderboard, render_board
from mmerbench.store.results import ResultStore


@pytest.fixture(scope="module")
def run_with_conditions(tmp_path_factory):
    """br and prior, one seed each, under the missing-modality protocol (tiny data: seconds)."""
    from mmerbench.plugins import reset_registry

    results = tmp_path_factory.mktemp("paper") / "results"
    with pytest.MonkeyPatch.context() as patch:  # the testing plugin's tiny dataset, also in the workers
        patch.setenv("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin")
        reset_registry()
        mmerbench.run(["br", "prior"], ["tiny"], [0], results=results, protocols=["missing", "missing-rate:0.5"], jobs=2)
        with ResultStore(results, create=False, read_only=True) as store:
            yield results, store.records()
    reset_registry()


def test_condition_predictions_are_stored_beside_the_test_probabilities(run_with_conditions):
    results, records = run_with_conditions
    record = records[0]
    with np.load(results / "predictions" / f"{record['key']}.npz") as data:
        assert "test@vision_pred" in data.files and "test@missing-rate=0.5_pred" in data.files
        predictions = data["test@vision_pred"].astype(bool)
        labels = data["test_labels"].astype(bool)
    stored = record["metrics"]["test@vision"]["mif1"]
    assert mmerbench.score(labels, predictions)["mif1"] == pytest.approx(stored)


def test_robustness_columns_get_marks_and_intervals_from_the_paired_bootstrap(run_with_conditions):
    results, records = run_with_conditions
    board = build_leaderboard(records, "tiny", results_dir=results, ci=True)
    missing = next(t for t in board.robustness_tables if t.key == "missing")
    text_column = 1 + missing.columns.index("text")
    cells = {row[0]: row[text_column] for row in missing.rows}
    best = max(cells.values(), key=lambda c: c.mean)
    assert best.best and best.mark == "†"  # the column's best is marked and bold
    for cell in cells.values():
        low, high = cell.ci
        assert low <= cell.mean + 1e-9 and cell.mean - 1e-9 <= high
    mean_column = 1 + missing.columns.index("mean")
    assert all(row[mean_column].ci is None for row in missing.rows)  # a mean of columns: no predictions
    markdown = render_board(board, "markdown")
    assert "† per column: the best mif1 under that condition" in markdown and "[" in markdown


def test_robustness_tables_as_long_csv(run_with_conditions, capsys):
    results, _ = run_with_conditions
    assert main(["leaderboard", "--results", str(results), "--table", "robustness", "--format", "csv", "--ci"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    vision = [r for r in rows if r["table"] == "missing" and r["column"] == "vision"]
    assert {r["method"] for r in vision} == {"br", "prior"}
    assert all(r["ci_low"] and r["condition"] == "test@vision" for r in vision)
    assert any(r["column"] == "relative" and r["value"] for r in rows)


def test_condition_metrics_are_columns_of_the_main_table(run_with_conditions, capsys):
    results, records = run_with_conditions
    assert main(["leaderboard", "--results", str(results), "--metrics", "mif1,test@vision_mif1,test@missing-mean_mif1"]) == 0
    out = capsys.readouterr().out
    assert "miF1 (vision)" in out and "miF1 (missing-mean)" in out
    br = [r for r in records if r["method"] == "br"]
    assert f"{np.mean([r['metrics']['test@vision']['mif1'] for r in br]):.3f}" in out


def test_latex_escapes_text_and_writes_marks_as_math():
    assert escape("lddu_v2 (cpu) †") == r"lddu\_v2 (cpu) $^\dagger$"
    assert escape("50% & more") == r"50\% \& more"
    assert Cell(0.5, 0.01, best=True, mark="†").latex(3) == r"\textbf{0.500 $\pm$ 0.010}$^\dagger$"
    text = tabular(["method", "n", "miF1"], [["br", "2", Cell(0.5)]], caption="A", label="tab:a")
    assert text.splitlines()[:5] == ["\\begin{table}[t]", "\\centering", "\\small", "\\caption{A}", "\\label{tab:a}"]
    assert "\\begin{tabular}{lrr}" in text and "\\toprule" in text and "\\bottomrule" in text


def test_leaderboard_latex_is_booktabs_with_robustness_tables(run_with_conditions, capsys):
    results, _ = run_with_conditions
    assert main(["leaderboard", "--results", str(results), "--format", "latex", "--caption", "Tiny",
                 "--label", "tab:tiny"]) == 0
    out = capsys.readouterr().out
    assert out.count("\\begin{tabular}") == 3  # the main table, modality combinations, missing rate
    assert "\\label{tab:tiny}" in out and "\\label{tab:tiny-missing}" in out and "\\label{tab:tiny-missing-rate}" in out
    assert "†" not in out and "±" not in out  # raw marks would not compile
    assert re.search(r"\\textbf\{0\.\d{3}", out)


def test_latex_options_are_checked(run_with_conditions, capsys):
    results, _ = run_with_conditions
    assert main(["leaderboard", "--results", str(results), "--caption", "x"]) == 2
    assert "add --format latex" in capsys.readouterr().err
    assert main(["leaderboard", "--results", str(results), "--format", "latex", "--label", "tab:{x}"]) == 2
    assert "--label 'tab:{x}'" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_table_compiles(run_with_conditions, capsys, tmp_path):
    results, _ = run_with_conditions
    assert main(["leaderboard", "--results", str(results), "--format", "latex", "--caption", "Tiny", "--label",
                 "tab:tiny", "--ci"]) == 0
    body = capsys.readouterr().out
    (tmp_path / "t.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                    + body + "\n\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
