"""Labels for plots and tables: QAOA by configuration, classical methods by name, in one order."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from include.problems.baselines import HEURISTICS, RANDOM_SAMPLING

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

    show_random_shots = reference.loc[reference["method"] == RANDOM_SAMPLING, "shots"].nunique() > 1

    def label(row: pd.Series) -> str:
        if row["method"] == RANDOM_SAMPLING and show_random_shots:
            return f"{RANDOM_SAMPLING} {int(row['shots'])} shots"
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
    random = [x for x in unique if x.startswith(RANDOM_SAMPLING)]
    quantum = [x for x in unique if x not in classical_order and x not in random]
    return quantum + [x for x in classical_order if x in unique] + random
