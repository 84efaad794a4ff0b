"""The accelerator's pipelined dequantiser equals FixedPoint.dequantize beat for beat.

MyHDL on Hypothesis-random beats (each its own gain and shift) with random
back-pressure, the Verilog lint-clean and in Icarus with and without stalls,
a mutant of the rounding that the bench catches, and its latency, the number
the accelerator's timing model takes, equal to the depth its widths imply.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtl import harness
from rtl.accel.dequant import SPEC, depth
from rtl.spec import numerics_of

PARAMS = [pytest.param(p, id=f"acc{numerics_of(p).accumulator_bits}")
          for p in SPEC.test_params]


#: MyHDL's global state grows with every simulation, so the thorough profile's count is
#: capped as for the units (tests/test_rtl_units.py HARDWARE_EXAMPLES)
MAX_EXAMPLES = 100


@given(index=st.sampled_from(range(len(SPEC.test_params))), seed=st.integers(0, 2**32 - 1),
       bp=st.booleans())
@settings(max_examples=min(settings().max_examples, MAX_EXAMPLES))
def test_myhdl_matches_golden(index, seed, bp):
    params = SPEC.test_params[index]
    stim = SPEC.random_stimulus(params, np.random.default_rng(seed), 40)
    result = harness.simulate(SPEC, params, stim, backpressure=seed if bp else None)
    assert result.outputs == SPEC.golden(params, stim)


@pytest.mark.parametrize("params", PARAMS)
def test_verilog_lint_clean_and_matches_golden_in_icarus(params, tmp_path):
    text = harness.verilog(SPEC, params)
    harness.lint(text, tmp_path / "lint")
    stim = SPEC.edge_stimulus(params) + SPEC.random_stimulus(params,
                                                             np.random.default_rng(3), 100)
    expected = SPEC.golden(params, stim)
    assert harness.simulate(SPEC, params, stim, backpressure=1).outputs == expected
    assert harness.run_icarus(SPEC, params, stim, tmp_path / "free", text=text) == expected
    assert harness.run_icarus(SPEC, params, stim, tmp_path / "stalled", backpressure=5,
                              text=text) == expected


def test_bench_catches_a_rounding_mutant(tmp_path):
    """Rounding half down instead of half up: the ties in the edge stimulus differ."""
    text = harness.verilog(SPEC, {})
    mutant = text.replace("+ 1) >>> 1)", "+ 0) >>> 1)")
    assert mutant != text
    stim = SPEC.edge_stimulus({})
    assert harness.run_icarus(SPEC, {}, stim, tmp_path, text=mutant) != SPEC.golden({}, stim)


@pytest.mark.parametrize("params", PARAMS)
def test_latency_is_the_depth_of_its_widths(params):
    num = numerics_of(params)
    stim = SPEC.random_stimulus(params, np.random.default_rng(0), 1)
    assert harness.simulate(SPEC, params, stim).latency == \
        depth(num.accumulator_bits, num.rowwise.bits + num.scale_bits)


@pytest.mark.parametrize("ce_wired", [True, False], ids=["primitive", "ce-mutant"])
def test_mult18x18d_clock_enables_in_icarus(ce_wired, tmp_path):
    """The Verilog Yosys synthesises (MULT18X18D instances, their clock enable the stalling
    pipeline's) equals the golden model in Icarus under back-pressure; with the blocks'
    clock enables tied high the bench fails."""
    from test_rtl_rowwise import mult18x18d_model
    params = SPEC.with_defaults({})
    stim = SPEC.random_stimulus(params, np.random.default_rng(5), 80) + SPEC.edge_stimulus(params)
    text = harness.verilog(SPEC, params)
    assert len(re.findall(r"\.CE0\((?!1'b1)", text)) == text.count("MULT18X18D ") > 0
    if not ce_wired:
        text = re.sub(r"\.CE0\([^)]*\)", ".CE0(1'b1)", text)
    text = "`define SYNTHESIS\n" + text + mult18x18d_model()
    out = harness.run_icarus(SPEC, params, stim, tmp_path, backpressure=2, text=text)
    assert (out == SPEC.golden(params, stim)) is ce_wired
