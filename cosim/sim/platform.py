"""The timing model of one lane's datapath, and the checks that need the model too.

Every graph node maps to a unit and a duration in cycles. Durations come from
the schedule's unit parameters; when ``rtl/characterization.json`` holds a
record for a unit, its measured latency and initiation interval replace the
schedule's (and the unit is reported ``characterized: true``); otherwise the
analytic stand-in is used and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import networkx as nx

from cosim.config.model import ModelConfig
from cosim.config.schedule import Numerics, ScheduleConfig
from cosim.config.schema import as_dict
from cosim.errors import ConfigError
from cosim.graph import ordered

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

#: characterisation unit names of the RTL, by simulator unit
RTL_NAMES = {"matvec": "matvec", "rmsnorm": "rmsnorm", "quantize": "quantize",
             "rowwise": "rowwise"}


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


@dataclass(frozen=True)
class UnitTiming:
    """Latency and II of a unit, and whether they were measured."""

    latency: float
    ii: float
    characterized: bool
    source: str
    row_cycles: Optional[float] = None      # measured cycles per mat-vec row
    per_element: Optional[float] = None     # measured cycles per element of a pass


def unit_timings(schedule: ScheduleConfig,
                 lookup: Callable[[str, dict], Optional[dict]] | None = None
                 ) -> dict[str, UnitTiming]:
    """Each unit's latency and II: characterisation records when present, else the schedule."""
    if lookup is None and schedule.use_characterization:
        from rtl.characterize import lookup
    out = {}
    for unit in UNITS:
        params = unit_params(schedule, unit)
        cfg = getattr(schedule.units, unit)
        record = lookup(RTL_NAMES[unit], params) if lookup else None
        if record and record.get("ii_cycles") and record.get("latency_cycles") is not None:
            # back to back, K operations take (K - 1) * II + last_out cycles:
            # each costs its II, and the pipeline drains once (last_out - II)
            ii = float(record["ii_cycles"])
            drain = max(0.0, float(record.get("last_out_cycles", record["latency_cycles"]))
                        - ii)
            if unit == "matvec":
                out[unit] = UnitTiming(drain, 1.0, True, "rtl/characterization.json",
                                       row_cycles=ii - params["cols"] / params["tp"])
            else:   # rowwise operations are one element each
                out[unit] = UnitTiming(drain, 1.0, True, "rtl/characterization.json",
                                       per_element=ii / params.get("n", 1))
        else:
            why = ("analytic stand-in (schedule parameters)" if schedule.use_characterization
                   else "analytic (schedule models another RTL; characterisation not used)")
            out[unit] = UnitTiming(float(cfg.latency), float(cfg.ii), False, why)
    return out


def unit_params(schedule: ScheduleConfig, unit: str) -> dict:
    """The parameters a characterisation record of ``unit`` is looked up by.

    Records without a ``numerics`` key were measured at the default numerics, so
    a schedule with other formats only matches records made for its formats.
    """
    if unit == "matvec":
        tp = schedule.units.matvec.tp
        params = {"tp": tp, "cols": max(256, tp)}
    elif unit == "rowwise":
        params = {}
    else:
        params = {"n": 64}
    if schedule.numerics != Numerics():
        params["numerics"] = as_dict(schedule.numerics)
    return params


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
        unit, cycles, wbytes, accesses = None, 0.0, 0, 0
        if kind == "matvec":
            rows, cols = d["shape"]
            unit = "matvec"
            cycles = matvec_cycles(rows, cols, schedule, timings["matvec"])
            wbytes = d["weight_bytes"]
            accesses = cols + rows
        elif kind in PASSES:
            unit, passes = PASSES[kind]
            if kind == "recurrence" and cfg.variant == "paper":
                passes = PAPER_RECURRENCE
            ucfg = getattr(schedule.units, unit)
            cycles = vector_cycles(d["size"], passes, ucfg, timings[unit], ports)
            accesses = d["size"] * sum(r + w for r, w in passes)
        if host:
            unit, cycles, wbytes = None, 0.0, 0
        transfers = 0.0
        if unit is not None and d["layer"] >= 0 and d["layer"] not in seen:
            seen.add(d["layer"])        # a layer's activation traffic, before its first op
            transfers = spills
        ops.append(Op(name, kind, unit, cycles, d["layer"], tuple(d["inputs"]), wbytes,
                      accesses, host, transfers, cfg.hidden_size))
    return ops


def lane_state_bytes(cfg: ModelConfig, schedule: ScheduleConfig) -> int:
    """On-chip bytes one lane needs: recurrent state of every layer, vector registers."""
    bytes_per = math.ceil(schedule.numerics.rowwise.bits / 8)
    widest = max(cfg.hidden_size, 2 * cfg.intermediate)
    state = cfg.num_hidden_layers * cfg.hidden_size * bytes_per
    return state + schedule.onchip.vector_registers * widest * bytes_per


def validate(schedule: ScheduleConfig, cfg: ModelConfig, weight_bytes: int) -> None:
    """Rules that need both the schedule and the model; ConfigError naming the key."""
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
