"""MaxCut problems: seeded graphs as canonical edge lists, cut values, and the Ising Hamiltonian.

A graph is an edge-list frame with columns ``u < v`` (int64 node ids in ``[0, n_nodes)``) and
``weight`` (float64), rows sorted by (u, v), plus its declared node count. Canonical orientation
makes duplicate edges and self-loops visible to validation (a self-loop is ``u == v``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # Qiskit loads only when a Hamiltonian is built: graphs and cuts stay light
    from qiskit.quantum_info import SparsePauliOp

GraphKind = Literal["regular", "erdos_renyi", "complete"]
WeightKind = Literal["unit", "uniform"]
GRAPH_KINDS: tuple[str, ...] = ("regular", "erdos_renyi", "complete")
WEIGHT_KINDS: tuple[str, ...] = ("unit", "uniform")
EDGE_COLUMNS = ["u", "v", "weight"]


class ProblemSpecError(ValueError):
    """A problem parameter is out of range; the message names the field and the fix."""


@dataclass(frozen=True)
class GraphSpec:
    n_nodes: int
    kind: str = "regular"
    degree: int = 3
    weights: str = "unit"
    seed: int = 7

    def check(self) -> None:
        if self.kind not in GRAPH_KINDS:
            raise ProblemSpecError(f"graph_kind={self.kind!r} is not one of {GRAPH_KINDS}")
        if self.weights not in WEIGHT_KINDS:
            raise ProblemSpecError(f"weights={self.weights!r} is not one of {WEIGHT_KINDS}")
        if self.n_nodes < 2:
            raise ProblemSpecError(f"n_nodes={self.n_nodes}: a cut needs at least 2 nodes; set n_nodes >= 2")
        if self.kind != "complete" and not 1 <= self.degree < self.n_nodes:
            raise ProblemSpecError(f"degree={self.degree} must be between 1 and n_nodes-1={self.n_nodes - 1}")
        if self.kind == "regular" and (self.n_nodes * self.degree) % 2:
            raise ProblemSpecError(
                f"a {self.degree}-regular graph on n_nodes={self.n_nodes} does not exist "
                "(n_nodes * degree must be even); change n_nodes or degree"
            )


def canonical_edges(edges: pd.DataFrame) -> pd.DataFrame:
    """Orient every edge as u <= v, fix dtypes and column order, sort rows by (u, v).

    Raises ProblemSpecError naming a missing column or a non-numeric one; value problems
    (NaN, infinities, self-loops, ids out of range) are left for validation to report.
    """
    missing = [c for c in EDGE_COLUMNS if c not in edges.columns]
    if missing:
        raise ProblemSpecError(
            f"edge list is missing column(s) {missing}; it needs columns {EDGE_COLUMNS} "
            "(node ids u, v and a numeric weight)"
        )
    out = edges[EDGE_COLUMNS].copy()
    for col in ("u", "v"):
        values = out[col]
        # Whole-number floats (e.g. from a CSV round trip, or an empty column) are accepted.
        whole = pd.api.types.is_numeric_dtype(values) and bool(
            values.notna().all() and (values.astype("float64") % 1 == 0).all()
        )
        if not pd.api.types.is_integer_dtype(values) and not whole:
            raise ProblemSpecError(
                f"edge list column {col!r} has dtype {values.dtype} with non-integer or missing values; "
                "node ids must be whole numbers"
            )
    if not pd.api.types.is_numeric_dtype(out["weight"]):
        raise ProblemSpecError(f"edge list column 'weight' has dtype {out['weight'].dtype}; weights must be numbers")
    u = out["u"].astype("int64").to_numpy()
    v = out["v"].astype("int64").to_numpy()
    out = pd.DataFrame(
        {"u": np.minimum(u, v), "v": np.maximum(u, v), "weight": out["weight"].astype("float64").to_numpy()}
    )
    return out.sort_values(["u", "v"], kind="mergesort").reset_index(drop=True)


def make_graph(spec: GraphSpec) -> pd.DataFrame:
    """A seeded random graph as a canonical edge list (same spec, same edges)."""
    import networkx as nx

    spec.check()
    if spec.kind == "regular":
        graph = nx.random_regular_graph(spec.degree, spec.n_nodes, seed=spec.seed)
    elif spec.kind == "erdos_renyi":
        graph = nx.gnp_random_graph(spec.n_nodes, spec.degree / (spec.n_nodes - 1), seed=spec.seed)
    else:
        graph = nx.complete_graph(spec.n_nodes)
    pairs = sorted((min(a, b), max(a, b)) for a, b in graph.edges())
    rng = np.random.default_rng(spec.seed)
    weights = np.ones(len(pairs)) if spec.weights == "unit" else rng.uniform(0.1, 1.0, len(pairs)).round(6)
    frame = pd.DataFrame(
        {
            "u": np.array([p[0] for p in pairs], dtype="int64"),
            "v": np.array([p[1] for p in pairs], dtype="int64"),
            "weight": weights.astype("float64"),
        }
    )
    return canonical_edges(frame)


def edge_arrays(edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        edges["u"].to_numpy(dtype=np.int64),
        edges["v"].to_numpy(dtype=np.int64),
        edges["weight"].to_numpy(dtype=np.float64),
    )


def cut_values(bits: np.ndarray, edges: pd.DataFrame) -> np.ndarray:
    """Cut value of each assignment; ``bits`` is (k, n_nodes) of 0/1 (or one row of n_nodes)."""
    u, v, w = edge_arrays(edges)
    matrix = np.atleast_2d(np.asarray(bits, dtype=np.int8))
    crossing = matrix[:, u] != matrix[:, v]
    values: np.ndarray = crossing.astype(np.float64) @ w
    return values


def cut_value(bits: np.ndarray, edges: pd.DataFrame) -> float:
    return float(cut_values(bits, edges)[0])


@dataclass(frozen=True, eq=False)
class CutStatistics:
    """What a measured distribution says about a MaxCut instance."""

    expected_cut: float  # the mean cut over the shots: the distribution's quality
    best_bitstring: str
    best_cut: float  # the best single sample
    bitstrings: list[str]  # the distinct outcomes, sorted
    counts: np.ndarray  # how often each was measured
    cuts: np.ndarray  # each one's cut value


def cut_statistics(counts: Mapping[str, int], edges: pd.DataFrame) -> CutStatistics:
    """Expected and best cut of measured ``counts`` ({bitstring: count}); the one counts -> cuts path."""
    keys = sorted(counts)
    bits = np.array([bitstring_to_bits(k) for k in keys])
    weights = np.array([counts[k] for k in keys], dtype=np.float64)
    cuts = cut_values(bits, edges)
    best = int(np.argmax(cuts))
    return CutStatistics(float(cuts @ weights / weights.sum()), keys[best], float(cuts[best]), keys, weights, cuts)


def bitstring_to_bits(bitstring: str) -> np.ndarray:
    """Qiskit's bitstrings are little-endian: the rightmost character is qubit (node) 0."""
    return np.array([int(ch) for ch in reversed(bitstring)], dtype=np.int8)


def bits_to_bitstring(bits: np.ndarray) -> str:
    return "".join(str(int(b)) for b in reversed(bits))


def maxcut_ising(edges: pd.DataFrame, n_nodes: int) -> tuple[SparsePauliOp, float]:
    """MaxCut as an Ising cost Hamiltonian ``H = sum w/2 Z_u Z_v`` and its offset.

    For every assignment x (z = 1 - 2x): ``cut(x) = offset - <x|H|x>`` with ``offset = sum w / 2``,
    so minimising the energy maximises the cut.
    """
    from qiskit.quantum_info import SparsePauliOp

    u, v, w = edge_arrays(edges)
    terms = [("ZZ", [int(a), int(b)], float(weight) / 2.0) for a, b, weight in zip(u, v, w, strict=True)]
    if not terms:
        return SparsePauliOp("I" * n_nodes, coeffs=[0.0]), 0.0
    return SparsePauliOp.from_sparse_list(terms, num_qubits=n_nodes).simplify(), float(w.sum()) / 2.0


def ising_energies(bits: np.ndarray, cost: SparsePauliOp) -> np.ndarray:
    """Diagonal energy of each computational-basis assignment under a Z-only Hamiltonian."""
    matrix = np.atleast_2d(np.asarray(bits, dtype=np.int8))
    spins = 1 - 2 * matrix.astype(np.int64)  # Z eigenvalue: +1 for bit 0, -1 for bit 1
    energies = np.zeros(matrix.shape[0])
    for label, coeff in zip(cost.paulis.to_labels(), cost.coeffs, strict=True):
        qubits = [len(label) - 1 - i for i, ch in enumerate(label) if ch == "Z"]
        if any(ch not in "IZ" for ch in label):
            raise ProblemSpecError(f"Pauli term {label} is not diagonal; MaxCut costs use only I and Z")
        energies += float(np.real(coeff)) * np.prod(spins[:, qubits], axis=1) if qubits else float(np.real(coeff))
    return energies
