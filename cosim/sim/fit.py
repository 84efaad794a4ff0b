"""Device fit: do the instantiated units, their control and the lanes' state fit the part?

The resources of each unit come from the characterisation records at the sizes
the schedule builds it with (:mod:`cosim.sim.records`), times its instances,
plus the schedule's stated allowance for control logic the records do not
cover. They are compared with the budgets of ``schedule.device``; the clock is
compared with the slowest instantiated unit's routed Fmax; the weights the
platform streams are compared with the board's DRAM. Whatever does not hold is
returned as a warning sentence, which the report lists and the CLI prints.
"""

from __future__ import annotations

import math
from typing import Optional

import networkx as nx

from cosim.config.model import ModelConfig
from cosim.config.schedule import Numerics, ScheduleConfig
from cosim.sim.platform import UNITS, Op, accelerator_weight_bytes, lane_state_bytes, record_prefer
from cosim.sim.records import Records, Series

#: bits of one ECP5 DP16KD block RAM, the block the records count
RECORD_BRAM_BITS = 18 * 1024
#: 4-input LUTs one TRELLIS_DPR16X4 distributed-RAM cell occupies: the two RAM slices of
#: a PFU (nextpnr-ecp5 --85k lists one RAMW site per PFU of 8 LUT4s, 10,455 of them:
#: the data sheet's 669 Kbit of distributed RAM is 10,455 x 64 bits)
LUTRAM_LUT4 = 4
#: report key -> record key of the resources summed over the units
SUMMED = {"lut": "lut4_total", "ff": "ff", "dsp": "dsp", "bram": "bram", "lutram": "lutram"}


def unit_sizes(program: list[Op], graph: nx.DiGraph, schedule: ScheduleConfig) -> dict:
    """The size each unit is built for: mat-vec its TP, a vector unit its longest vector."""
    sizes: dict[str, Optional[float]] = {"matvec": float(schedule.units.matvec.tp),
                                         "rowwise": None}
    for unit in ("rmsnorm", "quantize"):
        sizes[unit] = float(max((graph.nodes[op.name]["size"] for op in program
                                 if op.unit == unit), default=1))
    return sizes


def device_fit(schedule: ScheduleConfig, cfg: ModelConfig, program: list[Op],
               graph: nx.DiGraph, records: Records, instances: dict[str, int],
               lanes: int) -> tuple[dict, list[str]]:
    """The ``fit`` section of the report, and the warnings it raises."""
    device = schedule.device
    if device is None:
        return {"fits": None, "device": None,
                "note": "the schedule names no device: nothing to fit against"}, []
    sizes = unit_sizes(program, graph, schedule)
    units, used, missing = {}, dict.fromkeys(SUMMED, 0.0), []
    for unit in UNITS:
        series, numerics_note = _series(records, unit, schedule)
        if series is None:
            missing.append(unit)
            continue
        x = sizes[unit]
        one = {key: series.at(x, rec) or 0.0 for key, rec in SUMMED.items()}
        n = instances[unit]
        for key in SUMMED:
            used[key] += one[key] * n
        units[unit] = {"instances": n, "size": {series.axis: x} if series.axis else {},
                       "basis": series.basis(x) + numerics_note,
                       "fmax_mhz": series.fmax(x), "measured_on": series.device,
                       **{f"{key}_each": one[key] for key in SUMMED}}
    allowance = device.control
    control = {"fraction": allowance.fraction, "source": allowance.source,
               "lut": allowance.fraction * (used["lut"] + LUTRAM_LUT4 * used["lutram"]),
               "ff": allowance.fraction * used["ff"]}
    bram_blocks = sum(math.ceil(u["bram_each"] * RECORD_BRAM_BITS / device.bram_bits)
                      * u["instances"] for u in units.values())
    weights = accelerator_weight_bytes(program)
    resident = weights if schedule.onchip.weights == "onchip" else 0
    onchip = (lanes * lane_state_bytes(cfg, schedule) + resident
              + sum(u["bram_each"] * u["instances"] for u in units.values())
              * RECORD_BRAM_BITS / 8)
    resources = {
        "lut": (used["lut"] + LUTRAM_LUT4 * used["lutram"] + control["lut"], device.lut),
        "ff": (used["ff"] + control["ff"], device.ff),
        "dsp": (used["dsp"], device.dsp),
        "bram": (bram_blocks, device.bram),
        "onchip_bytes": (onchip, schedule.onchip.bytes),
        "dram_bytes": (weights if schedule.onchip.weights == "dram" else 0, device.dram_bytes),
    }
    fit = {"device": device.name, "device_source": device.source,
           "basis": _basis(schedule, records, missing),
           "fits": None if missing else all(u <= a for u, a in resources.values()),
           "resources": {key: {"used": u, "available": a,
                               "utilization": u / a if a else None}
                         for key, (u, a) in resources.items()},
           "control": control, "units": units, "missing_records": missing}
    fit["clock"] = _clock(schedule, units)
    return fit, _warnings(fit, schedule, cfg)


def _series(records: Records, unit: str, schedule: ScheduleConfig
            ) -> tuple[Optional[Series], str]:
    """The unit's records at the schedule's numerics, else at the default numerics."""
    prefer = record_prefer(schedule, unit)
    series = records.series(unit, schedule.numerics, prefer)
    if series is None and schedule.numerics != Numerics():
        series = records.series(unit, Numerics(), prefer)
        return series, "; records at the default numerics (the schedule's formats differ)"
    return series, ""


def _basis(schedule: ScheduleConfig, records: Records, missing: list[str]) -> str:
    text = (f"units' resources from {records.source}, interpolated to the schedule's sizes, "
            "times instances, plus the control allowance; block RAM compared in bits")
    if not schedule.use_characterization:
        text = ("this package's units stand in for another RTL (the schedule models it, "
                "use_characterization: false), so the logic is an estimate of equivalent "
                "units, not that RTL's utilisation; " + text)
    if missing:
        text += f"; no record for {', '.join(missing)}: the fit is unknown"
    return text


def _clock(schedule: ScheduleConfig, units: dict) -> dict:
    """The clock against the slowest instantiated unit's routed Fmax (or the device's)."""
    clock = {"clock_mhz": schedule.clock_mhz, "fmax_mhz": None, "limited_by": None}
    if schedule.use_characterization:
        known = {u: d["fmax_mhz"] for u, d in units.items() if d["fmax_mhz"]}
        if known:
            slowest = min(known, key=known.get)
            clock.update(fmax_mhz=known[slowest], limited_by=slowest,
                         basis=f"routed Fmax of the slowest instantiated unit on "
                               f"{units[slowest]['measured_on']} (the lowest of its recorded "
                               "Fmax figures), from the characterisation records")
    elif schedule.device.fmax_mhz:
        clock.update(fmax_mhz=schedule.device.fmax_mhz, limited_by="device",
                     basis="schedule.device.fmax_mhz (see device_source)")
    if clock["fmax_mhz"] is None:
        clock["basis"] = "no routed Fmax known for this design"
    return clock


def _warnings(fit: dict, schedule: ScheduleConfig, cfg: ModelConfig) -> list[str]:
    out = []
    c = fit["clock"]
    if c["fmax_mhz"] and schedule.clock_mhz > c["fmax_mhz"]:
        what = ("the device's stated Fmax" if c["limited_by"] == "device"
                else f"the routed Fmax of its slowest unit, {c['limited_by']}")
        out.append(f"schedule.clock_mhz={schedule.clock_mhz:g} is above {what} "
                   f"({c['fmax_mhz']:g} MHz): the design would not close timing")
    res = fit["resources"]
    over = [f"{key} {r['used']:,.0f} of {r['available']:,}" for key, r in res.items()
            if key != "dram_bytes" and r["used"] > r["available"]]
    if over:
        out.append(f"the design does not fit {fit['device']}: " + "; ".join(over))
    dram = res["dram_bytes"]
    if dram["used"] > dram["available"]:
        out.append(f"{cfg.name}'s {dram['used']:,.0f} bytes of weights exceed the "
                   f"{dram['available']:,} bytes of DRAM of {fit['device']}")
    return out
