"""Characterised units: the simulator's cycles for a sequence of operations equal MyHDL's.

The lookup here is built from ``rtl.characterize.timing`` (MyHDL simulation only,
no Yosys), so the test does not depend on rtl/characterization.json existing.
"""

from __future__ import annotations

import numpy as np
import pytest

from cosim.config.schedule import ScheduleConfig
from cosim.sim.platform import PASSES, Op, matvec_cycles, unit_timings, vector_cycles
from cosim.sim.simulator import Simulator
from rtl import characterize, harness, units

OPS = 20
CASES = [("matvec", {"tp": 16, "cols": 256}), ("rmsnorm", {"n": 64}), ("quantize", {"n": 64}),
         ("rowwise", {})]


def myhdl_cycles(unit: str, params: dict) -> int:
    """First input beat to last output beat of OPS back-to-back operations in MyHDL."""
    spec = units.UNITS[unit]
    params = characterize.normalise(unit, params)
    run = harness.simulate(spec, params,
                           spec.random_stimulus(params, np.random.default_rng(7), OPS))
    return run.out_cycles[-1] - run.in_cycles[0]


@pytest.mark.parametrize("unit, params", CASES, ids=[c[0] for c in CASES])
def test_simulated_sequence_matches_myhdl_within_2_percent(unit, params):
    record = characterize.timing(unit, characterize.normalise(unit, params), seed=3)
    records = {unit: record}
    schedule = ScheduleConfig()
    if unit == "matvec":
        schedule = ScheduleConfig(units=type(schedule.units)(
            matvec=type(schedule.units.matvec)(tp=params["tp"])))
    timings = unit_timings(schedule, lambda name, p: records.get(name))
    assert timings[unit].characterized
    if unit == "matvec":    # one mat-vec of OPS rows is OPS back-to-back row operations
        program = [Op("mv", "matvec", "matvec",
                      matvec_cycles(OPS, params["cols"], schedule, timings[unit]), 0, (), 0, 0)]
    elif unit == "rowwise":  # one element per operation: a vector op of OPS elements
        cost = vector_cycles(OPS, PASSES["add"][1], schedule.units.rowwise, timings[unit], 1)
        program = [Op("rw", "add", unit, cost, 0, (), 0, 0)]
    else:                   # OPS vector operations of n elements, one after another
        cost = vector_cycles(params["n"], PASSES[unit][1], getattr(schedule.units, unit),
                             timings[unit], 1)
        program = [Op(f"op{i}", unit, unit, cost, 0, (), 0, 0) for i in range(OPS)]
    simulated = Simulator(program, schedule).step(lanes=1).cycles
    assert simulated == pytest.approx(myhdl_cycles(unit, params), rel=0.02)
