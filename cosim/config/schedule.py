"""On what and how: the platform, the mapping and the numeric formats.

The ``numerics`` section parameterises the fixed-point golden model and, through
it, every RTL unit. The platform sections (clock, compute units, lanes, unit
instances, memory system, on-chip memory, host placement, overlap policy and
the energy table) parameterise the system simulator (``cosim.sim``); the
``device`` section names the part and the budgets its design must fit. Rules that
need the model as well (TP against the hidden size, lanes against on-chip
memory) live in ``cosim.sim.platform.validate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

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
class MatvecUnit:
    """The ternary mat-vec: ``tp`` weights per beat into a pipelined adder tree.

    A row of ``cols`` weights costs ceil(cols / tp) beats at ``ii`` cycles each,
    plus ``row_cycles`` to drain and write the row's sum; a whole mat-vec adds
    the pipeline ``latency`` once. A characterisation record, when one exists,
    replaces ``ii`` and ``latency``.
    """

    tp: int = spec(128, doc="ternary weights (and adder-tree inputs) per beat", gt=0,
                   le=1 << 20)
    ii: int = spec(1, doc="cycles per beat", ge=1, le=1 << 20)
    latency: int = spec(8, doc="pipeline latency of one mat-vec, cycles", ge=0,
                        le=10 ** 9)
    row_cycles: float = spec(1.0, doc="extra cycles per output row (drain, write)", ge=0,
                             le=1e6)
    per: Literal["lane", "cu"] = spec(
        "lane", doc="'lane': one adder tree per lane, all fed by the compute unit's "
                    "weight stream; 'cu': one per compute unit, lanes take turns")
    skip_zeros: bool = spec(
        False, doc="event-driven: zero weights and zero activations cost no energy")


@dataclass(frozen=True)
class VectorUnit:
    """RMSNorm, quantiser or row-wise unit: element-wise passes over vector registers.

    A pass over n elements with r reads and w writes costs
    ceil(n / elements_per_cycle) * max(ii, ceil((r + w) / overlap.vreg_ports))
    cycles plus ``latency``.
    """

    elements_per_cycle: float = spec(1.0, doc="elements per vector-register access",
                                      ge=1e-3, le=1e6)
    ii: int = spec(1, doc="cycles per element group, at least", ge=1, le=1 << 20)
    latency: int = spec(4, doc="pipeline latency of one pass, cycles", ge=0, le=10 ** 9)
    per: Literal["lane", "cu"] = spec("lane", doc="one instance per lane or per compute unit")


@dataclass(frozen=True)
class Units:
    """The functional units of one lane's datapath."""

    matvec: MatvecUnit = field(default_factory=MatvecUnit, metadata={"doc": "ternary mat-vec"})
    rmsnorm: VectorUnit = field(default_factory=lambda: VectorUnit(latency=24),
                                metadata={"doc": "RMSNorm (sum of squares, rsqrt, scale)"})
    quantize: VectorUnit = field(default_factory=VectorUnit,
                                 metadata={"doc": "absmax activation quantiser"})
    rowwise: VectorUnit = field(default_factory=VectorUnit,
                                metadata={"doc": "row-wise unit: add, mul, sigmoid, SiLU, ..."})


@dataclass(frozen=True)
class Memory:
    """The DRAM system in physical units: a faster fabric clock does not make DRAM faster.

    Channels are bandwidth servers. Each compute unit streams its weights over its
    channel(s), and moves activation vectors between its vector registers and DRAM
    over the same channel(s): ``activation_transfers_per_layer`` loads and stores per
    layer per token, each of one hidden-size vector per lane of the compute unit, so
    a transfer grows with the unit's lanes (it costs at least one vector-register
    pass, ``units.rowwise.elements_per_cycle`` elements per lane per cycle).
    """

    channels: int = spec(1, doc="independent DRAM channels", gt=0, le=4096)
    gb_per_s: float = spec(6.4, doc="peak bandwidth per channel, GB/s (1e9 bytes/s)",
                           ge=0.001, le=100_000)
    efficiency: float = spec(0.8, doc="fraction of peak a stream sustains", ge=1e-3,
                              le=1)
    latency_ns: float = spec(100.0, doc="ns from request to first data", ge=0, le=1e6)
    activation_transfers_per_layer: float = spec(
        0.0, doc="activation vector loads and stores per layer per token (register spills, "
                 "recurrent state); 0: activations stay on chip", ge=0, le=10_000)

    def bytes_per_cycle(self, clock_mhz: float) -> float:
        """Sustained bytes per fabric cycle of one channel at ``clock_mhz``."""
        return self.gb_per_s * 1e3 * self.efficiency / clock_mhz

    def latency_cycles(self, clock_mhz: float) -> float:
        """Request-to-data latency in fabric cycles at ``clock_mhz``."""
        return self.latency_ns * clock_mhz * 1e-3


@dataclass(frozen=True)
class OnChip:
    """On-chip memory: per-lane state, vector registers, and maybe the weights."""

    bytes: int = spec(4_000_000, doc="usable on-chip memory (BRAM/URAM/EBR), bytes", gt=0,
                      le=1 << 50)
    weights: Literal["dram", "onchip"] = spec(
        "dram", doc="'dram': streamed every token; 'onchip': resident, read from SRAM")
    vector_registers: int = spec(4, doc="vector registers per lane, each as wide as the "
                                        "widest vector of the model", ge=1,
                                  le=1024)


@dataclass(frozen=True)
class Overlap:
    """What may run at the same time inside one lane."""

    rowwise_with_matvec: bool = spec(
        False, doc="row-wise work overlaps the next mat-vec when data allow; false: "
                   "operations run one after another in graph order")
    vreg_ports: int = spec(1, doc="vector-register ports per lane (reads and writes share them)",
                           ge=1, le=64)
    prefetch_weights: bool = spec(
        False, doc="the next matrix's stream starts early, hiding memory latency")


@dataclass(frozen=True)
class Prefill:
    """How a prompt is processed: its tokens batched through one weight stream."""

    tokens: int = spec(64, doc="prompt length the report's prefill figures assume", gt=0,
                       le=1 << 24)
    batch: Optional[int] = spec(
        None, doc="prompt tokens per weight pass, on lane datapaths; null: lanes", gt=0,
        le=1 << 24)


@dataclass(frozen=True)
class Action:
    """Energy of one action, and where the number comes from."""

    pj: float = spec(doc="picojoules per action", ge=0, le=1e9)
    source: str = spec(doc="where the number comes from (paper, datasheet, fit)")


@dataclass(frozen=True)
class StaticPower:
    """Static (idle) power of the board or chip, and where it comes from."""

    w: float = spec(doc="watts", ge=0, le=1e6)
    source: str = spec(doc="where the number comes from")


_H = "Horowitz, ISSCC 2014, 45 nm 0.9 V"


@dataclass(frozen=True)
class Energy:
    """Per-action energies and static power; every number names its source."""

    static: StaticPower = field(
        default_factory=lambda: StaticPower(1.0, "assumption: 1 W idle, not measured"),
        metadata={"doc": "static power"})
    ternary_add: Action = field(
        default_factory=lambda: Action(0.05, f"{_H}: 16-bit integer add"),
        metadata={"doc": "one accumulation of a nonzero weight in the adder tree"})
    rowwise_op: Action = field(
        default_factory=lambda: Action(1.1, f"{_H}: 16-bit float multiply, an upper "
                                             "bound for a 24-bit fixed-point op"),
        metadata={"doc": "one elementary row-wise operation (graph rowwise_ops)"})
    sram_access: Action = field(
        default_factory=lambda: Action(5.0, f"{_H}: 64-bit read of 32 KB SRAM (20 pJ) "
                                            "per 16-bit element"),
        metadata={"doc": "one element read or written in a vector register"})
    weight_sram_byte: Action = field(
        default_factory=lambda: Action(2.5, f"{_H}: 64-bit read of 32 KB SRAM, per byte"),
        metadata={"doc": "one byte of on-chip-resident weights read"})
    dram_byte: Action = field(
        default_factory=lambda: Action(244.0, f"{_H}: DRAM 64-bit access 1300-2600 pJ, "
                                              "midpoint per byte"),
        metadata={"doc": "one byte streamed from DRAM"})
    lane_cycle: Action = field(
        default_factory=lambda: Action(0.0, "not modelled (no clock-tree figure)"),
        metadata={"doc": "clock and control of one active lane datapath per cycle"})


@dataclass(frozen=True)
class Activity:
    """Expected densities, used when values do not travel (``--numerics off``)."""

    weight_density: float = spec(
        0.69, doc="nonzero fraction of ternary weights (Gaussian weights ternarised at "
                  "0.5 mean|W|: P(|z| > 0.4) = 0.69)", ge=0, le=1)
    activation_density: float = spec(
        0.98, doc="nonzero fraction of int8 activations", ge=0, le=1)


@dataclass(frozen=True)
class Allowance:
    """Logic the characterised units do not include, as a fraction of theirs, and why."""

    fraction: float = spec(doc="LUTs and flip-flops of control (sequencer, instruction "
                               "memory, vector-register ports, DRAM interface) per LUT or "
                               "flip-flop of the characterised units", ge=0, le=10)
    source: str = spec(doc="why this fraction (a source, or 'assumption: ...')")


@dataclass(frozen=True)
class Device:
    """The chip and board a schedule's design is built on: the budgets it must fit.

    Units' resources come from the characterisation records (ECP5 cells: LUT4,
    TRELLIS_FF, 18x18 multipliers, 18-Kbit block RAM); ``lut`` is counted in
    4-input LUTs (a 6-input LUT or an ALM holds at least one), so on other
    families the fit is conservative in logic, and block RAM is compared in bits.
    """

    name: str = spec(doc="part and board, as the data sheet names them")
    lut: int = spec(doc="4-input LUTs available to the design", gt=0)
    ff: int = spec(doc="flip-flops available to the design", gt=0)
    dsp: int = spec(doc="hard multiplier blocks (each holds at least one 18x18 product)",
                    ge=0)
    bram: int = spec(doc="block RAM blocks available to the design", ge=0)
    bram_bits: int = spec(doc="bits per block RAM block", gt=0)
    dram_bytes: int = spec(doc="DRAM on the board for the weights, bytes", ge=0)
    source: str = spec(doc="where the figures come from (data sheets)")
    fmax_mhz: Optional[float] = spec(
        None, doc="highest clock a design of this kind closes timing at on this part; "
                  "used when the schedule does not use the units' records "
                  "(use_characterization: false)", gt=0)
    control: Allowance = field(
        default_factory=lambda: Allowance(0.25, "assumption: a quarter of the units' "
                                                "logic for control; not measured"),
        metadata={"doc": "allowance for logic outside the characterised units"})


@dataclass(frozen=True)
class ScheduleConfig:
    """A platform and a mapping: where the model runs, how fast, at what energy, in what formats."""

    name: str = spec("default", doc="a label for reports")
    clock_mhz: float = spec(100.0, doc="fabric clock, MHz (1 kHz to 100 GHz)", ge=1e-3,
                            le=1e5)
    compute_units: int = spec(1, doc="compute units running in parallel, each with its own "
                                     "weight stream; lanes are spread across them", gt=0,
                              le=4096)
    lanes: int | tuple[int, ...] = spec(
        1, doc="sequences decoded together, sharing one weight stream per compute unit: "
               "a total spread evenly across the compute units, or a list of lanes per "
               "compute unit (e.g. [14, 14, 14, 6])", gt=0, le=1 << 24)
    units: Units = field(default_factory=Units, metadata={"doc": "functional units"})
    use_characterization: bool = spec(
        True, doc="take unit latency and II from rtl/characterization.json when it has "
                  "a record (false when the schedule models someone else's RTL)")
    characterization: Optional[Path] = spec(
        None, doc="characterisation records of the RTL units (JSON); null: "
                  "rtl/characterization.json of this package")
    device: Optional[Device] = spec(
        None, doc="the part the design is built on and its budgets; null: no device fit")
    memory: Memory = field(default_factory=Memory, metadata={"doc": "DRAM system"})
    onchip: OnChip = field(default_factory=OnChip, metadata={"doc": "on-chip memory"})
    host: tuple[str, ...] = spec(
        (), doc="node-name prefixes run on the host and excluded (e.g. model.embeddings, "
                "lm_head)")
    overlap: Overlap = field(default_factory=Overlap, metadata={"doc": "overlap policy"})
    prefill: Prefill = field(default_factory=Prefill, metadata={"doc": "prompt processing"})
    numerics: Numerics = field(default_factory=Numerics,
                               metadata={"doc": "number formats"})
    energy: Energy = field(default_factory=Energy, metadata={"doc": "energy table"})
    activity: Activity = field(default_factory=Activity,
                               metadata={"doc": "expected densities for --numerics off"})

    @property
    def lanes_per_cu(self) -> tuple[int, ...]:
        """Lanes of each compute unit: as listed, or the total spread as evenly as possible."""
        if isinstance(self.lanes, tuple):
            return self.lanes
        cus, n = self.compute_units, self.lanes
        return tuple(n // cus + (1 if k < n % cus else 0) for k in range(cus))

    @property
    def total_lanes(self) -> int:
        """Sequences decoded together, over all compute units."""
        return sum(self.lanes_per_cu)

    def check(self, key: str) -> None:
        """Rules between platform sections."""
        if isinstance(self.lanes, tuple) and len(self.lanes) != self.compute_units:
            fail(f"{key}.lanes", f"an integer or a list of {self.compute_units} lane counts, "
                 f"one per compute unit (compute_units={self.compute_units})",
                 list(self.lanes))
        valid = ("model.embeddings", "model.norm", "lm_head")
        for i, prefix in enumerate(self.host):
            if prefix not in valid:
                fail(f"{key}.host[{i}]", "one of " + ", ".join(valid), prefix)
