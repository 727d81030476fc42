"""The job service process: FastAPI app, FIFO scheduler and Aer worker processes.

See ``include/emulator/__init__.py`` for the HTTP API. ``create_app(settings)`` builds the app;
``serve(settings)`` runs it with uvicorn (``qflow emulator serve``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from include.emulator import execution
from include.emulator.faults import (
    FaultConfig,
    FaultConfigError,
    FaultState,
    parse_faults,
    retry_after_header,
)
from include.emulator.store import JobRow, JobStore
from include.quantum.backends.errors import IBM_CODES
from include.quantum.circuits.wire import circuit_from_base64

log = logging.getLogger("qflow.jobservice")

SCHEDULER_TICK_SECONDS = 0.05
EXEMPT_PREFIXES = ("/health", "/admin")


@dataclass
class ServiceSettings:
    db_path: Path
    backend: str = execution.DEFAULT_BACKEND
    workers: int = 1
    faults: FaultConfig = field(default_factory=lambda: FaultConfig.model_validate({}))


class PubIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    circuit: str = Field(min_length=1, description="one circuit, base64 of qiskit.qpy.dump output")
    parameter_values: list[list[float]] | None = None


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pubs: list[PubIn] = Field(min_length=1)
    shots: int = Field(gt=0)
    idempotency_key: str = Field(min_length=1, max_length=256)
    options: dict[str, Any] = Field(default_factory=dict)
    backend: str | None = Field(None, description="the fake backend the client transpiled for")


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat() if stamp is not None else None


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def _job_seed(job: JobRow) -> int:
    seed = job.payload.get("options", {}).get("seed")
    if isinstance(seed, int):
        return seed
    return int.from_bytes(hashlib.sha256(job.idempotency_key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: pending work is dropped, running computations are killed (their jobs stay
    RUNNING in the store and are requeued on the next start)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)


class JobService:
    """State of one running service: store, faults, worker pool and the scheduler task."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.info = execution.backend_info(settings.backend)
        self.store = JobStore(settings.db_path)
        self.faults = FaultState(settings.faults)
        self.requests = 0
        self.started_at = time.time()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------------

    def _new_pool(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(
            max_workers=self.settings.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=execution.watch_parent,
            initargs=(os.getpid(),),
        )
        for _ in range(self.settings.workers):
            pool.submit(execution.warm_up, self.settings.backend)
        return pool

    async def start(self) -> None:
        requeued = self.store.requeue_interrupted()
        if requeued:
            log.info("requeued %d job(s) interrupted by the previous shutdown", requeued)
        self._pool = self._new_pool()
        self._scheduler = asyncio.create_task(self._schedule_forever())
        log.info(
            "job service up: backend=%s workers=%d db=%s jobs=%s",
            self.settings.backend,
            self.settings.workers,
            self.settings.db_path,
            self.store.counts(),
        )

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
        for task in [*self._running.values(), *self._side_tasks]:
            task.cancel()
        if self._pool is not None:
            _terminate(self._pool)
        self.store.close()

    # --- scheduling -----------------------------------------------------------------------------

    async def _schedule_forever(self) -> None:
        while True:
            try:
                self._dispatch()
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(SCHEDULER_TICK_SECONDS)

    def _dispatch(self) -> None:
        while len(self._running) < self.settings.workers:
            job = self.store.claim_next(time.time())
            if job is None:
                return
            log.info("job %s RUNNING (fault=%s)", job.id, job.fault or "none")
            if job.fault == "never_finish":
                continue  # RUNNING for ever (until cancelled); it takes no worker
            if job.fault.startswith("fail:"):
                task = asyncio.create_task(self._fail(job, job.fault.split(":", 1)[1]))
                self._side_tasks.add(task)
                task.add_done_callback(self._side_tasks.discard)
                continue
            self._running[job.id] = asyncio.create_task(self._execute(job))

    async def _fail(self, job: JobRow, code: str) -> None:
        await asyncio.sleep(0.2)
        meaning = IBM_CODES.get(int(code), (None, "injected failure"))[1]
        if self.store.finish(job.id, "ERROR", error_code=code, error_message=f"injected fault: {meaning}"):
            log.info("job %s ERROR %s (injected)", job.id, code)

    async def _execute(self, job: JobRow) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        pool = self._pool
        try:
            assert pool is not None
            result = await loop.run_in_executor(
                pool,
                execution.run_job,
                self.settings.backend,
                job.payload["pubs"],
                job.shots,
                _job_seed(job),
                job.fault == "crash",
            )
        except asyncio.CancelledError:
            raise
        except BrokenProcessPool as exc:
            log.error("worker process died running job %s: %s", job.id, exc)
            if self._pool is pool and pool is not None:  # the first job to notice replaces the pool
                _terminate(pool)
                self._pool = self._new_pool()
            message = "internal error: the worker process running the job died; resubmit"
            self.store.finish(job.id, "ERROR", error_code="1011", error_message=message)
            return
        except Exception as exc:
            structural = isinstance(exc, ValueError | TypeError) or "Qiskit" in type(exc).__name__
            code = "1003" if structural else "1008"
            log.info("job %s ERROR %s: %s", job.id, code, exc)
            self.store.finish(job.id, "ERROR", error_code=code, error_message=f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._running.pop(job.id, None)
        usage = time.perf_counter() - started
        result["timings"]["queue_seconds"] = (job.running_at or job.created_at) - job.created_at
        if self.store.finish(job.id, "DONE", result=result, usage_seconds=usage):
            log.info("job %s DONE in %.2f s", job.id, usage)
        else:
            log.info("job %s finished after it was cancelled; result discarded", job.id)

    # --- views ----------------------------------------------------------------------------------

    def status_body(self, job: JobRow) -> dict[str, Any]:
        return {
            "job_id": job.id,
            "state": job.state,
            "queue_position": self.store.queue_position(job),
            "created_at": _iso(job.created_at),
            "running_at": _iso(job.running_at),
            "finished_at": _iso(job.finished_at),
            "usage_seconds": job.usage_seconds,
            "error_code": job.error_code,
            "error_message": job.error_message,
            "idempotency_key": job.idempotency_key,
            "shots": job.shots,
            "backend": self.info["name"],
        }

    def validate(self, body: JobIn) -> str | None:
        """Why a submission cannot run on this backend (naming the field and the fix), or None."""
        name = self.info["name"]
        if body.backend is not None and body.backend != name:
            return (
                f"backend={body.backend!r} but this service runs {name!r}: use jobservice:{name},"
                f" or start a service with --backend {body.backend}"
            )
        if body.shots > self.info["max_shots"]:
            limit = self.info["max_shots"]
            return f"shots={body.shots} exceeds {self.info['name']}'s max_shots {limit}: lower shots"
        native = {*self.info["basis_gates"], "barrier"}
        for i, pub in enumerate(body.pubs):
            where = f"pubs[{i}]"
            try:
                circuit = circuit_from_base64(pub.circuit)
            except ValueError as exc:
                return f"{where}.circuit is {exc}: send base64 of qiskit.qpy.dump(circuit)"
            if circuit.num_qubits > self.info["num_qubits"]:
                return (
                    f"{where}.circuit uses {circuit.num_qubits} qubits but {self.info['name']} has"
                    f" {self.info['num_qubits']}: use fewer qubits or another backend"
                )
            foreign = sorted(set(circuit.count_ops()) - native)
            if foreign:
                return (
                    f"{where}.circuit uses gates {foreign} that {self.info['name']} does not support"
                    f" (native: {sorted(native)}): transpile for the backend's target"
                )
            if circuit.num_clbits == 0:
                return f"{where}.circuit measures nothing: add measurements (e.g. circuit.measure_all())"
            n_params = circuit.num_parameters
            if n_params and pub.parameter_values is None:
                return f"{where}.parameter_values missing: the circuit has {n_params} parameters"
            if pub.parameter_values is not None:
                bad = [len(row) for row in pub.parameter_values if len(row) != n_params]
                if bad or not pub.parameter_values:
                    return (
                        f"{where}.parameter_values rows must each have {n_params} values"
                        f" (one per circuit parameter), got rows of {bad or 'none'}"
                    )
        return None


def create_app(settings: ServiceSettings) -> FastAPI:
    service = JobService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="qflow job service", lifespan=lifespan)
    app.state.service = service

    @app.middleware("http")
    async def inject_faults(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith(EXEMPT_PREFIXES):
            return await call_next(request)
        service.requests += 1
        latency = service.faults.latency()
        if latency:
            await asyncio.sleep(latency)
        fault = service.faults.api_fault()
        if fault is not None:
            return JSONResponse(
                {"detail": fault.detail, "injected": True},
                status_code=fault.status,
                headers=retry_after_header(fault.retry_after),
            )
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def readable_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'] if p != 'body') or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        return _error(422, f"invalid request: {problems}")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "backend": service.info["name"], "jobs": service.store.counts()}

    @app.get("/backend")
    async def backend() -> dict[str, Any]:
        return service.info

    @app.get("/queue")
    async def queue() -> dict[str, Any]:
        """What a new job can expect, like a provider's pending-jobs figure: the configured queue
        delay, plus the jobs ahead of it times the recent mean run time, spread over the workers."""
        counts = service.store.counts()
        runs = [
            j.finished_at - j.running_at
            for j in service.store.recent(20)
            if j.running_at is not None and j.finished_at is not None
        ]
        mean_run = sum(runs) / len(runs) if runs else 0.0
        ahead = counts.get("QUEUED", 0) + counts.get("RUNNING", 0)
        delay = service.faults.config.queue_delay_seconds
        return {
            "queued": counts.get("QUEUED", 0),
            "running": counts.get("RUNNING", 0),
            "queue_delay_seconds": delay,
            "mean_run_seconds": mean_run,
            "expected_wait_seconds": delay + ahead * mean_run / max(settings.workers, 1),
        }

    @app.post("/jobs")
    async def submit(body: JobIn) -> JSONResponse:
        existing = service.store.find(body.idempotency_key)
        if existing is not None:
            return JSONResponse(service.status_body(existing), status_code=200)
        problem = service.validate(body)
        if problem is not None:
            return _error(400, problem)
        payload = {"pubs": [pub.model_dump() for pub in body.pubs], "options": body.options}
        job, created = service.store.create(
            body.idempotency_key,
            body.shots,
            payload,
            service.faults.job_fault(),
            service.faults.queue_delay(),
        )
        if created:
            log.info("job %s QUEUED (%d pub(s), %d shots)", job.id, len(body.pubs), body.shots)
            if service.faults.lose_response():
                return _error(502, "injected lost response: the job may exist; resubmit with the same key")
        return JSONResponse(service.status_body(job), status_code=201 if created else 200)

    @app.get("/jobs")
    async def list_jobs(idempotency_key: str | None = None, limit: int = 100) -> dict[str, Any]:
        if idempotency_key is not None:
            found = service.store.find(idempotency_key)
            jobs = [found] if found is not None else []
        else:
            jobs = service.store.recent(max(1, min(limit, 1000)))
        return {"jobs": [service.status_body(job) for job in jobs]}

    def _unknown(job_id: str) -> JSONResponse:
        return _error(404, f"no job {job_id!r} on this service: check the job id (GET /jobs lists jobs)")

    @app.get("/jobs/{job_id}")
    async def status(job_id: str) -> JSONResponse:
        job = service.store.get(job_id)
        return _unknown(job_id) if job is None else JSONResponse(service.status_body(job))

    @app.get("/jobs/{job_id}/result")
    async def result(job_id: str) -> JSONResponse:
        job = service.store.get(job_id)
        if job is None:
            return _unknown(job_id)
        if job.state != "DONE" or job.result is None:
            return _error(
                409,
                f"job {job_id} is {job.state}, not DONE: poll GET /jobs/{job_id} until DONE",
                state=job.state,
                error_code=job.error_code,
                error_message=job.error_message,
            )
        return JSONResponse(
            {
                "job_id": job.id,
                "backend": service.info["name"],
                "shots": job.shots,
                "counts": job.result["counts"],
                "timings": {**job.result["timings"], "usage_seconds": job.usage_seconds},
                "metadata": {
                    "seed": job.result.get("seed"),
                    "idempotency_key": job.idempotency_key,
                    "created_at": _iso(job.created_at),
                    "running_at": _iso(job.running_at),
                    "finished_at": _iso(job.finished_at),
                },
            }
        )

    @app.post("/jobs/{job_id}/cancel")
    async def cancel(job_id: str) -> JSONResponse:
        job = service.store.cancel(job_id)
        if job is None:
            return _unknown(job_id)
        if job.state != "CANCELLED":
            return _error(409, f"job {job_id} already finished ({job.state}); nothing to cancel", state=job.state)
        log.info("job %s CANCELLED", job_id)
        return JSONResponse(service.status_body(job))

    @app.get("/admin/faults")
    async def get_faults() -> dict[str, Any]:
        return service.faults.config.model_dump()

    @app.put("/admin/faults")
    async def put_faults(request: Request) -> JSONResponse:
        try:
            config = parse_faults(await request.body())
        except FaultConfigError as exc:
            return _error(422, str(exc))
        service.faults.apply(config)
        log.info("faults set: %s", config.model_dump(exclude_defaults=True))
        return JSONResponse(config.model_dump())

    @app.post("/admin/release")
    async def release() -> dict[str, int]:
        # A queue delay is fixed per job when it is submitted; lifting the fault does not shorten
        # the holds already given. This ends them (a drill or bench that is done waiting).
        released = service.store.release_held()
        log.info("released %d held jobs", released)
        return {"released": released}

    @app.get("/admin/stats")
    async def stats() -> dict[str, Any]:
        counts = service.store.counts()
        return {
            "jobs": {"total": sum(counts.values()), "by_state": counts},
            "requests": service.requests,
            "faults_injected": dict(service.faults.injected),
            "workers": settings.workers,
            "executing": len(service._running),
            "backend": service.info["name"],
            "started_at": _iso(service.started_at),
        }

    return app


def serve(settings: ServiceSettings, host: str, port: int) -> None:
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="info")
