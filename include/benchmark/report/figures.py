"""matplotlib helpers shared by the report's plots: figures, styles, bands, legends (Agg canvas,
no pyplot state; matplotlib is imported inside ``new_figure``)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from include.benchmark.report.labels import label_order

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@dataclass
class PlotStyle:
    """Consistent colours and line styles for labels across every plot of one report."""

    labels: list[str]
    styles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        classical = {
            "exact": {"color": "black", "linestyle": ":", "marker": "s"},
            "greedy": {"color": "#8c564b", "linestyle": "--", "marker": "v"},
            "local_search": {"color": "#7f7f7f", "linestyle": "--", "marker": "^"},
            "simulated_annealing": {"color": "#bcbd22", "linestyle": "--", "marker": "D"},
        }
        palette = [
            "#1f77b4",
            "#d62728",
            "#2ca02c",
            "#9467bd",
            "#ff7f0e",
            "#17becf",
            "#e377c2",
            "#393b79",
            "#8c6d31",
            "#637939",
        ]
        markers = ["o", "P", "X", "*", "h", "p", "<", ">"]
        i = 0
        for label in self.labels:
            if label in classical:
                self.styles[label] = classical[label]
            elif label not in self.styles:
                self.styles[label] = {
                    "color": palette[i % len(palette)],
                    "linestyle": "-",
                    "marker": markers[(i // len(palette)) % len(markers)],
                }
                i += 1

    def __call__(self, label: str) -> dict[str, Any]:
        return self.styles.get(label, {"color": "grey", "linestyle": "-", "marker": "o"})


def new_figure(n_panels: int, *, rows: int = 1, height: float = 4.2) -> tuple[Figure, list[list[Axes]]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = max(n_panels, 1)
    fig = Figure(figsize=(max(6.4 * cols, 7.5), height * rows + 1.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [list(r) for r in axes]


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def no_data(ax: Axes, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=11,
        color="#555555",
        wrap=True,
        bbox={"boxstyle": "round", "facecolor": "#f3f3f3", "edgecolor": "#cccccc"},
    )
    ax.set_xticks([])
    ax.set_yticks([])


def size_axis(ax: Axes, sizes: Sequence[int]) -> None:
    ax.set_xlabel("problem size n (nodes)")
    if len(sizes):
        ax.set_xticks(sorted(set(int(s) for s in sizes)))
        lo, hi = min(sizes), max(sizes)
        pad = max((hi - lo) * 0.08, 0.6)
        ax.set_xlim(lo - pad, hi + pad)
    ax.grid(True, alpha=0.3)


def _dodge(sizes: Sequence[int], n_series: int) -> float:
    """Horizontal offset between series so markers at equal values do not hide each other."""
    unique = sorted(set(sizes))
    gap = float(min(np.diff(unique))) if len(unique) > 1 else 1.0
    return 0.25 * gap / max(n_series - 1, 1) if n_series > 1 else 0.0


def band_series(
    ax: Axes,
    table: pd.DataFrame,
    labels: list[str],
    style: PlotStyle,
    *,
    median: str = "median",
    q25: str = "q25",
    q75: str = "q75",
    positive_only: bool = False,
) -> list[str]:
    """Median line with markers and a shaded q25–q75 band per label (``table`` has columns
    label, n_nodes and the three statistics). Returns the points left out because they were
    not positive (for log axes), as "label (n=...)"."""
    dropped: list[str] = []
    sizes = table["n_nodes"].astype(int).tolist()
    step = _dodge(sizes, len(labels))
    for i, label in enumerate(labels):
        part = table[table["label"] == label].sort_values("n_nodes")
        if positive_only:
            keep = part[median] > 0
            if not keep.all():
                sizes_out = ", ".join(str(int(n)) for n in part.loc[~keep, "n_nodes"])
                dropped.append(f"{label} (n={sizes_out})")
            part = part[keep]
        if part.empty:
            continue
        x = part["n_nodes"].to_numpy(dtype=float) + (i - (len(labels) - 1) / 2) * step
        y = part[median].to_numpy(dtype=float)
        lo = part[q25].to_numpy(dtype=float)
        hi = part[q75].to_numpy(dtype=float)
        if positive_only:
            lo = np.where(lo > 0, lo, y)
        s = style(label)
        ax.plot(x, y, label=label, color=s["color"], linestyle=s["linestyle"], marker=s["marker"], markersize=5)
        if len(x) > 1:
            ax.fill_between(x, lo, hi, color=s["color"], alpha=0.15, linewidth=0)
        else:  # a band needs two sizes: show the IQR as an error bar instead
            ax.errorbar(x, y, yerr=[y - lo, hi - y], color=s["color"], capsize=4, linestyle="none")
    return dropped


def figure_legend(fig: Figure, axes: Iterable[Axes], title: str | None = None) -> None:
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if not handles:
        return
    ordered = label_order(k for k in handles if k != REFERENCE_LABEL)
    if REFERENCE_LABEL in handles:
        ordered.append(REFERENCE_LABEL)
    # As many columns as fit the figure's width (about 0.075 in per character at 9 pt, plus the handle).
    column_inches = 0.075 * max(len(x) for x in ordered) + 0.7
    ncol = max(1, min(len(ordered), 4, int(fig.get_figwidth() // column_inches)))
    fig.legend(
        [handles[k] for k in ordered],
        ordered,
        loc="outside lower center",
        ncol=ncol,
        fontsize=9,
        title=title,
        title_fontsize=9,
        frameon=False,
    )


REFERENCE_LABEL = "exact optimum (ratio 1, the reference)"


def seeds_phrase(stats: pd.DataFrame) -> str:
    """'3 seeds' or '2–3 seeds' per plotted point, from cell statistics."""
    if stats.empty or "n_seeds" not in stats.columns:
        return "seeds"
    lo, hi = int(stats["n_seeds"].min()), int(stats["n_seeds"].max())
    return f"{lo} seed{'s' if hi > 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"


def families_of(*frames: pd.DataFrame) -> list[str]:
    names: set[str] = set()
    for frame in frames:
        if "family" in frame.columns:
            names.update(str(x) for x in frame["family"].dropna().unique())
    return sorted(names)


def family_title(family: str) -> str:
    return family.replace("maxcut_", "MaxCut ").replace("_", "-")
