"""Labels for plots and tables: QAOA by configuration, classical methods by name, in one order."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from include.problems.baselines import HEURISTICS

QAOA = "qaoa"
EXACT = "exact"


def method_labels(frame: pd.DataFrame, *, varying: pd.DataFrame | None = None) -> pd.Series:
    """A plot label per row: method + backend + noise for QAOA, with ``p=<reps>`` and
    ``<shots> shots`` when ``varying`` (default: ``frame``) has more than one value of them
    among its QAOA rows. Classical rows are labelled by the method alone."""
    reference = frame if varying is None else varying
    quantum = reference[reference["method"] == QAOA]
    show_reps = quantum["reps"].nunique() > 1
    show_shots = quantum["shots"].nunique() > 1

    def label(row: pd.Series) -> str:
        if row["method"] != QAOA:
            return str(row["method"])
        head = "qaoa"
        if show_reps:
            head += f" p={int(row['reps'])}"
        if show_shots:
            head += f" {int(row['shots'])} shots"
        return f"{head} · {row['backend']} · {row['noise']}"

    if frame.empty:
        return pd.Series([], index=frame.index, dtype="object")
    return frame.apply(label, axis=1).astype("object")


def label_order(labels: Iterable[str]) -> list[str]:
    """QAOA labels first (sorted), then classical methods in a fixed order."""
    classical_order = [EXACT, *HEURISTICS]
    unique = sorted(set(labels))
    quantum = [x for x in unique if x not in classical_order]
    return quantum + [x for x in classical_order if x in unique]
