"""One error taxonomy for every backend: transient, structural, auth, quota.

Transient errors are retried with exponential backoff and jitter up to a limit; structural and
auth errors fail at once with a message saying what to change; quota errors stop submission
(the policy layer decides what happens next). A client-side wait timeout is not an error at all:
the job is still running, so the caller keeps waiting.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ErrorClass(enum.StrEnum):
    TRANSIENT = "transient"
    STRUCTURAL = "structural"
    AUTH = "auth"
    QUOTA = "quota"


class QuantumError(Exception):
    """A classified failure. ``code`` is the provider's (IBM code, HTTP status, job-service code)."""

    error_class: ErrorClass = ErrorClass.STRUCTURAL

    def __init__(self, message: str, *, code: str | None = None, hint: str = "") -> None:
        self.code = code
        self.hint = hint
        text = f"[{self.error_class.value}{f' {code}' if code else ''}] {message}"
        super().__init__(f"{text}. {hint}" if hint else text)

    @property
    def retryable(self) -> bool:
        return self.error_class is ErrorClass.TRANSIENT


class TransientQuantumError(QuantumError):
    error_class = ErrorClass.TRANSIENT


class StructuralQuantumError(QuantumError):
    error_class = ErrorClass.STRUCTURAL


class UnknownJobError(StructuralQuantumError):
    """The provider does not know this job (HTTP 404, no such job in this process): the one answer
    that means a stored job id is gone, so only this may lead a caller to submit the work again."""


class AuthQuantumError(QuantumError):
    error_class = ErrorClass.AUTH


class QuotaQuantumError(QuantumError):
    error_class = ErrorClass.QUOTA


_BY_CLASS: dict[ErrorClass, type[QuantumError]] = {
    ErrorClass.TRANSIENT: TransientQuantumError,
    ErrorClass.STRUCTURAL: StructuralQuantumError,
    ErrorClass.AUTH: AuthQuantumError,
    ErrorClass.QUOTA: QuotaQuantumError,
}

# IBM Quantum error codes (qiskit-ibm-runtime / the service's job error codes).
IBM_CODES: dict[int, tuple[ErrorClass, str]] = {
    1002: (ErrorClass.STRUCTURAL, "invalid job: check the job's parameters and options"),
    1003: (ErrorClass.STRUCTURAL, "invalid circuit: check the circuit against the backend's target"),
    1004: (ErrorClass.TRANSIENT, "backend unavailable: retry later or choose another backend"),
    1005: (ErrorClass.STRUCTURAL, "unsupported gates: transpile to the backend's native gate set"),
    1006: (ErrorClass.TRANSIENT, "internal error"),
    1007: (ErrorClass.STRUCTURAL, "invalid backend: check the backend name and your access to it"),
    1008: (ErrorClass.TRANSIENT, "internal error"),
    1010: (ErrorClass.TRANSIENT, "internal error"),
    1011: (ErrorClass.TRANSIENT, "internal error"),
    1200: (ErrorClass.AUTH, "authentication failed: check the token in the Airflow connection"),
    1201: (ErrorClass.AUTH, "not authorised for this instance: check the instance (CRN) in the connection"),
    1202: (ErrorClass.TRANSIENT, "too many requests: back off and retry"),
}


# Amazon Braket: the error codes of botocore's ClientError — the Braket service model's exceptions
# (botocore/data/braket) and AWS's common ones (ServiceUnavailable, credentials).
BRAKET_CODES: dict[str, tuple[ErrorClass, str]] = {
    "ThrottlingException": (ErrorClass.TRANSIENT, "Braket throttled the request: back off and retry"),
    "InternalServiceException": (ErrorClass.TRANSIENT, "Braket internal error"),
    "ServiceUnavailableException": (ErrorClass.TRANSIENT, "Braket is unavailable: retry later"),
    "DeviceOfflineException": (ErrorClass.TRANSIENT, "the Braket device is offline: retry in its availability window"),
    "DeviceRetiredException": (ErrorClass.STRUCTURAL, "the Braket device is retired: choose another braket:aws device"),
    "ValidationException": (ErrorClass.STRUCTURAL, "Braket refused the task: check the circuit against the device"),
    "ResourceNotFoundException": (ErrorClass.STRUCTURAL, "Braket does not know this device or task"),
    "ConflictException": (ErrorClass.STRUCTURAL, "the Braket request conflicts with the resource's state"),
    "AccessDeniedException": (ErrorClass.AUTH, "not authorised for Braket: check the AWS credentials and IAM policy"),
    "UnrecognizedClientException": (ErrorClass.AUTH, "AWS does not recognise the credentials"),
    "ExpiredTokenException": (ErrorClass.AUTH, "the AWS session token has expired: refresh the credentials"),
    "ServiceQuotaExceededException": (ErrorClass.QUOTA, "a Braket service quota is exhausted"),
}
_AWS_TRANSIENT = {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}
_AWS_AUTH = {"NoCredentialsError", "PartialCredentialsError", "NoAuthTokenError"}


def from_braket_code(code: str, message: str = "") -> QuantumError:
    error_class, meaning = BRAKET_CODES.get(code, (ErrorClass.STRUCTURAL, "unknown Braket error code"))
    if code == "ResourceNotFoundException" and "task" in message.lower():
        return UnknownJobError(f"{meaning}: {message}", code=code)
    return _BY_CLASS[error_class](f"{meaning}{': ' + message if message else ''}", code=code)


def from_ibm_code(code: int | str, message: str = "") -> QuantumError:
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = -1
    error_class, meaning = IBM_CODES.get(number, (ErrorClass.STRUCTURAL, "unknown error code"))
    return _BY_CLASS[error_class](f"{meaning}{': ' + message if message else ''}", code=str(code))


def from_http_status(status: int, message: str = "") -> QuantumError:
    """HTTP answers from a provider API: 429 and 5xx are transient, 401/403 auth, other 4xx structural."""
    if status == 429 or status >= 500 or status in (408, 425):
        return TransientQuantumError(f"HTTP {status}: {message or 'retry later'}", code=str(status))
    if status in (401, 403):
        return AuthQuantumError(
            f"HTTP {status}: {message or 'not authorised'}",
            code=str(status),
            hint="Check the credentials in the Airflow connection",
        )
    if status == 404:
        return UnknownJobError(f"HTTP 404: {message or 'not found'}", code="404")
    if status == 402:
        return QuotaQuantumError(f"HTTP {status}: {message or 'quota exhausted'}", code=str(status))
    return StructuralQuantumError(f"HTTP {status}: {message or 'request refused'}", code=str(status))


def classify(exc: BaseException) -> QuantumError:
    """Map any exception from a backend client or simulator into the taxonomy."""
    if isinstance(exc, QuantumError):
        return exc
    name = type(exc).__name__
    text = str(exc)
    network = {"ConnectError", "ReadTimeout", "ConnectTimeout", "RemoteProtocolError"}
    if isinstance(exc, TimeoutError | ConnectionError) or name in network:
        return TransientQuantumError(f"{name}: {text or 'connection problem'}")
    if name == "ClientError" and isinstance(getattr(exc, "response", None), dict):  # botocore: AWS answered
        error = exc.response.get("Error", {})  # type: ignore[attr-defined]
        return from_braket_code(str(error.get("Code", "")), str(error.get("Message", "")))
    if name in _AWS_TRANSIENT:
        return TransientQuantumError(f"{name}: {text or 'AWS connection problem'}")
    if name in _AWS_AUTH:
        return AuthQuantumError(f"{name}: {text}", hint="Set AWS credentials (environment or instance role)")
    if type(exc).__module__.startswith("braket."):  # the Braket SDK or its local simulator refused the work
        return StructuralQuantumError(f"Braket {name}: {text}", hint="check the circuit against the Braket target")
    if name == "IBMNotAuthorizedError":
        return AuthQuantumError(text, hint="Check the token and instance in the Airflow connection")
    if name in {"RequestsApiError", "IBMRuntimeError", "RuntimeJobFailureError", "IBMBackendApiError"}:
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            return from_http_status(status, text)
        for code in IBM_CODES:
            if str(code) in text:
                return from_ibm_code(code, text)
        return TransientQuantumError(f"{name}: {text}")
    if name == "AerError":
        if "memory" in text.lower():
            return StructuralQuantumError(f"Aer: {text}", hint="Use fewer qubits or the matrix_product_state method")
        return StructuralQuantumError(f"Aer: {text}")
    return StructuralQuantumError(f"{name}: {text}")


def call_with_retries(
    fn: Callable[[], T],
    *,
    max_attempts: int = 5,
    base: float = 1.0,
    cap: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[QuantumError, int, float], None] | None = None,
) -> T:
    """Call ``fn``; retry transient failures with exponential backoff and full jitter (attempt k
    waits uniform(0, min(cap, base * 2**k))); raise anything else at once, classified.

    The schedule is tenacity's (``wait_random_exponential``); what is transient is this module's
    taxonomy, so every caller retries the same errors the same way."""
    import tenacity

    def attempt() -> T:
        try:
            return fn()
        except Exception as exc:
            raise classify(exc) from exc

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None and state.next_action is not None:
            error = state.outcome.exception()
            assert isinstance(error, QuantumError)
            on_retry(error, state.attempt_number, state.next_action.sleep)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max_attempts),
        wait=tenacity.wait_random_exponential(multiplier=base, max=cap),
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, QuantumError) and e.retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except QuantumError as error:
        if error.retryable:
            raise TransientQuantumError(
                f"gave up after {max_attempts} attempts: {error}", code=error.code
            ) from error.__cause__
        raise
