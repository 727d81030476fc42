"""Exact (noise-free, shot-free) QAOA expectation for MaxCut, and good angles found with it.

Pure numpy/scipy: no Qiskit and no Airflow at runtime. The state is a complex128 vector of
length 2**n indexed like Qiskit (little-endian: bit i of index k, ``k >> i & 1``, is qubit i,
which is node i).

Convention (the same circuit ``include.quantum.circuits.qaoa.qaoa_ansatz(maxcut_ising(edges, n)[0], p)`` builds):
start in |+>^n, then per layer ``exp(-i γ_l H)`` with ``H = Σ w/2 Z_u Z_v = offset - C`` (one
``RZZ(w γ_l) = exp(-i w γ_l/2 Z⊗Z)`` per edge), then ``RX(2 β_l) = exp(-i β_l X)`` on every qubit.
Up to a global phase the cost layer is ``exp(+i γ C)``. Parameters are ``[γ_0..γ_{p-1}, β_0..β_{p-1}]``.

Careful when binding these into the Qiskit circuit: ``qaoa_ansatz(...).parameters`` is sorted by
name, and "β" sorts before "γ", so positional binding expects ``[β..., γ...]``. Bind by name (or
reorder) — see ``tests/include/quantum/loops/test_qaoa_angles.py`` and ``bench/qaoa_quality.py``.

Symmetries used by the p=1 grid (all exact; checked in the tests):

* β has period π/2 in every layer, for every graph: ``exp(-i(β+π/2)X)^{⊗n} = (-i)^n X^{⊗n} exp(-iβX)^{⊗n}``
  and X^{⊗n} commutes with C (a cut is unchanged by flipping every node) and fixes |+>^n.
* Time reversal: ``F(-γ, -β) = F(γ, β)`` (complex conjugation; C is real), so γ >= 0 suffices.
* γ: if every weight is an integer multiple of a unit q (unit weights: q = 1), ``exp(iγC)`` has
  period 2π/q, so γ ∈ [0, π/q] (with time reversal). Further, ``exp(iπC/q) = Π_i Z_i^{d_i}`` with
  d_i = Σ_{e∋i} w_e/q. If every d_i is even, γ has period π/q; if every d_i is odd (e.g. unit-weight
  3-regular graphs), ``F(γ + π/q, β) = F(γ, -β)`` — NOT a period — and either way γ ∈ [0, π/(2q)]
  covers every value. Mixed parities: γ ∈ [0, π/q]. So "γ has period π for unit weights" holds only
  for even-degree graphs.
* Weights with no small common unit (e.g. random real weights) have no period in γ: the grid then
  covers the heuristic window γ ∈ [0, π / mean|w|] (for unit weights this is the exact window above).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.quantum.loops.optimiser import BudgetSpent

MAX_NODES = 22
_GROUP = 5  # qubits per mixer block: one (32 x 32) matrix product per block instead of 5 passes
_MAX_UNIT_MULTIPLE = 64  # weights count as commensurate if all are k*q with integer k <= this
_MIN_EVALUATIONS = 20


class AngleError(ValueError):
    """Bad input to the angle finder; the message names the field and the fix."""


@dataclass(frozen=True)
class AngleResult:
    reps: int
    parameters: list[float]  # γs then βs
    expected_cut: float
    evaluations: int  # expectation evaluations spent (this reps level only)
    trace: list[float]  # expected cut at each evaluation, in order
    seconds: float


# --------------------------------------------------------------------------------------- input


def _edge_arrays(edges: pd.DataFrame, n_nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer):
        raise AngleError(f"n_nodes={n_nodes!r} must be an integer number of nodes")
    if n_nodes < 2:
        raise AngleError(f"n_nodes={n_nodes}: a cut needs at least 2 nodes; set n_nodes >= 2")
    if n_nodes > MAX_NODES:
        raise AngleError(
            f"n_nodes={n_nodes}: the exact statevector needs 2**n_nodes amplitudes; "
            f"use n_nodes <= {MAX_NODES} (or the sampled loop include.quantum.loops.qaoa.optimise_qaoa)"
        )
    if not isinstance(edges, pd.DataFrame):
        raise AngleError(f"edges is a {type(edges).__name__}; pass an edge-list DataFrame with columns u, v, weight")
    missing = [c for c in ("u", "v", "weight") if c not in edges.columns]
    if missing:
        raise AngleError(f"edges is missing column(s) {missing}; it needs columns u, v, weight")
    if len(edges) == 0:
        raise AngleError("edges is empty: a graph with no edges has nothing to cut; pass at least one edge")
    try:
        u = edges["u"].to_numpy(dtype=np.float64)
        v = edges["v"].to_numpy(dtype=np.float64)
        w = edges["weight"].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AngleError(f"edges columns u, v, weight must be numeric ({exc})") from exc
    for name, ids in (("u", u), ("v", v)):
        if not np.all(np.isfinite(ids)) or np.any(ids % 1 != 0):
            raise AngleError(
                f"edges column {name!r} has missing or non-integer node ids; node ids must be whole numbers"
            )
        if ids.min() < 0 or ids.max() >= n_nodes:
            raise AngleError(
                f"edges column {name!r} has node ids outside [0, n_nodes={n_nodes}); fix the ids or raise n_nodes"
            )
    if np.any(u == v):
        raise AngleError("edges has a self-loop (u == v); a self-loop is never cut, drop it")
    if not np.all(np.isfinite(w)):
        raise AngleError("edges column 'weight' has NaN or infinite values; weights must be finite numbers")
    return u.astype(np.int64), v.astype(np.int64), w


def _check_reps(reps: int, field: str = "reps") -> None:
    if isinstance(reps, bool) or not isinstance(reps, int | np.integer) or reps < 1:
        raise AngleError(f"{field}={reps!r}: QAOA needs at least one layer; set {field} to an integer >= 1")


# ------------------------------------------------------------------------------------- physics


def cut_diagonal(edges: pd.DataFrame, n_nodes: int) -> np.ndarray:
    """Cut value of every computational-basis state (float64, length 2**n_nodes); bit i of the
    index (``k >> i & 1``) is node i's side, as in Qiskit's little-endian bitstrings."""
    u, v, w = _edge_arrays(edges, n_nodes)
    index = np.arange(1 << n_nodes, dtype=np.uint32)
    cut = np.zeros(1 << n_nodes, dtype=np.float64)
    crossing = np.empty(1 << n_nodes, dtype=np.uint32)
    for a, b, weight in zip(u.tolist(), v.tolist(), w.tolist(), strict=True):
        np.right_shift(index, a, out=crossing)
        crossing ^= index >> b
        crossing &= 1
        cut += weight * crossing
    return cut


class _Simulator:
    """Exact p-layer QAOA expectation for one cut diagonal (phase levels cached)."""

    def __init__(self, cut_diag: np.ndarray, *, distinct_levels: bool = True) -> None:
        cut = np.asarray(cut_diag, dtype=np.float64)
        size = cut.size
        n = size.bit_length() - 1
        if cut.ndim != 1 or size < 2 or size != 1 << n:
            raise AngleError(f"cut_diag has shape {cut.shape}; it must be a 1-D array of length 2**n_nodes (n >= 1)")
        if n > MAX_NODES:
            raise AngleError(f"cut_diag has 2**{n} entries; use n_nodes <= {MAX_NODES}")
        if not np.all(np.isfinite(cut)):
            raise AngleError("cut_diag has NaN or infinite entries; rebuild it with cut_diagonal(edges, n_nodes)")
        self.cut = cut
        self.n = n
        # exp(iγC) takes one value per distinct cut: compute those few exponentials and gather.
        self.levels: np.ndarray | None = None
        self.level_index: np.ndarray | None = None
        rounded = np.rint(cut)
        if np.array_equal(rounded, cut) and rounded.max() - rounded.min() < size:
            low = float(rounded.min())
            self.levels = np.arange(low, float(rounded.max()) + 1.0)
            self.level_index = (rounded - low).astype(np.int32)
        elif distinct_levels:
            levels, inverse = np.unique(cut, return_inverse=True)
            if levels.size <= size // 8:
                self.levels, self.level_index = levels, inverse.astype(np.int32).reshape(-1)
        sizes = [len(block) for block in np.array_split(np.arange(n), math.ceil(n / _GROUP))]
        self.blocks: list[tuple[int, int]] = []  # (lowest qubit, width)
        low_qubit = 0
        for width in sizes:
            self.blocks.append((low_qubit, width))
            low_qubit += width

    def _phase(self, gamma: float) -> np.ndarray:
        if self.levels is not None and self.level_index is not None:
            phases: np.ndarray = np.exp(1j * gamma * self.levels)[self.level_index]
            return phases
        direct: np.ndarray = np.exp(1j * gamma * self.cut)
        return direct

    def _mix(self, psi: np.ndarray, beta: float) -> np.ndarray:
        c, s = math.cos(beta), math.sin(beta)
        rx = np.array([[c, -1j * s], [-1j * s, c]])  # RX(2β) = exp(-iβX); symmetric, so are its powers
        matrices: dict[int, np.ndarray] = {}
        for low_qubit, width in self.blocks:
            if width not in matrices:
                m = np.ones((1, 1), dtype=np.complex128)
                for _ in range(width):
                    m = np.kron(m, rx)
                matrices[width] = m
            m = matrices[width]
            if low_qubit == 0:
                psi = psi.reshape(-1, 1 << width) @ m
            elif low_qubit + width == self.n:
                psi = m @ psi.reshape(1 << width, -1)
            else:
                psi = np.matmul(m, psi.reshape(-1, 1 << width, 1 << low_qubit))
        return psi.reshape(-1)

    def state(self, parameters: Sequence[float] | np.ndarray) -> np.ndarray:
        theta = np.asarray(parameters, dtype=np.float64).reshape(-1)
        if theta.size < 2 or theta.size % 2:
            raise AngleError(
                f"parameters has {theta.size} values; a p-layer QAOA needs 2p (γ_0..γ_(p-1) then β_0..β_(p-1)), p >= 1"
            )
        if not np.all(np.isfinite(theta)):
            raise AngleError("parameters has NaN or infinite values; pass finite angles")
        p = theta.size // 2
        psi = self._phase(float(theta[0])) * (1.0 / math.sqrt(self.cut.size))
        psi = self._mix(psi, float(theta[p]))
        for layer in range(1, p):
            psi *= self._phase(float(theta[layer]))
            psi = self._mix(psi, float(theta[p + layer]))
        return psi

    def expected_cut(self, parameters: Sequence[float] | np.ndarray) -> float:
        psi = self.state(parameters)
        probabilities = psi.real**2 + psi.imag**2
        return float(probabilities @ self.cut)


def qaoa_expected_cut(cut_diag: np.ndarray, parameters: Sequence[float] | np.ndarray) -> float:
    """<C> of the p-layer QAOA state at ``[γ_0..γ_(p-1), β_0..β_(p-1)]`` (qaoa_ansatz's gates and
    signs; bind by name, see the module docstring), exactly, from ``cut_diagonal(...)``."""
    return _Simulator(cut_diag, distinct_levels=False).expected_cut(parameters)


def in_circuit_order(parameters: Sequence[float] | np.ndarray, names: Sequence[str]) -> list[float]:
    """``parameters`` ([γ..., β...]) reordered to match parameter ``names`` such as
    ``[p.name for p in qaoa_ansatz(...).parameters]`` (which Qiskit sorts as β[0..], γ[0..]), for
    positional binding (SamplerPub rows, ``assign_parameters(list)``)."""
    theta = [float(x) for x in parameters]
    p = len(theta) // 2
    if len(theta) != 2 * p or len(names) != len(theta):
        raise AngleError(f"parameters has {len(theta)} values for {len(names)} circuit parameters; they must match")
    by_name = {f"γ[{i}]": theta[i] for i in range(p)} | {f"β[{i}]": theta[p + i] for i in range(p)}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise AngleError(f"circuit parameter names {unknown} are not QAOA's γ[i]/β[i]; build it with qaoa_ansatz")
    return [by_name[name] for name in names]


# ------------------------------------------------------------------------------------ optimiser


class _Counter:
    """The objective the optimisers see: counts evaluations, records the trace, keeps the best."""

    def __init__(self, simulator: _Simulator, budget: int) -> None:
        self.simulator = simulator
        self.budget = budget
        self.trace: list[float] = []
        self.best_value = -math.inf
        self.best_point: np.ndarray | None = None

    def value(self, theta: np.ndarray) -> float:
        if len(self.trace) >= self.budget:
            raise BudgetSpent
        value = self.simulator.expected_cut(theta)
        self.trace.append(value)
        if value > self.best_value:
            self.best_value, self.best_point = value, np.array(theta, dtype=np.float64)
        return value

    def remaining(self) -> int:
        return self.budget - len(self.trace)


def _gamma_window(u: np.ndarray, v: np.ndarray, w: np.ndarray, n_nodes: int) -> float:
    """Upper end of the γ grid (lower end 0); see the module docstring for why it suffices."""
    magnitudes = np.abs(w[w != 0])
    if magnitudes.size == 0:
        return math.pi
    unit = float(magnitudes.min())
    multiples = w / unit
    if np.allclose(multiples, np.rint(multiples), rtol=0, atol=1e-9) and np.abs(multiples).max() <= _MAX_UNIT_MULTIPLE:
        k = np.rint(multiples).astype(np.int64)
        degree = np.zeros(n_nodes, dtype=np.int64)
        np.add.at(degree, u, k)
        np.add.at(degree, v, k)
        parity = degree % 2
        if np.all(parity == 0) or np.all(parity == 1):
            return math.pi / (2 * unit)
        return math.pi / unit
    return math.pi / float(magnitudes.mean())


def _wrap_betas(theta: np.ndarray, reps: int) -> np.ndarray:
    """Each β modulo its exact period π/2, into [-π/4, π/4) (the value is unchanged)."""
    out = np.array(theta, dtype=np.float64)
    out[reps:] = (out[reps:] + math.pi / 4) % (math.pi / 2) - math.pi / 4
    return out


def _refine(objective: _Counter, start: np.ndarray, budget: int, step: float) -> None:
    """L-BFGS-B with forward-difference gradients (every call counted) from ``start``."""
    from scipy.optimize import minimize

    if budget <= 0:
        return
    stop_at = len(objective.trace) + budget

    def negative(theta: np.ndarray) -> float:
        if len(objective.trace) >= stop_at:
            raise BudgetSpent
        return -objective.value(theta)

    with contextlib.suppress(BudgetSpent):
        minimize(
            negative,
            start,
            method="L-BFGS-B",
            options={"maxfun": budget, "ftol": 1e-12, "gtol": 1e-7, "eps": 1e-7 * max(step, 1e-3)},
        )


def _grid_p1(objective: _Counter, window: float, points: int) -> list[np.ndarray]:
    """Evaluate a cell-centred (γ, β) grid over γ ∈ [0, window], β ∈ [-π/4, π/4); return the grid's
    local maxima (β wraps), best first."""
    beta_span = math.pi / 2
    n_beta = max(3, round(math.sqrt(points * beta_span / window)))
    n_gamma = max(3, points // n_beta)
    gammas = (np.arange(n_gamma) + 0.5) * window / n_gamma
    betas = -math.pi / 4 + (np.arange(n_beta) + 0.5) * beta_span / n_beta
    values = np.full((n_gamma, n_beta), -math.inf)
    for i, gamma in enumerate(gammas):
        for j, beta in enumerate(betas):
            values[i, j] = objective.value(np.array([gamma, beta]))
    peaks = []
    for i in range(n_gamma):
        for j in range(n_beta):
            neighbours = [values[i, (j - 1) % n_beta], values[i, (j + 1) % n_beta]]
            neighbours += [values[i - 1, j]] if i > 0 else []
            neighbours += [values[i + 1, j]] if i + 1 < n_gamma else []
            if values[i, j] >= max(neighbours):
                peaks.append((values[i, j], i, j))
    peaks.sort(key=lambda t: -t[0])
    return [np.array([gammas[i], betas[j]]) for _, i, j in peaks]


def interp_start(previous: Sequence[float] | np.ndarray) -> np.ndarray:
    """INTERP (Zhou et al. 2020, PRX 10, 021067, eq. B1): the (p+1)-layer start from the p-layer
    optimum, linearly interpolating γ and β separately:
    ``x'_i = (i-1)/p x_{i-1} + (p-i+1)/p x_i`` for i = 1..p+1 (1-based), with x_0 = x_{p+1} = 0."""
    theta = np.asarray(previous, dtype=np.float64)
    p = theta.size // 2

    def stretch(x: np.ndarray) -> np.ndarray:
        padded = np.concatenate([[0.0], x, [0.0]])
        i = np.arange(1, p + 2)
        out: np.ndarray = (i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i]
        return out

    return np.concatenate([stretch(theta[:p]), stretch(theta[p:])])


def _optimise(
    simulator: _Simulator,
    window: float,
    reps: int,
    start: np.ndarray | None,
    max_evaluations: int,
) -> AngleResult:
    started = time.perf_counter()
    objective = _Counter(simulator, max_evaluations)
    with contextlib.suppress(BudgetSpent):
        if reps == 1:
            grid_points = max(9, max_evaluations // 3)
            peaks = _grid_p1(objective, window, min(grid_points, max_evaluations))
            step = window / math.sqrt(grid_points)
            # Refine the best two grid peaks (the second only if budget remains), splitting what's left.
            for rank, peak in enumerate(peaks[:2]):
                share = objective.remaining() if rank == 1 else (objective.remaining() * 2) // 3
                _refine(objective, peak, share, step)
        else:
            assert start is not None
            objective.value(start)
            _refine(objective, start, objective.remaining(), 0.1)
    assert objective.best_point is not None
    best = _wrap_betas(objective.best_point, reps)
    return AngleResult(
        reps=reps,
        parameters=[float(x) for x in best],
        expected_cut=float(objective.best_value),
        evaluations=len(objective.trace),
        trace=list(objective.trace),
        seconds=time.perf_counter() - started,
    )


def _check_budget(max_evaluations: int) -> None:
    if isinstance(max_evaluations, bool) or not isinstance(max_evaluations, int | np.integer):
        raise AngleError(f"max_evaluations={max_evaluations!r} must be an integer")
    if max_evaluations < _MIN_EVALUATIONS:
        raise AngleError(
            f"max_evaluations={max_evaluations}: the grid and refinement need at least "
            f"{_MIN_EVALUATIONS} evaluations; set max_evaluations >= {_MIN_EVALUATIONS}"
        )


def _chain(
    edges: pd.DataFrame,
    n_nodes: int,
    top: int,
    max_evaluations: int,
    warm_start: AngleResult | None,
    on_level: Callable[[AngleResult], None] | None = None,
) -> AngleResult:
    u, v, w = _edge_arrays(edges, n_nodes)
    simulator = _Simulator(cut_diagonal(edges, n_nodes))
    window = _gamma_window(u, v, w, n_nodes)
    result = warm_start
    first = 1 if warm_start is None else top
    for reps in range(first, top + 1):
        start = None if result is None else interp_start(result.parameters)
        result = _optimise(simulator, window, reps, start, max_evaluations)
        if on_level is not None:
            on_level(result)
    assert result is not None
    return result


def optimal_angles(
    edges: pd.DataFrame,
    n_nodes: int,
    reps: int,
    *,
    warm_start: AngleResult | None = None,
    max_evaluations: int = 400,
) -> AngleResult:
    """Good (for p=1: globally optimal to grid resolution) QAOA angles by exact expectation.

    reps=1: a cell-centred grid over γ ∈ [0, window] x β ∈ [-π/4, π/4) (about a third of the
    budget; the window follows the symmetries in the module docstring), then L-BFGS-B with
    forward-difference gradients from the best grid peaks. reps>1: INTERP start from
    ``warm_start`` (a reps-1 result) or, without one, from the chain 1..reps-1 computed here
    (those levels' evaluations are not counted in the result), then L-BFGS-B. Deterministic.
    """
    _check_reps(reps)
    _check_budget(max_evaluations)
    if warm_start is not None:
        if reps == 1:
            raise AngleError("warm_start is for reps >= 2 (INTERP from reps-1); pass warm_start=None for reps=1")
        if warm_start.reps != reps - 1 or len(warm_start.parameters) != 2 * warm_start.reps:
            raise AngleError(
                f"warm_start has reps={warm_start.reps} with {len(warm_start.parameters)} parameters; "
                f"for reps={reps} pass the reps={reps - 1} result (2*{reps - 1} parameters)"
            )
    return _chain(edges, n_nodes, reps, max_evaluations, warm_start)


def angle_schedule(
    edges: pd.DataFrame,
    n_nodes: int,
    reps_list: Sequence[int],
    *,
    max_evaluations: int = 400,
) -> dict[int, AngleResult]:
    """Every requested reps, computed along one INTERP chain 1..max(reps_list), each level
    warm-started from the one below and given its own ``max_evaluations``."""
    if len(reps_list) == 0:
        raise AngleError("reps_list is empty; pass the layer counts wanted, e.g. [1, 2, 3]")
    for reps in reps_list:
        _check_reps(reps, "reps_list entry")
    _check_budget(max_evaluations)
    wanted = set(int(r) for r in reps_list)
    found: dict[int, AngleResult] = {}

    def keep(result: AngleResult) -> None:
        if result.reps in wanted:
            found[result.reps] = result

    _chain(edges, n_nodes, max(wanted), max_evaluations, None, keep)
    return {r: found[r] for r in sorted(wanted)}
