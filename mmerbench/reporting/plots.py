"""The report's figures: one function per kind, plain data in, one PNG of a fixed size out.

Figures are drawn on ``matplotlib.figure.Figure`` objects rendered by the Agg
backend, never through pyplot's global state, so plotting needs no display
and leaks no open figures across a long report. Every figure has a title,
axis labels and a legend, and is written at exactly ``SIZE`` pixels (no
tight bounding box) so that a test can check what it gets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 5.0, 100
SIZE = (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))  # (width, height) in pixels
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _figure(rows: int = 1, columns: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def _save(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, dpi=DPI, format="png")
    tmp.replace(path)
    return path


def _short(label: str, width: int = 40) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def reliability_diagram(diagram: dict, title: str, path) -> Path:
    """Observed frequency per probability bin against the diagonal of perfect calibration."""
    figure, axes = _figure()
    ax = axes[0, 0]
    edges = np.asarray(diagram["edges"], dtype=float)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    frequency = np.array([np.nan if v is None else v for v in diagram["frequency"]], dtype=float)
    confidence = np.array([np.nan if v is None else v for v in diagram["confidence"]], dtype=float)
    filled = ~np.isnan(frequency)
    ax.bar(centres[filled], frequency[filled], width=widths[filled] * 0.95, color="tab:blue", alpha=0.8,
           edgecolor="black", label="observed frequency")
    ax.plot(confidence[filled], frequency[filled], "o", color="tab:orange", label="mean predicted probability")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top_class = diagram.get("kind") == "top-class"
    ax.set(xlim=(0, 1), ylim=(0, 1), title=title,
           xlabel="confidence of the predicted class" if top_class else "predicted probability of presence",
           ylabel="accuracy" if top_class else "observed frequency of presence")
    counts = np.asarray(diagram["count"], dtype=float)
    share = ax.twinx()
    # stairs over all the edges: every bin drawn, the last one included (a step over left edges drops it)
    share.stairs(counts / max(counts.sum(), 1), edges, color="tab:green", alpha=0.6, label="share of entries")
    share.set_ylabel("share of entries per bin")
    share.set_ylim(0, 1)
    handles = ax.get_legend_handles_labels()[0] + share.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize="small")
    return _save(figure, path)


def risk_coverage_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path) -> Path:
    """Risk (error rate of the entries kept) against coverage, one line per row."""
    figure, axes = _figure()
    ax = axes[0, 0]
    for i, (label, (coverage, risk)) in enumerate(curves.items()):
        area = float(np.mean(risk))
        ax.plot(coverage, risk, label=f"{_short(label)} (AURC {area:.3f})", linestyle=("-", "--", ":", "-.")[i % 4])
    ax.set(xlim=(0, 1), ylim=(0, None), title=title, xlabel="coverage (share of most certain entries kept)",
           ylabel="risk (error rate on kept entries)")
    ax.legend(fontsize="small")
    return _save(figure, path)


def grouped_bars(values: dict[str, dict[str, float]], title: str, xlabel: str, ylabel: str, path) -> Path:
    """``values[group][row]``: one group of bars per x position, one colour per row."""
    figure, axes = _figure()
    ax = axes[0, 0]
    groups = list(values)
    rows = list(dict.fromkeys(row for group in values.values() for row in group))
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(groups))
    for i, row in enumerate(rows):
        heights = [values[g].get(row, np.nan) for g in groups]
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, heights, width=width, label=_short(row))
    ax.set_xticks(x, groups, rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.2))  # headroom for the legend
    ax.set_yticks(np.linspace(0, 1, 6))  # scores live in [0, 1]; the headroom gets no tick
    ax.legend(fontsize="small", loc="upper center", ncols=min(len(rows), 4))
    return _save(figure, path)


SCORE_AXIS_MIN_SPAN = 0.2  # a score axis shows at least this much: 0.05 apart is a quarter of the height


def score_axis_limits(values) -> tuple[float, float]:
    """Y limits fitted to the scores and their spread (within [0, 1]), at least SCORE_AXIS_MIN_SPAN tall, so
    that differences of 0.05 are visible (a fixed 0-1 axis flattens them)."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    pad = max(0.02, 0.05 * (high - low))
    low, high = low - pad, high + pad
    if high - low < SCORE_AXIS_MIN_SPAN:
        centre = (low + high) / 2
        low, high = centre - SCORE_AXIS_MIN_SPAN / 2, centre + SCORE_AXIS_MIN_SPAN / 2
    if low < 0:
        low, high = 0.0, max(high - low, SCORE_AXIS_MIN_SPAN)
    if high > 1:
        low, high = min(low - (high - 1), 1 - SCORE_AXIS_MIN_SPAN), 1.0
    return max(low, 0.0), min(high, 1.0)


def score_curves(curves: dict[str, list[tuple]], title: str, xlabel: str, ylabel: str, path,
                 top_axis: tuple[str, dict[float, str]] | None = None) -> Path:
    """One line with markers per row: score against a perturbation level.

    Points are (level, mean) or (level, mean, std over seeds): the std is drawn as a band and error bars.
    The y axis fits the data (:func:`score_axis_limits`) with a grid every 0.05. ``top_axis`` is
    (label, {level: text}): a second x axis on top, e.g. the share of modalities really dropped at each level.
    """
    from matplotlib.ticker import MultipleLocator

    figure, axes = _figure()
    ax = axes[0, 0]
    seen = []
    for i, (label, points) in enumerate(curves.items()):
        xs = np.array([p[0] for p in points], dtype=float)
        ys = np.array([p[1] for p in points], dtype=float)
        sds = np.array([p[2] if len(p) > 2 and p[2] is not None else np.nan for p in points], dtype=float)
        line, = ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], label=_short(label))
        seen += list(ys)
        if np.isfinite(sds).any():
            spread = np.nan_to_num(sds)
            ax.fill_between(xs, ys - spread, ys + spread, color=line.get_color(), alpha=0.15, linewidth=0)
            ax.errorbar(xs, ys, yerr=spread, fmt="none", ecolor=line.get_color(), alpha=0.6, capsize=3)
            seen += list(ys - spread) + list(ys + spread)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=score_axis_limits(seen))
    ax.yaxis.set_major_locator(MultipleLocator(0.05))
    ax.grid(axis="y", alpha=0.3)
    if top_axis:
        top_label, ticks = top_axis
        top = ax.secondary_xaxis("top")
        top.set_xticks(list(ticks), [ticks[level] for level in ticks])
        top.set_xlabel(top_label)
    if any(len(p) > 2 for points in curves.values() for p in points):
        ax.plot([], [], color="gray", alpha=0.4, linewidth=6, label="± std over seeds")
    ax.legend(fontsize="small")
    return _save(figure, path)


def training_curves(curves: dict[str, list[list[dict]]], title: str, path) -> Path:
    """Training loss and validation miF1 per epoch; one colour per row, one line per seed."""
    figure, axes = _figure(1, 2)
    loss_ax, valid_ax = axes[0]
    colours = [f"C{i % 10}" for i in range(len(curves))]
    for colour, (label, seeds) in zip(colours, curves.items()):
        for seed_index, curve in enumerate(seeds):
            epochs = [row["epoch"] for row in curve]
            name = _short(label, 30) if seed_index == 0 else None
            if any("train_loss" in row for row in curve):
                loss_ax.plot(epochs, [row.get("train_loss", np.nan) for row in curve], color=colour, label=name)
            if any("valid_mif1" in row for row in curve):
                valid_ax.plot(epochs, [row.get("valid_mif1", np.nan) for row in curve], color=colour, label=name)
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="loss (mean over the epoch)")
    valid_ax.set(title="validation miF1", xlabel="epoch", ylabel="miF1 (selection threshold)")
    for ax in (loss_ax, valid_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small")
    figure.suptitle(title)
    return _save(figure, path)


def latent_tsne(points: np.ndarray, label_index: np.ndarray, modality_index: np.ndarray, label_names, modality_names,
                title: str, path) -> Path:
    """2-D embedding of latent distributions: colour = emotion label, marker = modality."""
    figure, axes = _figure()
    ax = axes[0, 0]
    for m, modality in enumerate(modality_names):
        for j, name in enumerate(label_names):
            chosen = (modality_index == m) & (label_index == j)
            if chosen.any():
                ax.scatter(points[chosen, 0], points[chosen, 1], s=10, color=f"C{j % 10}",
                           marker=MARKERS[m % len(MARKERS)], alpha=0.7)
    from matplotlib.lines import Line2D

    label_handles = [Line2D([], [], marker="o", linestyle="", color=f"C{j % 10}", label=name)
                     for j, name in enumerate(label_names)]
    modality_handles = [Line2D([], [], marker=MARKERS[m % len(MARKERS)], linestyle="", color="black", label=name)
                        for m, name in enumerate(modality_names)]
    first = ax.legend(handles=label_handles, title="emotion", loc="upper left", fontsize="x-small")
    ax.add_artist(first)
    ax.legend(handles=modality_handles, title="modality", loc="upper right", fontsize="x-small")
    ax.set(title=title, xlabel="t-SNE 1", ylabel="t-SNE 2")
    return _save(figure, path)


def merge_tied_ranks(mean_ranks: dict[str, float], nemenyi_p):
    """Configurations with the same mean rank as one entry named "a = b" (drawn at one place, one label),
    and the Nemenyi p-values between the entries (one representative per tie: tied ranks have the same
    p-values against every other configuration). Without this the diagram draws tied labels on top of
    each other and one configuration hides another."""
    import pandas as pd

    groups: dict[float, list[str]] = {}
    for name, rank in mean_ranks.items():
        key = next((r for r in groups if abs(r - rank) < 1e-9), rank)
        groups.setdefault(key, []).append(name)
    names = {rank: " = ".join(members) for rank, members in groups.items()}
    ranks = {names[rank]: rank for rank in groups}
    matrix = nemenyi_p if isinstance(nemenyi_p, pd.DataFrame) else pd.DataFrame(
        nemenyi_p, index=list(mean_ranks), columns=list(mean_ranks))
    first = {names[rank]: members[0] for rank, members in groups.items()}
    merged = pd.DataFrame([[float(matrix.loc[first[a], first[b]]) for b in ranks] for a in ranks],
                          index=list(ranks), columns=list(ranks))
    return ranks, merged


def critical_difference(mean_ranks: dict[str, float], nemenyi_p, cd: float | None, title: str, path) -> Path:
    """Nemenyi critical-difference diagram (scikit-posthocs) over datasets."""
    import scikit_posthocs

    import pandas as pd

    figure, axes = _figure()
    # the diagram writes its labels outside the axes, which constrained layout ignores: leave fixed margins
    figure.set_layout_engine(None)
    figure.subplots_adjust(left=0.2, right=0.8, top=0.82, bottom=0.2)
    ax = axes[0, 0]
    ranks, p_values = merge_tied_ranks(mean_ranks, nemenyi_p)
    scikit_posthocs.critical_difference_diagram(pd.Series(ranks), p_values, ax=ax)
    subtitle = f" (CD = {cd:.2f})" if cd is not None else ""
    ax.set_title(title + subtitle, pad=24)
    ax.set_xlabel("mean rank (1 = best); joined rows are not significantly different (Nemenyi, α = 0.05)")
    from matplotlib.lines import Line2D

    figure.legend(handles=[Line2D([], [], color="black", label="no significant difference (Nemenyi)")],
                  loc="lower center", fontsize="small")
    return _save(figure, path)
