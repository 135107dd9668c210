"""The report's figures draw what their labels say (issue 27): every reliability bin, the spread over seeds on
an axis where 0.05 shows, the missing rate named for what it is with the share really dropped, and tied
configurations of the critical-difference diagram apart from each other."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmerbench.reporting import figure_data, plots


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures the plotting functions draw (instead of writing PNGs)."""
    figures = []

    def keep(figure, path):
        figures.append(figure)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def test_the_share_of_entries_line_draws_every_bin_including_the_last(drawn, tmp_path):
    edges = np.linspace(0, 1, 11)
    counts = np.r_[np.zeros(9), 50]  # every entry in the last bin, as for a confident model
    plots.reliability_diagram({"edges": edges.tolist(), "count": counts.tolist(), "frequency": [None] * 9 + [0.9],
                               "confidence": [None] * 9 + [0.95]}, "t", tmp_path / "r.png")
    share_axis = drawn[0].axes[1]
    (stairs,) = [p for p in share_axis.patches if p.get_label() == "share of entries"]
    values, bin_edges, _ = stairs.get_data()
    np.testing.assert_allclose(bin_edges, edges)
    assert values[-1] == pytest.approx(1.0)  # the last bin holds everything, and it is drawn


def test_score_curves_show_the_spread_on_an_axis_where_005_shows(drawn, tmp_path):
    curves = {"br": [(0.0, 0.70, 0.01), (0.5, 0.66, 0.02)], "cc": [(0.0, 0.72, 0.01), (0.5, 0.61, 0.03)]}
    plots.score_curves(curves, "t", "level", "miF1", tmp_path / "c.png",
                       ("share of modalities really dropped", {0.0: "0.00", 0.5: "0.42"}))
    ax = drawn[0].axes[0]
    low, high = ax.get_ylim()
    assert low <= 0.58 and high >= 0.73  # the spread fits
    assert high - low <= 0.3  # not 0-1: 0.05 is at least a sixth of the height
    assert len(ax.collections) >= 2  # one band per row
    ticks = ax.get_yticks()
    assert np.allclose(np.diff(ticks), 0.05)
    assert "± std over seeds" in [t.get_text() for t in ax.get_legend().get_texts()]
    (top,) = [child for child in ax.child_axes]
    assert top.get_xlabel() == "share of modalities really dropped"
    assert [t.get_text() for t in top.get_xticklabels()] == ["0.00", "0.42"]


@pytest.mark.parametrize("values, expected", [([0.6, 0.7], (0.55, 0.75)), ([0.98, 0.99], (0.8, 1.0)),
                                              ([0.01, 0.02], (0.0, 0.2)), ([0.1, 0.9], (0.06, 0.94))])
def test_score_axis_fits_the_data(values, expected):
    assert plots.score_axis_limits(values) == pytest.approx(expected, abs=1e-9)


def test_curves_carry_the_std_over_seeds():
    records = {"a": [{"metrics": {"test": {"mif1": 0.8}, "test@missing-rate=0.5": {"mif1": 0.5}}},
                     {"metrics": {"test": {"mif1": 0.6}, "test@missing-rate=0.5": {"mif1": 0.3}}}]}
    conditions = figure_data.condition_scores(records)
    spread = figure_data.condition_spread(records)
    assert figure_data.rate_curves(conditions, spread) == {
        "a": [(0.0, pytest.approx(0.7), pytest.approx(np.std([0.8, 0.6], ddof=1))),
              (0.5, pytest.approx(0.4), pytest.approx(np.std([0.5, 0.3], ddof=1)))]}


def test_the_realised_share_dropped_is_below_the_missing_rate():
    from mmerbench.testing.fixtures import make_tiny_dataset

    dataset = make_tiny_dataset(n_test=400)
    share = figure_data.realised_dropped_share(dataset, [0, 1], "test@missing-rate=0.7", 0.7)
    # 3 modalities, each dropped at 0.7 but one always kept: E = (3 * 0.7 - 0.7**3 * 1) / 3 ~ 0.586
    assert share == pytest.approx((3 * 0.7 - 0.7 ** 3) / 3, abs=0.03)
    assert figure_data.realised_dropped_share(dataset, [0], "test@missing-rate=0", 0.0) == 0.0


def test_tied_configurations_are_one_entry_of_the_critical_difference_diagram(drawn, tmp_path):
    names = ["br", "cc", "lp", "prior"]
    ranks = {"br": 2.0, "cc": 2.0, "lp": 1.5, "prior": 4.5}
    p = pd.DataFrame(np.full((4, 4), 0.9), index=names, columns=names)
    p.loc["prior", "lp"] = p.loc["lp", "prior"] = 0.01
    merged_ranks, merged_p = plots.merge_tied_ranks(ranks, p)
    assert merged_ranks == {"br = cc": 2.0, "lp": 1.5, "prior": 4.5}
    assert merged_p.loc["lp", "prior"] == 0.01 and merged_p.loc["br = cc", "prior"] == 0.9
    plots.critical_difference(ranks, p, 2.3, "t", tmp_path / "cd.png")
    texts = sorted(t.get_text() for t in drawn[0].axes[0].texts)
    assert texts == ["(4.5) prior", "br = cc (2)", "lp (1.5)"]  # one label for the tie, nothing drawn over it
