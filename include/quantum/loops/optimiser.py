"""The budgeted, resumable optimiser loop, once for every variational workload (QAOA, the VQC).

Every evaluation costs a quantum job, may wait in a provider's queue, and may be interrupted by a
deferral or a killed process. SciPy's optimisers cannot be suspended, but they are deterministic:
given the same start and the same function values they ask for the same points. So the loop is
*replayed* — ``drive`` runs SciPy from the start, answers the evaluations already recorded from
the record (checking that SciPy asks for the recorded point), and hands the first new point to the
caller's ``evaluate``, which either computes it (a held loop: SciPy runs on) or raises
``Suspend`` (a deferred loop: the task defers, and the next task replays up to here again).
Replaying costs SciPy's own bookkeeping only (microseconds per evaluation), and nothing is
resubmitted: recorded evaluations are never evaluated again. docs/architecture.md says why
replay was chosen over an ask/tell optimiser.

SciPy's iteration limits are only hints (COBYLA raises ``maxiter`` below n+2, Powell's line
searches overshoot ``maxfev``), so the budget is enforced here: past ``budget`` evaluations the
objective raises ``BudgetSpent``. SciPy gets one fixed, large limit, so the points it asks for do
not depend on the budget — a loop continued with a larger budget (``resume_from``) follows the same
trajectory as one that was given that budget from the start.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence

import numpy as np

# The derivative-free optimisers a sampled (shot-noisy) objective can use.
OPTIMISERS: tuple[str, ...] = ("COBYLA", "Nelder-Mead", "Powell")
SCIPY_LIMIT = 1_000_000  # never reached: the budget stops the loop first
REPLAY_TOLERANCE = 1e-9  # recorded points round-trip through JSON exactly; this only absorbs noise


class BudgetSpent(Exception):
    """Raised inside an objective to stop the optimiser at its evaluation budget."""


class Suspend(Exception):
    """Raised by ``evaluate`` to leave the optimiser at a new point (the loop defers here)."""

    def __init__(self, theta: np.ndarray) -> None:
        super().__init__("suspended at a new evaluation")
        self.theta = theta


class ReplayDiverged(RuntimeError):
    """The optimiser asked for another point than the record holds: the record is not this loop's."""


def check_optimiser(name: str, field: str = "optimiser") -> str | None:
    """None if ``name`` is a supported optimiser, else the message naming the field and the choices."""
    if name in OPTIMISERS:
        return None
    return f"{field}={name!r} is not one of {OPTIMISERS}"


def drive(
    start: Sequence[float] | np.ndarray,
    recorded: Sequence[tuple[Sequence[float], float]],
    evaluate: Callable[[np.ndarray], float],
    *,
    method: str,
    budget: int,
    rhobeg: float | None = None,
) -> bool:
    """Run ``method`` from ``start``: the first ``len(recorded)`` evaluations are answered from
    ``recorded`` ((point, value) pairs, in order), the rest by ``evaluate`` until ``budget``
    evaluations exist or SciPy converges. Returns True when the loop is finished (converged or
    budget spent), False when ``evaluate`` suspended it (raise ``Suspend``)."""
    from scipy.optimize import minimize

    if len(recorded) >= budget:
        return True
    done = 0

    def objective(theta: np.ndarray) -> float:
        nonlocal done
        if done < len(recorded):
            point, value = recorded[done]
            if not np.allclose(theta, point, rtol=0.0, atol=REPLAY_TOLERANCE):
                raise ReplayDiverged(
                    f"evaluation {done}: the optimiser asks for {np.asarray(theta).tolist()} but the checkpoint "
                    f"holds {list(point)}; the checkpoint was written by a different loop (optimiser, start "
                    "point or values) — clear it or start a new run"
                )
            done += 1
            return float(value)
        if done >= budget:
            raise BudgetSpent
        value = evaluate(np.asarray(theta, dtype=float).copy())
        done += 1
        return float(value)

    options: dict[str, float | int] = {"maxiter": SCIPY_LIMIT} if method == "COBYLA" else {"maxfev": SCIPY_LIMIT}
    if method == "Nelder-Mead":
        options["maxiter"] = SCIPY_LIMIT
    if method == "COBYLA" and rhobeg is not None:
        options["rhobeg"] = rhobeg
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.filterwarnings("ignore", message=".*Invalid MAXFUN.*")
            minimize(objective, np.asarray(start, dtype=float), method=method, options=options)
    except BudgetSpent:
        return True
    except Suspend:
        return False
    return True


def minimise_within_budget(
    objective: Callable[[np.ndarray], float],
    start: Sequence[float] | np.ndarray,
    *,
    method: str,
    budget: int,
    spent: Callable[[], int],
    rhobeg: float | None = None,
) -> None:
    """Run SciPy's ``method`` from ``start`` until it converges or ``spent()`` reaches ``budget``
    (a held loop with nothing recorded: ``drive`` with every evaluation computed)."""
    remaining = budget - spent()
    if remaining <= 0:
        return
    with contextlib.suppress(BudgetSpent):
        drive(start, [], objective, method=method, budget=remaining, rhobeg=rhobeg)
