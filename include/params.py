"""One home for turning a DAG's Params (the trigger form's values) into a frozen params dataclass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Protocol, TypeVar


class CheckedParams(Protocol):
    def check(self) -> None: ...


P = TypeVar("P", bound=CheckedParams)


def params_from_mapping(cls: type[P], values: Mapping[str, Any], error: type[Exception]) -> P:
    """Unknown names are refused, each value is coerced to its field's type (whole floats to
    int, None to "" for text), and ``check()`` validates ranges; every error names the field."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise error(f"unknown parameter(s) {unknown}; valid ones are {sorted(known)}")
    defaults = cls()
    clean: dict[str, Any] = {}
    for name, value in values.items():
        kind = type(getattr(defaults, name))
        if value is None and kind is str:
            value = ""
        try:
            if kind is int and isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(value)
                value = int(value)
            clean[name] = kind(value)
        except (TypeError, ValueError) as exc:
            raise error(f"{name}={value!r} is not a valid {kind.__name__}") from exc
    params = cls(**clean)
    params.check()
    return params
