"""Transpiled circuits, cached by what determines them: circuit structure, backend target (with its
calibration) and transpiler settings. An in-process LRU in front of QPY objects in S3, so
iterations and later runs reuse one transpilation; parameters are bound, never re-transpiled."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from include.store.artifacts import ArtifactError, ArtifactStore


@dataclass(frozen=True)
class TranspileSettings:
    optimization_level: int = 1
    seed_transpiler: int = 7

    def as_dict(self) -> dict[str, int]:
        return {"optimization_level": self.optimization_level, "seed_transpiler": self.seed_transpiler}


def circuit_structure(circuit: Any) -> str:
    """A canonical text of the circuit's structure: OpenQASM 3 names parameters, not their UUIDs."""
    from qiskit import qasm3

    return str(qasm3.dumps(circuit))


def target_fingerprint(target: Any, calibration: Mapping[str, Any]) -> dict[str, Any]:
    coupling = target.build_coupling_map()
    return {
        "num_qubits": target.num_qubits,
        "operations": sorted(target.operation_names),
        "coupling_map": sorted(map(list, coupling.get_edges())) if coupling is not None else None,
        "calibration": dict(calibration),
    }


def cache_key(circuit: Any, target: Any, calibration: Mapping[str, Any], settings: TranspileSettings) -> str:
    payload = json.dumps(
        {
            "circuit": circuit_structure(circuit),
            "target": target_fingerprint(target, calibration),
            "settings": settings.as_dict(),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class TranspileCache:
    def __init__(self, store: ArtifactStore | None = None, capacity: int = 128, prefix: str = "cache/transpile"):
        self.store = store
        self.capacity = capacity
        self.prefix = prefix
        self._lru: OrderedDict[str, Any] = OrderedDict()
        self.hits = {"memory": 0, "s3": 0, "miss": 0}

    def get_or_transpile(
        self, circuit: Any, target: Any, calibration: Mapping[str, Any], settings: TranspileSettings
    ) -> tuple[Any, str, float]:
        """(ISA circuit, where it came from: memory|s3|miss, seconds spent)."""
        from qiskit import qpy, transpile

        started = time.perf_counter()
        key = cache_key(circuit, target, calibration, settings)
        if key in self._lru:
            self._lru.move_to_end(key)
            self.hits["memory"] += 1
            return self._lru[key], "memory", time.perf_counter() - started
        uri = self.store.uri(f"{self.prefix}/{key}.qpy") if self.store is not None else None
        source = "miss"
        isa = None
        if uri is not None and self.store is not None:
            try:
                isa = qpy.load(io.BytesIO(self.store.get_bytes(uri)))[0]
                source = "s3"
            except ArtifactError:
                isa = None
        if isa is None:
            isa = transpile(circuit, target=target, **settings.as_dict())
            if uri is not None and self.store is not None:
                buffer = io.BytesIO()
                qpy.dump(isa, buffer)
                self.store.put_bytes(uri, buffer.getvalue())
        self.hits[source] += 1
        self._lru[key] = isa
        if len(self._lru) > self.capacity:
            self._lru.popitem(last=False)
        return isa, source, time.perf_counter() - started
