"""``mmerbench report``: report.md, and figures that are valid PNGs of the expected size and not blank."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from mmerbench.cli.main import main
from mmerbench.reporting import plots, report
from mmerbench.testing.fixtures import make_tiny_dataset
from mmerbench.testing.result_records import make_fake_store

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_good_png(path):
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    with Image.open(path) as image:
        image.verify()  # a truncated or corrupt file raises
    with Image.open(path) as image:
        assert image.size == plots.SIZE, f"{path}: {image.size}, expected {plots.SIZE}"
        pixels = np.asarray(image.convert("L"), dtype=float)
    background = np.median(pixels)
    drawn = np.mean(np.abs(pixels - background) > 30)
    assert drawn > 0.01, f"{path} is blank ({drawn:.2%} of pixels differ from the background)"


class FakeLDDU:
    """What a loaded LDDU model offers the report: latent (mu, sigma) per sample, modality and label."""

    def latent_distributions(self, split):
        rng = np.random.default_rng(0)
        n, q = split.labels.shape
        centres = rng.normal(size=(1, 3, q, 8)) * 3
        mu = centres + rng.normal(size=(n, 3, q, 8))
        return {"mu": mu, "sigma": np.abs(mu) + 0.1, "modalities": ["text", "audio", "vision"]}


class FakeSplit:
    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def take(self, indices):
        return FakeSplit(self.labels[indices])


@pytest.fixture
def full_store(tmp_path, monkeypatch):
    results = tmp_path / "results"
    make_fake_store(results, {"lddu": 1.6, "br": 1.0, "prior": 0.2}, datasets=("synthetic", "synthetic-mosei"),
                    seeds=(0, 1), n_test=120, deep=("lddu",), own_uncertainty=("lddu",))
    labels = (np.random.default_rng(1).random((120, 6)) < 0.3).astype(np.uint8)
    monkeypatch.setattr(report, "TSNE_SAMPLES", 40)  # t-SNE's cost is not what this test is about
    monkeypatch.setattr(report, "load_job_model", lambda results_dir, key: FakeLDDU())
    monkeypatch.setattr(report, "load_dataset_of", lambda record: make_tiny_dataset(n_test=60))
    monkeypatch.setattr(report, "load_test_split", lambda record: (
        FakeSplit(labels), ["happy", "sad", "anger", "surprise", "disgust", "fear"], ["text", "audio", "vision"]))
    return results


@pytest.mark.slow
def test_report_writes_every_figure_as_a_good_png(full_store, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--results", str(full_store), "--out", str(out)]) == 0
    text = (out / "report.md").read_text()
    figures = sorted(out.glob("figures/**/*.png"))
    names = {f.relative_to(out).as_posix() for f in figures}
    for dataset in ("synthetic", "synthetic-mosei"):
        for name in ("reliability-lddu", "reliability-br", "risk-coverage", "modality-combinations", "missing-rate",
                     "noise-audio", "noise-all", "per-label-f1", "training-curves", "tsne-lddu"):
            assert f"figures/{dataset}/{name}.png" in names, name
            assert f"(figures/{dataset}/{name}.png)" in text  # linked from report.md
    assert "figures/critical-difference.png" in names and "Friedman test over 2 datasets" in text
    for figure in figures:
        assert_good_png(figure)
    assert "lddu †" in text and "per-seed Mann-Whitney p" in text and "skipped" not in text
    assert "share of the test split's modalities really dropped" in text  # beside the missing-rate figure
    assert "[1/" in capsys.readouterr().err  # progress lines on stderr


def test_absent_data_skips_figures_with_a_line(tmp_path, capsys):
    results = tmp_path / "results"
    make_fake_store(results, {"br": 1.0, "cc": 0.9}, seeds=(0,), n_test=80, robustness=False)
    out = tmp_path / "out"
    report.write_report(results, out, progress=lambda message: None)
    text = (out / "report.md").read_text()
    for needed in ("modality-combination chart: skipped (the `missing` protocol did not run)",
                   "training curves: skipped (no deep method recorded per-epoch curves)",
                   "latent t-SNE: skipped (no job on this dataset is of a method that offers `latent_distributions`)",
                   "the mark is per-sample only"):
        assert needed in text, needed
    assert_good_png(out / "figures" / "synthetic" / "risk-coverage.png")


def test_tsne_is_skipped_when_saved_models_are_unavailable(tmp_path, monkeypatch):
    results = tmp_path / "results"
    make_fake_store(results, {"lddu": 1.0, "br": 1.0}, seeds=(0,), n_test=60, robustness=False)
    monkeypatch.setitem(sys.modules, "mmerbench.execution.job_models", None)  # import fails
    report.write_report(results, tmp_path / "out", progress=lambda message: None)
    assert "cannot load saved models" in (tmp_path / "out" / "report.md").read_text()

    monkeypatch.setitem(sys.modules, "mmerbench.execution.job_models",
                        types.SimpleNamespace(load_job_model=lambda results_dir, key: object()))
    report.write_report(results, tmp_path / "out", progress=lambda message: None)
    assert "has no `latent_distributions`" in (tmp_path / "out" / "report.md").read_text()


def test_report_errors_name_the_problem(tmp_path, capsys):
    results = tmp_path / "results"
    make_fake_store(results, {"br": 1.0}, seeds=(0,), n_test=40, robustness=False)
    assert main(["report", "--results", str(results), "--dataset", "synthetc", "--out", str(tmp_path / "o")]) == 2
    assert "Did you mean: synthetic" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "file")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main(["report", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 1
    assert "no results store" in capsys.readouterr().err


def test_blank_figure_is_caught(tmp_path):
    from PIL import Image

    Image.new("RGB", plots.SIZE, "white").save(tmp_path / "blank.png")
    with pytest.raises(AssertionError, match="blank"):
        assert_good_png(tmp_path / "blank.png")


REPORTED_SOURCES = [
    # dataset of our rows -> a reported row, the paper table its numbers come from, the paper's setting
    ("cmu-mosei-mmsa", "| BR (reported)", "| LDDU paper | Table 1 and 4 | aligned "),
    ("cmu-mosei-mmsa-unaligned", "| GPT-4o (reported) ‡", "| LDDU paper | Table 1 and 4 | unaligned "),
    ("m3ed", "| CARAT (reported)", "| LDDU paper | Table 2 | - "),
]


@pytest.mark.parametrize("dataset, row, source", REPORTED_SOURCES)
def test_the_reports_list_of_reported_numbers_names_each_numbers_paper_table(dataset, row, source, tmp_path):
    results = tmp_path / "results"
    make_fake_store(results, {"br": 1.0}, datasets=(dataset,), seeds=(0,), n_test=40, robustness=False)
    assert main(["report", "--results", str(results), "--out", str(tmp_path / "o")]) == 0
    text = (tmp_path / "o" / "report.md").read_text()
    reported = text.split("Reported in papers", 1)[1].split("Gap: ours", 1)[0]
    header = next(line for line in reported.splitlines() if line.startswith("| method"))
    assert [c.strip() for c in header.strip("|").split("|")][:4] == ["method", "paper", "table", "setting"]
    line = next(line for line in reported.splitlines() if line.startswith(row))
    assert source in line, line
    rows = [line for line in reported.splitlines() if "(reported)" in line]
    assert rows and all("| Table " in line for line in rows)  # every number says where it was printed
