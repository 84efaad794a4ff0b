"""Every registered unit at every level: MyHDL and Icarus equal the golden model.

Each unit x test parameter set is run on Hypothesis-random and edge stimulus in
MyHDL, on >= 1000 back-to-back operations with random back-pressure, converted
to Verilog that must be lint-clean under verilator -Wall, and simulated in
Icarus with and without back-pressure; every unit also runs in Icarus at its
default sizes and at the widest legal setting of every width parameter. The
benches drive garbage while idle, offer a beat during reset and run on past the
expected outputs; the mutant tests show that each of those catches a fault.
"""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtl import harness
from rtl.spec import numerics_of
from rtl.units import UNITS

CASES = [pytest.param(name, params, id=f"{name}-{i}")
         for name, spec in sorted(UNITS.items()) for i, params in enumerate(spec.test_params)]
#: operations in the back-to-back stress run: a thousand rows, or 300 whole vectors for
#: the vector units, whose fixed latency (rsqrt, divider) makes each op about a hundred
#: cycles of MyHDL simulation even at their test sizes
STRESS_OPS = {"quantize": 300, "rmsnorm": 300}
#: the widest legal value of every width parameter (the schema's bounds and its
#: cross-field rules allow them only in these combinations)
WIDEST = {
    "accumulator": {"activation_bits": 16, "accumulator_bits": 48, "scale_bits": 8,
                    "rowwise": {"bits": 8, "frac": 4}},
    "rowwise": {"activation_bits": 16, "accumulator_bits": 32, "scale_bits": 8,
                "rowwise": {"bits": 24, "frac": 16},
                "rsqrt": {"frac": 23, "lut_bits": 12, "newton_steps": 3}},
    "fraction": {"rowwise": {"bits": 24, "frac": 22}, "sigmoid": {"input_range": 2},
                 "rsqrt": {"frac": 17}},
}


#: MyHDL simulations cost about a second each and MyHDL's global state grows with every
#: one: the thorough profile's 1300 held 7.7 GB and ran for most of CI's 47-minute suite.
#: The random-stimulus property runs at most this many (115 s), four times quick's 25
HARDWARE_EXAMPLES = 100


def _input_beats(spec, params) -> int:
    return len(spec.random_stimulus(params, np.random.default_rng(0), 1))


@given(case=st.sampled_from([(c.values[0], c.values[1]) for c in CASES]),
       seed=st.integers(0, 2**32 - 1), ops=st.integers(1, 4), bp=st.booleans())
@settings(max_examples=min(settings().max_examples, HARDWARE_EXAMPLES))
def test_myhdl_matches_golden_on_random_stimulus(case, seed, ops, bp):
    name, params = case
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
    stim = spec.random_stimulus(params, np.random.default_rng(7), STRESS_OPS.get(name, 1000))
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


@pytest.mark.parametrize("name", sorted(UNITS))
def test_icarus_matches_golden_at_default_sizes(name, tmp_path):
    """The sizes and formats the accelerator uses (24-bit row-wise saturation among them)."""
    spec = UNITS[name]
    params = spec.default_params
    stim = spec.edge_stimulus(params) + spec.random_stimulus(params, np.random.default_rng(4), 3)
    assert harness.run_icarus(spec, params, stim, tmp_path, backpressure=2) == \
        spec.golden(params, stim)


@pytest.mark.parametrize("width", sorted(WIDEST))
@pytest.mark.parametrize("name", sorted(UNITS))
def test_verilog_at_the_widest_formats(name, width, tmp_path):
    """Lint-clean and bit-exact in Icarus with every width parameter at its largest."""
    spec = UNITS[name]
    params = {**spec.test_params[0], "numerics": WIDEST[width]}
    numerics_of(params)  # a combination the schema refuses would prove nothing
    text = harness.verilog(spec, params)
    harness.lint(text, tmp_path / "lint")
    stim = spec.edge_stimulus(params) + spec.random_stimulus(params, np.random.default_rng(5), 3)
    assert harness.run_icarus(spec, params, stim, tmp_path / "sim", text=text) == \
        spec.golden(params, stim)


def test_accumulator_of_32_bits_is_signed_in_verilog(tmp_path):
    """Regression: MyHDL emits a comparison with a constant of 32 bits or more
    unsigned, and every row of a 32-bit accumulator came out most negative in Verilog."""
    spec = UNITS["matvec"]
    params = {"tp": 4, "cols": 10,
              "numerics": {"accumulator_bits": 32, "rowwise": {"bits": 16, "frac": 8}}}
    stim = spec.random_stimulus(params, np.random.default_rng(0), 5)
    assert harness.run_icarus(spec, params, stim, tmp_path) == spec.golden(params, stim)


def test_matvec_flags_a_row_longer_than_cols(tmp_path):
    """Regression: 9 beats of -128 with cols = 64 wrapped to +14336; now flagged."""
    spec = UNITS["matvec"]
    params = {"tp": 8, "cols": 64}
    long_row = [{"act": [-128] * 8, "w": [0b01] * 8, "last": int(k == 8)} for k in range(9)]
    ok_row = [{"act": [-128] * 8, "w": [0b01] * 8, "last": int(k == 7)} for k in range(8)]
    stim = ok_row + long_row + ok_row
    expected = [{"acc": -8192, "overflow": 0}, {"acc": 0, "overflow": 1},
                {"acc": -8192, "overflow": 0}]
    assert spec.golden(params, stim) == expected
    assert harness.simulate(spec, params, stim).outputs == expected
    assert harness.run_icarus(spec, params, stim, tmp_path) == expected


@pytest.mark.parametrize("name", sorted(UNITS))
def test_i_ready_is_low_in_reset(name):
    """A beat offered during reset stays on the bus until reset ends (the bench
    counts a handshake on every edge), so the first beat is taken on cycle 0."""
    spec = UNITS[name]
    params = spec.test_params[0]
    result = harness.simulate(spec, params,
                              spec.random_stimulus(params, np.random.default_rng(1), 1))
    assert result.in_cycles[0] == 0


#: Verilog text mutations of matvec (tp = 4, cols = 10), each a fault one bench
#: feature exists to catch, with the back-pressure seed the run uses
MUTANTS = {
    # the FIFO's signal names carry MyHDL's count of instances made in the process
    "ready in reset": (re.compile(r"assign i_ready = \((\w+_room) && \(!rst\)\);"),
                       r"assign i_ready = \1;", None),
    # a bubble's garbage enters the row sums (unknown bits, or wrong sums)
    "accumulates idle beats": ("    else if (vb) begin\n        restart <= lb;",
                               "    else begin\n        restart <= lb;", 5, True),
    "extra beat when idle": ("assign row_in = (i_valid && i_data[40]);",
                             "assign row_in = i_data[40];", None),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_bench_fails_on_a_mutant(mutant, tmp_path):
    """Each fault is caught. The first and the last were invisible to the previous
    bench, which offered nothing in reset and stopped at the expected output count."""
    old, new, bp, *unknown = MUTANTS[mutant]
    assert_bench_catches(UNITS["matvec"], {"tp": 4, "cols": 10}, old, new, bp, tmp_path,
                         unknown=bool(unknown))


def assert_bench_catches(spec, params: dict, old: str, new: str, bp, tmp_path,
                         unknown: bool = False, ops: int = 6) -> None:
    """The Icarus bench passes the unit's Verilog and fails it with ``old`` (a string or
    a compiled pattern) made ``new`` (``bp``: the back-pressure seed, or None), on
    ``ops`` random operations; with ``unknown``, output bits the simulator cannot know
    fail it too (whether they reach the output can depend on Icarus' order of evaluation
    at time 0, which follows MyHDL's names, which follow the process's history)."""
    text = harness.verilog(spec, params)
    bad, found = (old.subn(new, text) if isinstance(old, re.Pattern)
                  else (text.replace(old, new), text.count(old)))
    assert found == 1
    stim = spec.random_stimulus(params, np.random.default_rng(8), ops)
    expected = spec.golden(params, stim)
    assert harness.run_icarus(spec, params, stim, tmp_path / "good", backpressure=bp,
                              text=text) == expected
    try:
        got = harness.run_icarus(spec, params, stim, tmp_path / "bad", backpressure=bp,
                                 text=bad)
    except ValueError:
        if not unknown:
            raise
        return
    assert got != expected


#: Verilog text mutations of the double-buffered quantiser (n = 4): faults only
#: back-to-back vectors, or back-pressure while a bank is emitted, can show; and of
#: its absmax, kept as two running maxima (the even beats' and the odd beats')
QUANTIZE_MUTANTS = {
    "emits bank 0 always": ("assign raddr = {rbank, ridx};", "assign raddr = {1'b0, ridx};",
                            None),
    "loads into a full bank": ("assign take = (i_valid && room && (!rst));",
                               "assign take = (i_valid && (!rst));", 5),
    "absmax of the even beats alone": ("    odd_wins <= (gap_eo < 0);", "    odd_wins <= 0;",
                                       None),
    "odd maximum carried over": ("    fo2 <= g1;", "    fo2 <= 0;", None),
}


@pytest.mark.parametrize("mutant", sorted(QUANTIZE_MUTANTS))
def test_quantiser_bench_fails_on_a_bank_mutant(mutant, tmp_path):
    """Each bank and absmax fault is caught by the bench's back-to-back vectors."""
    assert_bench_catches(UNITS["quantize"], {"n": 4}, *QUANTIZE_MUTANTS[mutant], tmp_path)


@pytest.mark.parametrize("name, params", CASES)
def test_unit_accepts_beats_without_deadlock(name, params):
    """A single operation completes and reports a latency (characterisation relies on it)."""
    spec = UNITS[name]
    stim = spec.random_stimulus(params, np.random.default_rng(1), 1)
    result = harness.simulate(spec, params, stim)
    assert len(result.in_cycles) == _input_beats(spec, params)
    assert result.latency is not None and result.latency >= 0
