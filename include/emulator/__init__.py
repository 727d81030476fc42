"""The local quantum job service: a real asynchronous job service for development, QA and tests.

Start it as its own process::

    qflow emulator serve --port 8790 [--host 127.0.0.1] [--db PATH] [--workers N]
                         [--backend fake_manila] [--faults JSON]

Jobs live in the service's own SQLite file (``--db``, default ``$QFLOW_STATE_DIR/jobservice.sqlite``)
and survive a restart: a job QUEUED or RUNNING when the service died runs after the restart under
the same id, and DONE results are still served. Jobs run FIFO on Aer in ``--workers`` worker
processes, with the noise model of a fake IBM backend (``AerSimulator.from_backend(FakeXxx())``),
seeded (``options.seed``, else a seed derived from the idempotency key). Faults
(``include.emulator.faults``) are set per instance (``--faults`` / ``QFLOW_JOBSERVICE_FAULTS``)
or at run time (``PUT /admin/faults``). The client is ``include.quantum.backends.jobservice.JobServiceBackend``.

HTTP API (JSON; timestamps ISO 8601 UTC; every error body is ``{"detail": "..."}`` naming the
field and the fix):

``POST /jobs``
    Body ``{"pubs": [{"circuit": "<base64 QPY of one ISA circuit with measurements>",
    "parameter_values": [[...], ...] | null}], "shots": int, "idempotency_key": str,
    "options": {"seed": int, ...}, "backend": "<fake backend name the circuits were transpiled
    for; optional>"}``. 201 with the job's status for a new job; 200 with the
    existing job's status when a job with that idempotency key exists (no second job). 400 when
    the work cannot run on the backend (too many qubits, non-native gates, no measurements,
    parameter count, shots over ``max_shots``, another backend); 422 for a malformed body.
``GET /jobs/{id}``
    Status: ``job_id, state`` (QUEUED, RUNNING, DONE, ERROR, CANCELLED), ``queue_position``
    (1 = next; QUEUED only), ``created_at, running_at, finished_at, usage_seconds, error_code``
    (IBM numeric codes, e.g. 1003 structural, 1008 transient), ``error_message``, ``shots``,
    ``backend``, ``idempotency_key``. 404 for an unknown id.
``GET /jobs/{id}/result``
    DONE: ``{"job_id", "backend", "shots", "counts": [pub][parameter set] -> {bitstring: n},
    "timings": {"queue_seconds", "decode_seconds", "execute_seconds", "postprocess_seconds",
    "usage_seconds"}, "metadata": {"seed", "idempotency_key", "created_at", ...}}``. Otherwise 409
    with ``state``, ``error_code``, ``error_message``.
``POST /jobs/{id}/cancel``
    QUEUED or RUNNING -> CANCELLED (a running computation's result is discarded); 409 if the job
    already finished DONE/ERROR; cancelling a cancelled job is a no-op.
``GET /jobs?idempotency_key=K``
    ``{"jobs": [status]}`` (zero or one job); without the key, the latest ``limit`` jobs.
``GET /backend``
    ``name, num_qubits, basis_gates, coupling_map, max_shots, source``; the client rebuilds the
    same fake backend by name for its ``target()``.
``GET /health``
    ``{"status": "ok", "backend", "jobs": {state: count}}``.
``GET /admin/faults``, ``PUT /admin/faults``
    Read / replace the fault configuration (see ``include.emulator.faults``); 422 names a bad field.
``GET /admin/stats``
    Jobs in total and by state, API requests served, faults injected by kind, workers.

Injected API faults answer 503 (outage, with ``Retry-After``), 429 (rate limit, with
``Retry-After``) or 500/502/503 (transient), each with ``"injected": true`` (a "lost response"
502 on ``POST /jobs`` comes after the job was created); ``/health`` and
``/admin/*`` are exempt.
"""
