"""Characterised units: the simulator's cycles for a unit's operations equal MyHDL's.

Records here are built from ``rtl.characterize.timing`` (MyHDL simulation only,
no Yosys), so the tests do not depend on rtl/characterization.json existing.
"""

from __future__ import annotations

import numpy as np
import pytest

from cosim.config.schedule import ScheduleConfig
from cosim.sim.platform import PASSES, Op, matvec_cycles, unit_timings, vector_cycles
from cosim.sim.records import Records
from cosim.sim.simulator import Simulator
from rtl import characterize, harness, units

OPS = 20


def myhdl_cycles(unit: str, params: dict, ops: int) -> int:
    """First input beat to last output beat of ``ops`` back-to-back operations in MyHDL."""
    spec = units.UNITS[unit]
    params = characterize.normalise(unit, params)
    run = harness.simulate(spec, params,
                           spec.random_stimulus(params, np.random.default_rng(7), ops))
    return run.out_cycles[-1] - run.in_cycles[0]


def measured(*cases: tuple[str, dict]) -> Records:
    """Records of MyHDL-measured timing at each (unit, params)."""
    out = []
    for unit, params in cases:
        params = characterize.normalise(unit, params)
        out.append({"unit": unit, "params": params,
                    **characterize.timing(unit, params, seed=3)})
    return Records(out, "MyHDL timing")


def schedule_with_tp(tp: int) -> ScheduleConfig:
    schedule = ScheduleConfig()
    return ScheduleConfig(units=type(schedule.units)(
        matvec=type(schedule.units.matvec)(tp=tp)))


def simulated(program: list[Op], schedule: ScheduleConfig) -> float:
    return Simulator(program, schedule).step(lanes=1).cycles


def test_matvec_rows_match_myhdl_within_2_percent():
    """A mat-vec of OPS rows is OPS back-to-back row operations."""
    params = {"tp": 16, "cols": 256}
    schedule = schedule_with_tp(16)
    timing = unit_timings(schedule, measured(("matvec", params)))["matvec"]
    assert timing.characterized
    program = [Op("mv", "matvec", "matvec", matvec_cycles(OPS, 256, schedule, timing),
                  0, (), 0, 0)]
    assert simulated(program, schedule) == pytest.approx(
        myhdl_cycles("matvec", params, OPS), rel=0.02)


def test_rowwise_elements_match_myhdl_within_2_percent():
    """The row-wise unit takes one element per operation: a vector op of OPS elements."""
    schedule = ScheduleConfig()
    timing = unit_timings(schedule, measured(("rowwise", {})))["rowwise"]
    cost = vector_cycles(OPS, PASSES["add"][1], schedule.units.rowwise, timing, 1)
    assert simulated([Op("rw", "add", "rowwise", cost, 0, (), 0, 0)], schedule) == \
        pytest.approx(myhdl_cycles("rowwise", {}, OPS), rel=0.02)


@pytest.mark.parametrize("unit", ["rmsnorm", "quantize"])
def test_vector_unit_at_a_third_size_matches_myhdl_within_2_percent(unit):
    """Records at n=16 and n=64 give cycles(n) = a n + b; one operation at n=40 checks it."""
    schedule = ScheduleConfig()
    timing = unit_timings(schedule, measured((unit, {"n": 16}), (unit, {"n": 64})))[unit]
    assert timing.characterized and "fitted at n=16, n=64" in timing.source
    cost = vector_cycles(40, PASSES[unit][1], getattr(schedule.units, unit), timing, 1)
    assert simulated([Op("v", unit, unit, cost, 0, (), 0, 0)], schedule) == \
        pytest.approx(myhdl_cycles(unit, {"n": 40}, 1), rel=0.02)

