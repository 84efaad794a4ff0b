"""The explicit registry of hardware units (no discovery by scanning folders)."""

from __future__ import annotations

from rtl.spec import UnitSpec

UNITS: dict[str, UnitSpec] = {}


def register(spec: UnitSpec) -> UnitSpec:
    """Add ``spec`` under its name; a second unit of the same name is an error."""
    if spec.name in UNITS:
        raise ValueError(f"unit {spec.name!r} is already registered")
    UNITS[spec.name] = spec
    return spec


# Unit modules register themselves on import; the list is explicit on purpose.
import rtl.glu  # noqa: E402,F401
import rtl.matvec  # noqa: E402,F401
import rtl.mlgru  # noqa: E402,F401
import rtl.quantizer  # noqa: E402,F401
import rtl.rmsnorm  # noqa: E402,F401
import rtl.rowwise  # noqa: E402,F401
