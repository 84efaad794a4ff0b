"""Every registered unit at every level: MyHDL and Icarus equal the golden model.

Each unit x test parameter set is run on Hypothesis-random and edge stimulus in
MyHDL, on >= 1000 back-to-back operations with random back-pressure, converted
to Verilog that must be lint-clean under verilator -Wall, and simulated in
Icarus with and without back-pressure.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtl import harness
from rtl.units import UNITS

CASES = [pytest.param(name, params, id=f"{name}-{i}")
         for name, spec in sorted(UNITS.items()) for i, params in enumerate(spec.test_params)]
#: operations in the back-to-back stress run
STRESS_OPS = 1000


def _input_beats(spec, params) -> int:
    return len(spec.random_stimulus(params, np.random.default_rng(0), 1))


@pytest.mark.parametrize("name, params", CASES)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), ops=st.integers(1, 6), bp=st.booleans())
def test_myhdl_matches_golden_on_random_stimulus(name, params, seed, ops, bp):
    spec = UNITS[name]
    stim = spec.random_stimulus(params, np.random.default_rng(seed), ops)
    result = harness.simulate(spec, params, stim, backpressure=seed if bp else None)
    assert result.outputs == spec.golden(params, stim)


@pytest.mark.parametrize("name, params", CASES)
def test_myhdl_matches_golden_on_edge_stimulus(name, params):
    spec = UNITS[name]
    stim = spec.edge_stimulus(params)
    expected = spec.golden(params, stim)
    assert expected, "edge stimulus must complete at least one operation"
    assert harness.simulate(spec, params, stim).outputs == expected


@pytest.mark.slow
@pytest.mark.parametrize("name, params", CASES)
def test_back_to_back_stress_with_backpressure(name, params):
    """The lesson of the ternip bench: hundreds of consecutive operations, stalled at random."""
    spec = UNITS[name]
    stim = spec.random_stimulus(params, np.random.default_rng(7), STRESS_OPS)
    expected = spec.golden(params, stim)
    result = harness.simulate(spec, params, stim, backpressure=11)
    assert len(result.outputs) == len(expected)
    assert result.outputs == expected


@pytest.mark.parametrize("name, params", CASES)
def test_verilog_is_lint_clean(name, params, tmp_path):
    harness.lint(harness.verilog(UNITS[name], params), tmp_path)


@pytest.mark.parametrize("name, params", CASES)
def test_icarus_matches_golden(name, params, tmp_path):
    spec = UNITS[name]
    stim = (spec.random_stimulus(params, np.random.default_rng(3), 30)
            + spec.edge_stimulus(params))
    expected = spec.golden(params, stim)
    assert harness.run_icarus(spec, params, stim, tmp_path / "free") == expected
    assert harness.run_icarus(spec, params, stim, tmp_path / "stalled",
                              backpressure=5) == expected


@pytest.mark.parametrize("name, params", CASES)
def test_unit_accepts_beats_without_deadlock(name, params):
    """A single operation completes and reports a latency (characterisation relies on it)."""
    spec = UNITS[name]
    stim = spec.random_stimulus(params, np.random.default_rng(1), 1)
    result = harness.simulate(spec, params, stim)
    assert len(result.in_cycles) == _input_beats(spec, params)
    assert result.latency is not None and result.latency >= 0
