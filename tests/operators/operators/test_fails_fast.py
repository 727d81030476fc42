"""Which stage errors fail at once and which are left to the DAG's infrastructure retries."""

from __future__ import annotations

import pytest

from include.data.validation import ValidationFailed
from include.governance.budget import BudgetExceeded
from include.governance.policy import PolicyError
from include.problems.maxcut import ProblemSpecError
from include.quantum.backends.errors import (
    AuthQuantumError,
    StructuralQuantumError,
    TransientQuantumError,
    from_http_status,
)
from include.quantum.circuits.qaoa import QAOAConfigError
from include.store.artifacts import IncompleteArtifactError, TamperedArtifactError
from operators.operators.base import fails_fast


@pytest.mark.parametrize(
    "error",
    [
        ProblemSpecError("n_nodes=1"),
        ValidationFailed.__new__(ValidationFailed),  # a failed GX suite (its report is irrelevant here)
        QAOAConfigError("reps=0"),
        PolicyError("backend not allowed"),
        TamperedArtifactError("hash mismatch"),
        StructuralQuantumError("too many qubits"),
        AuthQuantumError("token refused"),
        BudgetExceeded("spend_per_day"),
    ],
    ids=type,
)
def test_bad_data_and_structural_errors_fail_at_once(error: Exception) -> None:
    assert fails_fast(error)


@pytest.mark.parametrize(
    "error",
    [
        TransientQuantumError("timeout"),
        from_http_status(503),
        ConnectionResetError("S3 went away"),
        IncompleteArtifactError("upstream manifest not written yet"),
        MemoryError(),
    ],
    ids=type,
)
def test_infrastructure_errors_are_left_to_the_retries(error: Exception) -> None:
    assert not fails_fast(error)
