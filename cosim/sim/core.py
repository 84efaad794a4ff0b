"""Run the simulator for one model on one schedule and assemble the report sections."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import networkx as nx
import numpy as np

from cosim.config.model import ModelConfig
from cosim.config.schedule import ScheduleConfig
from cosim.sim.energy import power_report
from cosim.sim.fit import device_fit
from cosim.sim.platform import UNITS, accelerator_weight_bytes, lane_program, unit_timings, validate
from cosim.sim.records import Records
from cosim.sim.simulator import Carry, Simulator, StepResult


@dataclass
class SimOutcome:
    """The report sections, plus what the CLI may write to files."""

    report: dict
    decode: StepResult
    logits: Optional[np.ndarray] = None
    trace: list = field(default_factory=list)


def simulate(graph: nx.DiGraph, cfg: ModelConfig, schedule: ScheduleConfig, *,
             engine: Any = None, tokens: Optional[list[int]] = None,
             trace: bool = False, records: Optional[Records] = None,
             progress=None, prefill: bool = True) -> SimOutcome:
    """Time decode and prefill of ``cfg`` on ``schedule``; with ``engine``, carry values.

    ``engine`` (a FixedEngine) and ``tokens`` switch on co-simulation: lane 0
    computes every value at its event for each token, and activity is counted
    from those values; otherwise the schedule's expected densities are used.
    ``records`` default to the characterisation file the schedule names.
    ``prefill=False`` skips the prefill pass (and its report section), which
    costs as much as the decode step; sweeps ask for it only when they need it.
    """
    if records is None:
        records = Records.load(schedule.characterization)
    timings = unit_timings(schedule, records)
    program = lane_program(graph, schedule, cfg, timings)
    validate(schedule, cfg, accelerator_weight_bytes(program))
    sim = Simulator(program, schedule, trace=trace)
    wall = time.perf_counter()
    decode = sim.step()
    wall = time.perf_counter() - wall
    logits = None
    carry = None
    if engine is not None and tokens:
        nz = {name: np.count_nonzero(t.matrix, axis=0).astype(np.float64)
              for name, t in engine.weights.ternary.items()}
        carry = Carry(engine, nz)
        rows = []
        for token in (progress(tokens) if progress else tokens):
            carry.begin(token)
            sim.step(lanes=1, carry=carry)
            rows.append(engine.real(carry.last))
        logits = np.stack(rows)
    clock = schedule.clock_mhz * 1e6
    lanes = schedule.total_lanes
    step_s = decode.cycles / clock
    tps = decode.tokens_per_cycle * clock
    mem = schedule.memory
    sustained = mem.gb_per_s * 1e9 * mem.efficiency     # bytes/s of one channel
    report = {
        "decode": {
            "tokens_per_s": tps, "tokens_per_s_per_lane": tps / lanes,
            "cycles_per_step": decode.cycles, "cycles_per_token": 1 / decode.tokens_per_cycle,
            "latency_ms": step_s * 1e3,
            "block_ms": _block_ms(decode, cfg, clock), "lanes": lanes,
            "active_compute_units": decode.active_cus,
            "events": decode.events, "simulation_s": wall,
        },
        "units": _units(decode, schedule, timings),
        "memory": {
            "utilization": decode.bytes_per_cycle * clock
            / (max(decode.active_channels, 1) * sustained),
            "active_channels": decode.active_channels,
            "stall_share_of_active_time": decode.dram_stall / _active_time(decode),
            "dram_bytes_per_step": decode.dram_bytes,
            "activation_bytes_per_step": decode.activation_bytes,
            "peak_gb_per_s": mem.channels * mem.gb_per_s,
            "sustained_gb_per_s": mem.channels * mem.gb_per_s * mem.efficiency,
            "achieved_gb_per_s": decode.bytes_per_cycle * clock / 1e9,
            "weights": schedule.onchip.weights,
        },
    }
    if prefill:
        batch = schedule.prefill.batch or schedule.total_lanes
        report["prefill"] = _prefill(sim.step(lanes=batch, scan=batch), schedule, batch, clock)
    report["bottleneck"] = _bottleneck(report)
    report["roofline"] = roofline(graph, schedule, tps, program, decode)
    actions, activity = _actions(program, graph, schedule, decode, carry)
    report["activity"] = activity
    report["power"], report["energy"], report["brain"] = power_report(actions, schedule, tps)
    report["accelerator"] = _work(graph, program, host=False)
    report["host"] = {"excluded": list(schedule.host), **_work(graph, program, host=True),
                      "note": "nodes on the host are excluded from time and energy"}
    instances = {u: d["instances"] for u, d in report["units"].items()}
    report["fit"], report["warnings"] = device_fit(schedule, cfg, program, graph, records,
                                                   instances, lanes)
    return SimOutcome(report, decode, logits, decode.trace)


def _work(graph: nx.DiGraph, program, host: bool) -> dict:
    """Weights read and operations per token of the accelerator's nodes, or the host's."""
    nodes = [graph.nodes[op.name] for op in program if op.host == host]
    return {"weight_bytes_per_token": sum(d["weight_bytes"] for d in nodes),
            "ternary_adds_per_token": sum(d["ternary_adds"] for d in nodes),
            "rowwise_ops_per_token": sum(d["rowwise_ops"] for d in nodes)}


def _block_ms(step: StepResult, cfg: ModelConfig, clock: float) -> float:
    layers = [c for layer, c in step.layer_cycles.items() if layer >= 0]
    return (sum(layers) / max(len(layers), 1)) / clock * 1e3


def _prefill(step: StepResult, schedule: ScheduleConfig, batch: int, clock: float) -> dict:
    seconds = step.cycles / clock
    passes = -(-schedule.prefill.tokens // batch)
    return {"tokens_per_s": batch / seconds, "batch": batch,
            "prompt_tokens": schedule.prefill.tokens,
            "prompt_ms": passes * seconds * 1e3,
            "cycles_per_pass": step.cycles,
            "model": "prompt tokens batched on the lane datapaths through one weight "
                     "stream per pass; the MLGRU recurrence scans them serially"}


def _units(step: StepResult, schedule: ScheduleConfig, timings) -> dict:
    out = {}
    for unit in UNITS:
        busy = step.busy.get(unit, 0.0)
        t = timings[unit]
        out[unit] = {
            "utilization": busy / (step.cycles * schedule.compute_units),
            "share_of_active_time": busy / _active_time(step),
            "busy_cycles_per_step": busy,
            "characterized": t.characterized,
            "timing_source": t.source, "latency_cycles": t.latency, "ii_cycles": t.ii,
            "instances": (step.lanes if getattr(schedule.units, unit).per == "lane"
                          else step.active_cus),
        }
    return out


def _active_time(step: StepResult) -> float:
    """Cycles the compute units with lanes spend on their steps, summed over them."""
    return sum(step.finish.values()) or step.cycles * max(step.active_cus, 1)


def _bottleneck(report: dict) -> str:
    """The unit, or DRAM, that holds the active compute units longest.

    A unit's share is its busy time; DRAM's is the time units stood waiting for
    it (weights: latency and streaming beyond the unit's own cycles; activation
    loads and stores: all of their time).
    """
    shares = {u: d["share_of_active_time"] for u, d in report["units"].items()}
    mem = report["memory"]
    unit = max(shares, key=shares.get)
    if mem["stall_share_of_active_time"] >= shares[unit]:
        return (f"dram ({mem['stall_share_of_active_time']:.0%} of the active time waiting "
                f"for DRAM; active channels {mem['utilization']:.0%} busy)")
    return f"{unit} ({shares[unit]:.0%} of the active time)"


def roofline(graph, schedule: ScheduleConfig, tps: float, program, step: StepResult) -> dict:
    """Where the design sits under its compute and memory roofs (ternary adds / DRAM byte).

    Both roofs count only what the step used: the adder trees of the lanes that
    exist and the channels of the compute units that have lanes. The intensity
    is the step's ternary adds per byte it moved from DRAM (None without DRAM
    traffic: weights on chip).
    """
    clock = schedule.clock_mhz * 1e6
    adds = sum(graph.nodes[op.name]["ternary_adds"] for op in program if op.unit == "matvec")
    mv = schedule.units.matvec
    trees = step.lanes if mv.per == "lane" else max(step.active_cus, 1)
    peak = trees * mv.tp / mv.ii * clock
    mem = schedule.memory
    intensity = bw = memory_roof = None
    if step.dram_bytes:
        intensity = adds * step.lanes / step.dram_bytes
        bw = step.active_channels * mem.gb_per_s * 1e9 * mem.efficiency
        memory_roof = intensity * bw
    attainable = peak if memory_roof is None else min(peak, memory_roof)
    achieved = adds * tps
    return {"intensity_adds_per_byte": intensity, "peak_adds_per_s": peak,
            "bandwidth_bytes_per_s": bw,
            "attainable_adds_per_s": attainable, "achieved_adds_per_s": achieved,
            "bound": "memory" if memory_roof is not None and memory_roof < peak else "compute",
            "fraction_of_roof": achieved / attainable if attainable else 0.0}


def _actions(program, graph, schedule: ScheduleConfig, step: StepResult,
             carry: Optional[Carry]) -> tuple[dict, dict]:
    """Counted actions per token, and where the activity figures came from."""
    lanes = schedule.total_lanes
    dense = sum(graph.nodes[op.name]["ternary_adds"] for op in program if op.unit == "matvec")
    if carry is not None and carry.counts["dense_adds"]:
        c = carry.counts
        act = 1 - c["zero_activations"] / c["activations"]
        weight = c["nonzero_weights"] / c["dense_adds"]
        useful = c["useful_adds"] / c["dense_adds"]
        source = "counted from the fixed-point values carried by the simulation"
    else:
        act = schedule.activity.activation_density
        weight = schedule.activity.weight_density
        useful = act * weight
        source = "expected densities from the schedule (--numerics off)"
    adds = dense * (useful if schedule.units.matvec.skip_zeros else 1.0)
    wbytes = sum(op.weight_bytes for op in program if op.unit == "matvec")
    streams = step.active_cus
    actions = {
        "ternary_add": adds,
        "rowwise_op": float(sum(graph.nodes[op.name]["rowwise_ops"] for op in program
                                if op.unit is not None)),
        "sram_access": float(sum(op.accesses for op in program if op.unit is not None)),
        "weight_sram_byte": wbytes * streams / lanes if schedule.onchip.weights == "onchip"
        else 0.0,
        # per token at the decode rate: compute units with fewer lanes step sooner
        "dram_byte": step.bytes_per_cycle / step.tokens_per_cycle,
        "lane_cycle": lanes / step.tokens_per_cycle,
    }
    activity = {"source": source, "activation_density": act, "weight_density": weight,
                "useful_add_fraction": useful,
                "event_driven_matvec": schedule.units.matvec.skip_zeros}
    return actions, activity
