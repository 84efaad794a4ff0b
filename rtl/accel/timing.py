"""Unit timings of a design, measured by simulating each unit instance it uses.

The SimPy model of the exported design (:mod:`cosim.sim.program_timing`) is
driven by these numbers and the lane program; it never imports ``rtl``, so
they travel as a plain dict (and into ``sim/result.json``). Latencies are
measured in MyHDL with :func:`rtl.harness.simulate`, one operation at the
instance's exact parameters, inputs back to back and no back-pressure, as the
sequencer feeds them. The sequencer's own cycles are structural constants of
:mod:`rtl.accel.top`.
"""

from __future__ import annotations

import numpy as np

from rtl.accel.dequant import SPEC as DEQUANT
from rtl.accel.encode import Design
from rtl.accel.top import SEQUENCER_CYCLES, unit_params
from rtl.harness import simulate
from rtl.spec import UnitSpec
from rtl.units import UNITS


def _span(spec: UnitSpec, params: dict, operations: int = 1) -> tuple[list, list]:
    stimulus = spec.random_stimulus(params, np.random.default_rng(0), operations)
    result = simulate(spec, params, stimulus)
    return result.in_cycles, result.out_cycles


def measure(d: Design) -> dict:
    """{unit instance: cycles} for the design, plus the sequencer's constants.

    rowwise, rmsnorm<n>, quantize<n>: first input beat to first output beat of one
    operation (outputs then leave one per cycle); matvec: a row's last beat to its
    sum; dequant: a row sum to its dequantised value.
    """
    out: dict = {"sequencer": dict(SEQUENCER_CYCLES)}
    ins, outs = _span(DEQUANT, unit_params(d, "dequant"))
    out["dequant"] = outs[0] - ins[0]
    ins, outs = _span(UNITS["rowwise"], unit_params(d, "rowwise"))
    out["rowwise"] = outs[0] - ins[0]
    for n in d.rms_sizes:
        ins, outs = _span(UNITS["rmsnorm"], unit_params(d, "rmsnorm", n))
        out[f"rmsnorm{n}"] = outs[0] - ins[0]
    for n in d.quant_sizes:
        ins, outs = _span(UNITS["quantize"], unit_params(d, "quantize", n))
        out[f"quantize{n}"] = outs[0] - ins[0]
    ins, outs = _span(UNITS["matvec"], unit_params(d, "matvec"))
    out["matvec"] = outs[0] - ins[-1]
    return out
