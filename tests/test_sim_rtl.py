"""Characterised units: the simulator's cycles for a unit's operations equal MyHDL's.

Records here are built from ``rtl.characterize.timing`` (MyHDL simulation only,
no Yosys), so the tests do not depend on rtl/characterization.json existing.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from cosim.config import load_schedule, parse_overrides
from cosim.config.schedule import ScheduleConfig
from cosim.sim.platform import PASSES, Op, UnitTiming, matvec_cycles, unit_timings, vector_cycles
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


@functools.cache
def fitted(unit: str) -> UnitTiming:
    """The unit's timing from records measured in MyHDL at n=32 and n=64."""
    timing = unit_timings(ScheduleConfig(), measured((unit, {"n": 32}), (unit, {"n": 64})))[unit]
    assert timing.characterized and "fitted at n=32, n=64" in timing.source
    return timing


def vector_op(name: str, unit: str, n: int) -> Op:
    """One pass of ``unit`` over n elements, timed from the fitted records."""
    schedule, timing = ScheduleConfig(), fitted(unit)
    cost = vector_cycles(n, PASSES[unit][1], getattr(schedule.units, unit), timing, 1)
    return Op(name, unit, unit, cost, 0, (), 0, 0, tail=timing.tail_cycles(n, cost))


@pytest.mark.parametrize("unit", ["rmsnorm", "quantize"])
def test_vector_unit_at_a_third_size_matches_myhdl_within_2_percent(unit):
    """Records at n=32 and n=64 give cycles(n) = a n + b; one operation at n=48 checks it."""
    assert simulated([vector_op("v", unit, 48)], ScheduleConfig()) == \
        pytest.approx(myhdl_cycles(unit, {"n": 48}, 1), rel=0.02)


@pytest.mark.parametrize("unit", ["rmsnorm", "quantize"])
@pytest.mark.parametrize("policy", ["dataflow", "lanes sharing the unit"])
def test_back_to_back_operations_at_a_third_size_match_myhdl_within_2_percent(unit, policy):
    """OPS vectors of n=48 follow each other at the unit's issue interval (about n for the
    double-buffered quantiser, while each lasts about 2n): independent operations under
    the dataflow policy, or OPS lanes taking turns on one unit of a compute unit.
    Below n of about 24 the quantiser's divider (about 43 cycles a vector) sets its
    II, which the fitted line does not model; the records sit above that knee."""
    if policy == "dataflow":
        schedule = load_schedule(None, parse_overrides(
            ["schedule.overlap.rowwise_with_matvec=true"]))
        cycles = simulated([vector_op(f"v{k}", unit, 48) for k in range(OPS)], schedule)
    else:
        schedule = load_schedule(None, parse_overrides(
            ["schedule.compute_units=1", f"schedule.units.{unit}.per=cu"]))
        cycles = Simulator([vector_op("v", unit, 48)], schedule).step(lanes=OPS).cycles
    assert cycles == pytest.approx(myhdl_cycles(unit, {"n": 48}, OPS), rel=0.02)
