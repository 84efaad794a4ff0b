"""The timing model of one lane's datapath, and the checks that need the model too.

Every graph node maps to a unit and a duration in cycles. Durations come from
the schedule's unit parameters; when the characterisation records
(``schedule.characterization``, read by :mod:`cosim.sim.records`) hold a unit,
its measured latency and initiation interval, interpolated to the schedule's
sizes, replace the schedule's (and the unit is reported ``characterized:
true``); otherwise the analytic stand-in is used and the report says so.

An operation has two figures: its ``cycles``, from its first input to its last
result, and its issue interval, after which the unit accepts the next
operation. They differ for a pipelined or double-buffered unit (the quantiser
takes the next vector after about n cycles while the last one still needs
about n more); the records give both, and the analytic stand-in issues the next
operation only when the last has left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import networkx as nx

from cosim.config.model import ModelConfig
from cosim.config.schedule import ScheduleConfig
from cosim.errors import ConfigError
from cosim.graph import ordered
from cosim.sim.records import Records, Series

#: unit of each node kind, and its passes over the vector registers as (reads, writes)
PASSES: dict[str, tuple[str, tuple[tuple[int, int], ...]]] = {
    "rmsnorm": ("rmsnorm", ((1, 0), (1, 1))),        # sum of squares; scale
    "quantize": ("quantize", ((1, 0), (1, 1))),      # absmax; scale and round
    "dequantize": ("rowwise", ((1, 1),)),
    "sigmoid": ("rowwise", ((1, 1),)),
    "silu": ("rowwise", ((1, 1),)),
    "one_minus": ("rowwise", ((1, 1),)),
    "add": ("rowwise", ((2, 1),)),
    "mul": ("rowwise", ((2, 1),)),
    "lower_bound": ("rowwise", ((2, 1), (2, 1))),    # (1 - lb) * f; + lb
    "recurrence": ("rowwise", ((2, 1), (2, 1))),     # f * h; + i
}
PAPER_RECURRENCE = ((1, 1), (2, 1), (2, 1), (2, 1))  # 1 - f; * x; f * h; +
FREE_KINDS = ("split", "constant")
UNITS = ("matvec", "rmsnorm", "quantize", "rowwise")


@dataclass(frozen=True)
class Op:
    """One node's work on a lane datapath (or on the host)."""

    name: str
    kind: str
    unit: Optional[str]        # None: free or on the host
    cycles: float              # duration on its unit for one lane
    layer: int
    inputs: tuple[str, ...]
    weight_bytes: int          # bytes streamed from memory (mat-vec only)
    accesses: int              # vector-register element accesses
    host: bool = False
    transfers: float = 0.0     # activation vectors moved to/from DRAM before it, per lane
    vector: int = 0            # elements of one such vector (the hidden size)
    tail: float = 0.0          # of ``cycles``: the last ones, when the unit already takes the next

    @property
    def issue(self) -> float:
        """Cycles until the unit accepts the next operation."""
        return self.cycles - self.tail


@dataclass(frozen=True)
class UnitTiming:
    """Latency and II of a unit, and whether they were measured."""

    latency: float
    ii: float
    characterized: bool
    source: str
    row_cycles: Optional[float] = None      # measured cycles per mat-vec row
    per_element: Optional[float] = None     # measured cycles per element of a pass
    #: cycles an operation runs on after the unit accepts the next one, as
    #: (per element or row, fixed); the analytic stand-in has none
    tail: tuple[float, float] = (0.0, 0.0)

    def tail_cycles(self, size: float, cycles: float) -> float:
        """The tail of an operation of ``size`` elements (or rows) lasting ``cycles``."""
        per, fixed = self.tail
        return min(cycles, max(0.0, per * size + fixed))


def unit_timings(schedule: ScheduleConfig, records: Records) -> dict[str, UnitTiming]:
    """Each unit's latency and II: characterisation records when used and present, else the
    schedule's analytic figures."""
    out = {}
    for unit in UNITS:
        series = (records.series(unit, schedule.numerics, record_prefer(schedule, unit))
                  if schedule.use_characterization else None)
        if series and all(r.get("ii_cycles") and r.get("latency_cycles") is not None
                          for _, r in series.points):
            out[unit] = _measured(unit, series, schedule, records.source)
        else:
            cfg = getattr(schedule.units, unit)
            why = ("analytic stand-in (schedule parameters)" if schedule.use_characterization
                   else "analytic (schedule models another RTL; characterisation not used)")
            out[unit] = UnitTiming(float(cfg.latency), float(cfg.ii), False, why)
    return out


def _measured(unit: str, series: Series, schedule: ScheduleConfig, source: str) -> UnitTiming:
    """Timing from records: an operation lasts its last_out cycles and issues after its II.

    Back to back, K operations take (K - 1) * II + last_out cycles: each costs its
    II and the last one drains (last_out - II). A mat-vec row is one operation of
    ceil(cols / tp) beats and a mat-vec's rows follow at that II, so its tail is
    the drain of its last row. A vector pass of n elements is one operation whose
    cycles and II each grow as a * n + b, fitted over the recorded sizes (with one
    size: proportional to n, and the source says so); its tail is their difference.
    """
    def drain(r: dict) -> float:
        return max(0.0, float(r.get("last_out_cycles", r["latency_cycles"])) - r["ii_cycles"])

    if unit == "matvec":
        tp = schedule.units.matvec.tp
        row = series.at(tp, lambda r: r["ii_cycles"]
                        - math.ceil(r["params"]["cols"] / r["params"]["tp"]))
        last = series.at(tp, drain)
        return UnitTiming(last, 1.0, True, f"{source}: {series.basis(tp)}", row_cycles=row,
                          tail=(0.0, last))
    line = series.line(lambda r: r["ii_cycles"] + drain(r))
    issue = series.line(lambda r: r["ii_cycles"])
    if line is not None:
        per, fixed = line
        return UnitTiming(fixed, 1.0, True,
                          f"{source}: cycles = {per:.4g} n + {fixed:.4g}, issue interval = "
                          f"{issue[0]:.4g} n + {issue[1]:.4g}, fitted at "
                          + ", ".join(f"n={n:g}" for n in series.sizes), per_element=per,
                          tail=(per - issue[0], fixed - issue[1]))
    x, r = series.points[0]
    n = x if series.axis else 1.0
    how = f"one size recorded (n={n:g}): cycles taken as proportional to n" \
        if series.axis else series.basis(None)
    return UnitTiming(drain(r), 1.0, True, f"{source}: {how}",
                      per_element=r["ii_cycles"] / n, tail=(0.0, drain(r)))


def record_prefer(schedule: ScheduleConfig, unit: str) -> dict:
    """Parameters a record is preferred for when several share a size (matvec: its cols)."""
    tp = schedule.units.matvec.tp
    return {"cols": max(256, tp)} if unit == "matvec" else {}


def vector_cycles(elements: int, passes, cfg, timing: UnitTiming, ports: int) -> float:
    """Cycles of element-wise passes on a vector unit."""
    if timing.per_element is not None:    # measured: ports and width are inside
        return elements * timing.per_element + timing.latency
    groups = math.ceil(elements / cfg.elements_per_cycle)
    return sum(groups * max(timing.ii, math.ceil((r + w) / ports)) + timing.latency
               for r, w in passes)


def matvec_cycles(rows: int, cols: int, schedule: ScheduleConfig,
                  timing: UnitTiming) -> float:
    """Cycles of one mat-vec on one adder tree: beats per row, row drain, latency."""
    mv = schedule.units.matvec
    if timing.row_cycles is not None:       # measured: beats at II 1 plus the row overhead
        return rows * (math.ceil(cols / mv.tp) + timing.row_cycles) + timing.latency
    return rows * (math.ceil(cols / mv.tp) * timing.ii + mv.row_cycles) + timing.latency


def is_host(name: str, schedule: ScheduleConfig) -> bool:
    """Whether node ``name`` runs on the host (excluded from the platform's figures)."""
    return any(name == p or name.startswith(p + ".") for p in schedule.host)


def lane_program(graph: nx.DiGraph, schedule: ScheduleConfig, cfg: ModelConfig,
                 timings: dict[str, UnitTiming]) -> list[Op]:
    """The graph in schedule order as timed operations for one lane."""
    ports = schedule.overlap.vreg_ports
    spills = schedule.memory.activation_transfers_per_layer
    ops = []
    seen: set[int] = set()
    for name in ordered(graph):
        d = graph.nodes[name]
        kind = d["kind"]
        host = is_host(name, schedule) or kind == "embed"
        unit, cycles, wbytes, accesses, size = None, 0.0, 0, 0, 0
        if kind == "matvec":
            rows, cols = d["shape"]
            unit, size = "matvec", rows
            cycles = matvec_cycles(rows, cols, schedule, timings["matvec"])
            wbytes = d["weight_bytes"]
            accesses = cols + rows
        elif kind in PASSES:
            unit, passes = PASSES[kind]
            if kind == "recurrence" and cfg.variant == "paper":
                passes = PAPER_RECURRENCE
            ucfg = getattr(schedule.units, unit)
            size = d["size"]
            cycles = vector_cycles(size, passes, ucfg, timings[unit], ports)
            accesses = d["size"] * sum(r + w for r, w in passes)
        if host:
            unit, cycles, wbytes = None, 0.0, 0
        transfers = 0.0
        if unit is not None and d["layer"] >= 0 and d["layer"] not in seen:
            seen.add(d["layer"])        # a layer's activation traffic, before its first op
            transfers = spills
        tail = timings[unit].tail_cycles(size, cycles) if unit else 0.0
        ops.append(Op(name, kind, unit, cycles, d["layer"], tuple(d["inputs"]), wbytes,
                      accesses, host, transfers, cfg.hidden_size, tail))
    return ops


def lane_state_bytes(cfg: ModelConfig, schedule: ScheduleConfig) -> int:
    """On-chip bytes one lane needs: recurrent state of every layer, vector registers."""
    bytes_per = math.ceil(schedule.numerics.rowwise.bits / 8)
    widest = max(cfg.hidden_size, 2 * cfg.intermediate)
    state = cfg.num_hidden_layers * cfg.hidden_size * bytes_per
    return state + schedule.onchip.vector_registers * widest * bytes_per


def accelerator_weight_bytes(program: list[Op]) -> int:
    """Weight bytes the platform holds: every mat-vec not placed on the host."""
    return sum(op.weight_bytes for op in program if op.unit == "matvec")


def validate(schedule: ScheduleConfig, cfg: ModelConfig, weight_bytes: int) -> None:
    """Rules that need both the schedule and the model; ConfigError naming the key.

    ``weight_bytes`` are the weights the platform holds (host nodes excluded).
    """
    tp, h = schedule.units.matvec.tp, cfg.hidden_size
    if h % tp and tp % h:
        raise ConfigError(f"schedule.units.matvec.tp must divide model.hidden_size={h} "
                          f"(or be a multiple of it), not {tp}")
    resident = weight_bytes if schedule.onchip.weights == "onchip" else 0
    if resident > schedule.onchip.bytes:
        raise ConfigError(
            f"schedule.onchip.weights must be 'dram' for {cfg.name}: its "
            f"{resident:,} bytes of weights exceed schedule.onchip.bytes="
            f"{schedule.onchip.bytes:,}, not 'onchip'")
    per_lane = lane_state_bytes(cfg, schedule)
    room = (schedule.onchip.bytes - resident) // per_lane
    lanes = schedule.total_lanes
    if lanes > room:
        given = lanes if isinstance(schedule.lanes, int) else \
            f"{list(schedule.lanes)} ({lanes} in all)"
        raise ConfigError(
            f"schedule.lanes must be at most {room} in all (schedule.onchip.bytes="
            f"{schedule.onchip.bytes:,} holds {per_lane:,} bytes of state per lane of "
            f"{cfg.name}{' beside its resident weights' if resident else ''}), "
            f"not {given}")
