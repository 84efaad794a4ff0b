"""On what and how: the numeric formats the hardware uses.

The ``numerics`` section parameterises the fixed-point golden model and, through
it, every RTL unit. The platform sections (clock, memory, lanes, energy) join
this schedule as the system simulator grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cosim.config.schema import fail, spec


@dataclass(frozen=True)
class FixedFormat:
    """A signed two's-complement fixed-point format: ``bits`` total, ``frac`` fractional."""

    bits: int = spec(24, doc="total width in bits", ge=4, le=24)
    frac: int = spec(16, doc="fractional bits", ge=0, le=22)

    def check(self, key: str) -> None:
        if self.frac >= self.bits - 1:
            fail(f"{key}.frac", f"less than bits - 1 = {self.bits - 1}", self.frac)


@dataclass(frozen=True)
class SigmoidImpl:
    """How the row-wise unit computes sigmoid; SiLU is x * sigmoid(x) on the same unit."""

    method: Literal["lut", "pwl"] = spec(
        "pwl", doc="'lut': a table of lut_entries; 'pwl': segments linear pieces")
    lut_entries: int = spec(256, doc="entries of the LUT over [-input_range, input_range)",
                            ge=4, le=65536, power_of_two=True)
    segments: int = spec(5, doc="linear pieces on [0, input_range), mirrored for x < 0",
                         ge=1, le=16)
    input_range: int = spec(8, doc="sigmoid saturates to 0/1 beyond +-input_range",
                            power_of_two=True, ge=1, le=64)


@dataclass(frozen=True)
class RsqrtImpl:
    """Integer 1/sqrt for RMSNorm: normalise, look up a seed, refine by Newton steps."""

    lut_bits: int = spec(6, doc="address bits of the seed table", ge=2, le=12)
    newton_steps: int = spec(1, doc="Newton-Raphson refinements of the seed", ge=0, le=3)
    frac: int = spec(16, doc="fractional bits of the rsqrt result", ge=8, le=24)


@dataclass(frozen=True)
class Numerics:
    """Every number format of the datapath, shared by golden model and RTL."""

    activation_bits: int = spec(8, doc="bits of the quantised activations", ge=2, le=16)
    accumulator_bits: int = spec(24, doc="width of the ternary accumulator", ge=8, le=48)
    rowwise: FixedFormat = field(default_factory=FixedFormat,
                                 metadata={"doc": "format of the row-wise path"})
    sigmoid: SigmoidImpl = field(default_factory=SigmoidImpl,
                                 metadata={"doc": "sigmoid / SiLU implementation"})
    rsqrt: RsqrtImpl = field(default_factory=RsqrtImpl,
                             metadata={"doc": "rsqrt method of RMSNorm"})
    scale_bits: int = spec(16, doc="mantissa bits of per-matrix weight scales",
                           ge=8, le=24)

    def check(self, key: str) -> None:
        """Rules between formats; the last two keep the golden model exact in int64."""
        bits, frac = self.rowwise.bits, self.rowwise.frac
        if self.sigmoid.input_range > 2 ** (bits - 1 - frac):
            fail(f"{key}.sigmoid.input_range",
                 f"at most the row-wise range 2^{bits - 1 - frac}", self.sigmoid.input_range)
        span = 2 * self.sigmoid.input_range << frac
        if self.sigmoid.method == "lut" and self.sigmoid.lut_entries > span:
            fail(f"{key}.sigmoid.lut_entries",
                 f"at most the {span} representable inputs of the LUT's range",
                 self.sigmoid.lut_entries)
        if bits - 1 + frac + self.rsqrt.frac > 62:
            fail(f"{key}.rsqrt.frac",
                 f"at most {63 - bits - frac} with a {bits}-bit Q.{frac} row-wise format "
                 "(RMSNorm products must fit 63 bits)", self.rsqrt.frac)
        if self.accumulator_bits + bits + self.scale_bits > 64:
            fail(f"{key}.accumulator_bits",
                 f"at most {64 - bits - self.scale_bits} with {bits}-bit row-wise values "
                 f"and {self.scale_bits}-bit scales (dequantisation must fit 63 bits)",
                 self.accumulator_bits)


@dataclass(frozen=True)
class ScheduleConfig:
    """A platform and mapping description; here, its numerics."""

    name: str = spec("default", doc="a label for reports")
    numerics: Numerics = field(default_factory=Numerics,
                               metadata={"doc": "number formats"})
