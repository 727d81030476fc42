from __future__ import annotations

import pytest

from include.quantum.backends.errors import (
    AuthQuantumError,
    ErrorClass,
    QuantumError,
    StructuralQuantumError,
    TransientQuantumError,
    call_with_retries,
    classify,
    from_http_status,
    from_ibm_code,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1006, ErrorClass.TRANSIENT),
        (1008, ErrorClass.TRANSIENT),
        (1010, ErrorClass.TRANSIENT),
        (1011, ErrorClass.TRANSIENT),
        (1004, ErrorClass.TRANSIENT),
        (1202, ErrorClass.TRANSIENT),
        (1002, ErrorClass.STRUCTURAL),
        (1003, ErrorClass.STRUCTURAL),
        (1005, ErrorClass.STRUCTURAL),
        (1007, ErrorClass.STRUCTURAL),
        (1200, ErrorClass.AUTH),
        (1201, ErrorClass.AUTH),
    ],
)
def test_ibm_error_codes_map_to_the_taxonomy(code: int, expected: ErrorClass) -> None:
    error = from_ibm_code(code, "details")
    assert error.error_class is expected
    assert str(code) in str(error) and "details" in str(error)
    assert error.retryable == (expected is ErrorClass.TRANSIENT)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, TransientQuantumError),
        (503, TransientQuantumError),
        (500, TransientQuantumError),
        (401, AuthQuantumError),
        (403, AuthQuantumError),
        (400, StructuralQuantumError),
        (404, StructuralQuantumError),
    ],
)
def test_http_statuses_map_to_the_taxonomy(status: int, kind: type[QuantumError]) -> None:
    assert isinstance(from_http_status(status), kind)


def test_auth_errors_say_what_to_change() -> None:
    assert "connection" in str(from_http_status(401))
    assert "token" in str(from_ibm_code(1200))


def test_classify_maps_network_and_aer_errors() -> None:
    assert classify(ConnectionError("reset")).retryable
    assert classify(TimeoutError()).retryable

    class AerError(Exception):
        pass

    error = classify(AerError("Insufficient memory to run circuit"))
    assert isinstance(error, StructuralQuantumError) and "matrix_product_state" in str(error)


def test_backoff_grows_exponentially_within_the_cap_with_jitter() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def always_busy() -> str:
        calls.append(1)
        raise from_http_status(503)

    with pytest.raises(TransientQuantumError):
        call_with_retries(always_busy, max_attempts=9, base=1.0, cap=10.0, sleep=slept.append)
    assert len(calls) == 9 and len(slept) == 8
    assert all(0 <= d <= min(10.0, 2**k) for k, d in enumerate(slept))
    assert len(set(slept)) == 8  # jittered, not a fixed schedule


def test_transient_errors_are_retried_then_succeed_and_structural_fail_at_once() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise from_http_status(503)
        return "job-1"

    assert call_with_retries(flaky, max_attempts=5, sleep=slept.append) == "job-1"
    assert len(calls) == 3 and len(slept) == 2

    structural_calls = []

    def broken() -> str:
        structural_calls.append(1)
        raise from_ibm_code(1003)

    with pytest.raises(StructuralQuantumError):
        call_with_retries(broken, max_attempts=5, sleep=slept.append)
    assert len(structural_calls) == 1


def test_retries_give_up_after_the_limit() -> None:
    calls = []

    def always_busy() -> str:
        calls.append(1)
        raise from_http_status(429)

    with pytest.raises(TransientQuantumError, match="gave up after 3 attempts"):
        call_with_retries(always_busy, max_attempts=3, sleep=lambda _: None)
    assert len(calls) == 3
