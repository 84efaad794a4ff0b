"""The catalogue of hardware units: an explicit registry that refuses duplicates.

The unit modules only describe themselves (each has a ``UnitSpec``); this module
imports them and registers them in a fixed order, as hls4ml registers its
backends. No unit imports this module, so there is no import circle and the
order of ``UNITS`` does not depend on which module was imported first.
"""

from __future__ import annotations

from rtl import glu, matvec, mlgru, quantizer, rmsnorm, rowwise
from rtl.spec import UnitSpec

UNITS: dict[str, UnitSpec] = {}


def register(spec: UnitSpec) -> UnitSpec:
    """Add ``spec`` under its name; a second unit of the same name is an error."""
    if spec.name in UNITS:
        raise ValueError(f"unit {spec.name!r} is already registered")
    UNITS[spec.name] = spec
    return spec


for _spec in (matvec.SPEC, quantizer.SPEC, rmsnorm.SPEC, rowwise.SPEC, glu.SPEC,
              mlgru.RELEASED, mlgru.PAPER):
    register(_spec)
