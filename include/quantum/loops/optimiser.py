"""The budgeted optimiser loop, once for every variational workload (QAOA, the VQC, the angle finder).

SciPy's optimisers take an iteration *hint*, not a hard limit (COBYLA raises a ``maxiter`` below
n+2, Powell's line searches overshoot ``maxfev``), and every evaluation here costs a quantum job.
So the objective is wrapped: once the evaluation budget is spent it raises ``BudgetSpent``, which
``minimise_within_budget`` catches — the loop never runs one evaluation more than it may pay for.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence

import numpy as np

# The derivative-free optimisers a sampled (shot-noisy) objective can use.
OPTIMISERS: tuple[str, ...] = ("COBYLA", "Nelder-Mead", "Powell")


class BudgetSpent(Exception):
    """Raised inside an objective to stop the optimiser at its evaluation budget."""


def check_optimiser(name: str, field: str = "optimiser") -> str | None:
    """None if ``name`` is a supported optimiser, else the message naming the field and the choices."""
    if name in OPTIMISERS:
        return None
    return f"{field}={name!r} is not one of {OPTIMISERS}"


def budgeted(objective: Callable[[np.ndarray], float], spent: Callable[[], int], budget: int) -> Callable[..., float]:
    """``objective`` that raises BudgetSpent once ``spent()`` evaluations reach ``budget``."""

    def wrapped(theta: np.ndarray) -> float:
        if spent() >= budget:
            raise BudgetSpent
        return objective(theta)

    return wrapped


def minimise_within_budget(
    objective: Callable[[np.ndarray], float],
    start: Sequence[float] | np.ndarray,
    *,
    method: str,
    budget: int,
    spent: Callable[[], int],
    rhobeg: float | None = None,
) -> None:
    """Run SciPy's ``method`` from ``start`` until it converges or ``spent()`` reaches ``budget``.

    The caller's objective records what it evaluates (trace, checkpoint); nothing is returned
    because the budget may stop SciPy before it reports a result."""
    from scipy.optimize import minimize

    remaining = budget - spent()
    if remaining <= 0:
        return
    options: dict[str, float | int] = {"maxiter": remaining} if method == "COBYLA" else {"maxfev": remaining}
    if method == "COBYLA" and rhobeg is not None:
        options["rhobeg"] = rhobeg
    with contextlib.suppress(BudgetSpent), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # COBYLA's "maxiter < n+2" notice
        warnings.filterwarnings("ignore", message=".*Invalid MAXFUN.*")
        minimize(budgeted(objective, spent, budget), np.asarray(start, dtype=float), method=method, options=options)
