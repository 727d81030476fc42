"""The workloads a night sweeps beside MaxCut, each a data entry plus its functions.

A ``Workload`` says, for one kind of experiment: which instances the grid asks for
(``instance_specs``), how one is prepared once and reused across nights (``prepare``: its data,
validation and classical baselines, content-addressed under ``<root>/instances/<hash>/``), which
experiments each prepared instance has before a backend is chosen (``experiments``), the content
hash of what would run (``experiment_key``), which backends it cannot use and why
(``backend_skip``), how a batch of its experiments runs through the submission protocol
(``run_batch``: one stored result row per experiment, the tidy schema of
``include.benchmark.schema``), its classical baselines as result rows (``baseline_rows``) and its
section of the report (``report_section``: headline sentences and HTML, computed from the rows).

Entries: ``vqc_classifier`` (``vqc.py``) and ``portfolio_optimisation`` (``portfolio.py``).
The plan (``include.benchmark.plan``), the batches, the pools, collection and the report treat
every entry of ``WORKLOADS`` alike. MaxCut predates this interface: its functions are the
original ``instances`` / ``plan`` / ``batches`` / ``collect`` / ``report`` code, selected by the
name ``maxcut`` — it is not (yet) an entry. A new workload is its module (see ``vqc.py``) plus
its entry here, its Params in ``grid.SweepGrid`` and ``dags/nightly_benchmark.py``, and its name in
``grid.SWEEP_WORKLOADS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from include.benchmark.batches import BatchOutcome
    from include.benchmark.grid import SweepGrid
    from include.benchmark.plan import BackendIdentity
    from include.store.artifacts import ArtifactStore

MAXCUT = "maxcut"


@dataclass(frozen=True)
class Experiment:
    """One experiment of a prepared instance, before a backend and noise model are chosen."""

    n_qubits: int
    reps: int
    shots: int
    variant: str  # the configuration beyond reps (the classifier: its encoding)
    config: dict[str, Any] = field(default_factory=dict)  # JSON-safe: what run_batch needs
    estimated_cost: float = 1.0  # relative, noise-free; the plan multiplies noisy runs


@dataclass(frozen=True)
class ReportSection:
    """A workload's part of the night's report: headline sentences and an HTML fragment."""

    headline: list[str]
    html: str
    statistics: Any = None  # a DataFrame of the section's cells, or None


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    instance_specs: Callable[[SweepGrid], tuple[list[dict[str, Any]], list[dict[str, Any]]]]
    prepare: Callable[[ArtifactStore, Mapping[str, Any], SweepGrid], dict[str, Any]]
    experiments: Callable[[Mapping[str, Any], SweepGrid], list[Experiment]]
    experiment_key: Callable[[Mapping[str, Any], Experiment, BackendIdentity], str]
    backend_skip: Callable[[BackendIdentity], str]
    run_batch: Callable[..., BatchOutcome]
    baseline_rows: Callable[[Sequence[Mapping[str, Any]]], list[dict[str, Any]]]
    report_section: Callable[[pd.DataFrame], ReportSection]
    experiments_per_batch: int = 1


def in_process_only(identity: BackendIdentity, what: str, dag: str) -> str:
    """The skip reason of a workload whose experiment is a loop held in one batch task: only
    backends whose jobs live in the task's process hold it ("" where it can run)."""
    from include.quantum.backends.registry import backend_profile

    # The bare name when the identity has no spec (an unreachable job service): skipped all the same.
    if backend_profile(identity.spec or identity.backend).rules.durable_jobs:
        return (
            f"{what} (one job per evaluation) held in one batch task, so it runs on in-process backends only "
            f"(aer*, braket:local); run it on a queued provider with the {dag} DAG's loop_backend"
        )
    return ""


def section_fragment(
    *,
    anchor: str,
    title: str,
    note: str,
    headline: Sequence[str],
    nothing_title: str,
    nothing_items: str,
    nothing_empty: str,
    table_title: str,
    table: str,
) -> str:
    """A workload's report section as HTML: its title and note (``note`` is HTML), its headline
    sentences, where quantum adds nothing (``nothing_items``: ``<li>`` HTML; else ``nothing_empty``)
    and its per-configuration table (HTML)."""
    import html

    return "\n".join(
        [
            f"<h2 id='{html.escape(anchor)}'>{html.escape(title)}</h2>",
            f"<p class='note'>{note}</p>",
            "<ul class='headline'>" + "".join(f"<li>{html.escape(s)}</li>" for s in headline) + "</ul>",
            f"<h3>{html.escape(nothing_title)}</h3>",
            f"<ul>{nothing_items}</ul>" if nothing_items else f"<p class='note'>{html.escape(nothing_empty)}</p>",
            f"<h3>{html.escape(table_title)}</h3>",
            table,
        ]
    )


def _vqc() -> Workload:
    from include.benchmark.workloads import vqc

    return vqc.WORKLOAD


def _portfolio() -> Workload:
    from include.benchmark.workloads import portfolio

    return portfolio.WORKLOAD


# Loaded on first use (the DAG file's import stays light).
_FACTORIES: dict[str, Callable[[], Workload]] = {"vqc_classifier": _vqc, "portfolio_optimisation": _portfolio}


def workload(name: str) -> Workload:
    if name not in _FACTORIES:
        raise KeyError(f"workload {name!r} has no entry in include.benchmark.workloads; known: {sorted(_FACTORIES)}")
    return _FACTORIES[name]()


def workload_names() -> list[str]:
    return list(_FACTORIES)


def workload_of(record: Mapping[str, Any]) -> str:
    """The workload of a prepared record, an instance spec, a plan row or a batch (MaxCut's carry none)."""
    return str(record.get("workload") or MAXCUT)


def run_workload_batch(
    store: ArtifactStore, batch: Mapping[str, Any], *, protocol_for: Callable[[Any], Any], night: str = ""
) -> BatchOutcome:
    """A non-MaxCut batch: its workload's experiments held in this process, each through the
    protocol ``protocol_for`` builds for its backend (ledger, admission, settlement)."""
    from include.benchmark.batches import batch_rows

    return workload(workload_of(batch)).run_batch(
        store, batch, batch_rows(store, batch), protocol_for=protocol_for, night=night
    )
