"""IBM fake backends (qiskit_ibm_runtime.fake_provider) by name — one lookup for every user:
Aer noise models, the runtime's local testing mode, and the local job service."""

from __future__ import annotations

import functools
import warnings
from typing import Any

from include.quantum.backends.errors import StructuralQuantumError


class UnknownFakeBackend(StructuralQuantumError, ValueError):
    """No fake backend has that name (a ValueError too, for request validation)."""


@functools.cache
def fake_backend_names() -> dict[str, str]:
    """backend name (e.g. "fake_manila") -> class name in qiskit_ibm_runtime.fake_provider."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    names: dict[str, str] = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        if isinstance(cls, type) and issubclass(cls, FakeBackendV2) and cls is not FakeBackendV2:
            name = getattr(cls, "backend_name", None)
            if isinstance(name, str):
                names[name] = attr
    return names


def fake_backend(name: str) -> Any:
    """A fake backend by its name (e.g. "fake_manila"); the error lists valid names."""
    from qiskit_ibm_runtime import fake_provider

    known = fake_backend_names()
    if name not in known:
        raise UnknownFakeBackend(
            f"unknown fake backend {name!r}",
            hint=f"use a name from qiskit_ibm_runtime.fake_provider, e.g. {', '.join(sorted(known)[:8])}, ...",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "properties of fake_... are not typical"
        return getattr(fake_provider, known[name])()
