"""Row-wise unit: per-opcode vector tables, exhaustive sigmoid/SiLU, saturation, II and latency.

tests/test_rtl_units.py runs every registered unit (this one included) on random and
edge stimulus at every level; these tests add what is specific to the row-wise unit.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from myhdl import Signal, intbv

from rtl import harness
from rtl.rowwise import (
    ADD,
    LOWER_BOUND,
    MUL,
    ONE_MINUS,
    OPS,
    RECUR_PAPER,
    RECUR_RELEASED,
    SIGMOID,
    SILU,
    SPEC,
    TEST_NUMERICS,
    Datapath,
    Value,
    rowwise_signal,
)
from rtl.spec import fixed_of, numerics_of

NARROW = {"numerics": {"rowwise": {"bits": 12, "frac": 6},
                       "sigmoid": {"method": "pwl", "segments": 5}}}
NARROW_LUT = {"numerics": {"rowwise": {"bits": 12, "frac": 6},
                           "sigmoid": {"method": "lut", "lut_entries": 64}}}


def vector_table(params: dict) -> list[tuple[dict, int]]:
    """(beat, expected y) written from the operations' definitions, not the golden code."""
    fx = fixed_of(params)
    lo, hi, one = fx.lo, fx.hi, fx.one
    x = 3 * one // 2
    return [
        ({"op": ADD, "a": hi, "b": 1, "c": 0}, hi),
        ({"op": ADD, "a": lo, "b": -1, "c": 0}, lo),
        ({"op": ADD, "a": x, "b": -x, "c": hi}, 0),
        ({"op": MUL, "a": one, "b": x, "c": 0}, x),
        ({"op": MUL, "a": lo, "b": lo, "c": 0}, hi),
        ({"op": MUL, "a": hi, "b": lo, "c": 0}, lo),
        ({"op": MUL, "a": 1, "b": one // 2, "c": 0}, 1),      # 0.5 LSB rounds up
        ({"op": MUL, "a": -1, "b": one // 2, "c": 0}, 0),     # -0.5 LSB rounds up to 0
        ({"op": ONE_MINUS, "a": 0, "b": hi, "c": lo}, one),
        ({"op": ONE_MINUS, "a": lo, "b": 0, "c": 0}, hi),
        ({"op": SIGMOID, "a": hi, "b": 0, "c": 0}, one),
        ({"op": SIGMOID, "a": lo, "b": 0, "c": 0}, 0),
        ({"op": SILU, "a": hi, "b": 0, "c": 0}, hi),
        ({"op": SILU, "a": lo, "b": 0, "c": 0}, 0),
        ({"op": LOWER_BOUND, "a": 0, "b": x, "c": 0}, x),     # f = 0 -> lb
        ({"op": LOWER_BOUND, "a": one, "b": one // 4, "c": 0}, one),
        ({"op": RECUR_RELEASED, "a": one, "b": 0, "c": x}, x),  # f = 1 keeps h
        ({"op": RECUR_RELEASED, "a": 0, "b": x, "c": hi}, x),   # f = 0 takes x
        ({"op": RECUR_RELEASED, "a": one, "b": hi, "c": hi}, hi),
        ({"op": RECUR_PAPER, "a": 0, "b": x, "c": hi}, x),
        ({"op": RECUR_PAPER, "a": one, "b": lo, "c": x}, x),
    ]


@pytest.mark.parametrize("params", [{}, NARROW], ids=["default", "narrow"])
def test_vector_table_myhdl_and_icarus(params, tmp_path):
    table = vector_table(params)
    stim = [beat for beat, _ in table]
    expected = [{"y": y} for _, y in table]
    assert SPEC.golden(params, stim) == expected
    assert harness.simulate(SPEC, params, stim).outputs == expected
    assert harness.run_icarus(SPEC, params, stim, tmp_path) == expected


#: tiny formats whose every product fits a test: the rounding's carry, the clamp's
#: four cases and (frac = 0) no rounding at all
TINY = [{"numerics": {"rowwise": {"bits": 6, "frac": 2}, "sigmoid": {"input_range": 8}}},
        {"numerics": {"rowwise": {"bits": 6, "frac": 0}, "sigmoid": {"input_range": 8}}}]


@pytest.mark.parametrize("params", TINY, ids=["frac2", "frac0"])
def test_mul_exhaustive_on_tiny_formats(params, tmp_path):
    """Every pair of 6-bit operands through MUL (rtl.mult18.round_clamp: p >> frac
    fits or not, equals qmax with the rounding bit set, and frac = 0 rounds nothing),
    in MyHDL and Icarus."""
    fx = fixed_of(params)
    stim = [{"op": MUL, "a": a, "b": b, "c": 0}
            for a in range(fx.lo, fx.hi + 1) for b in range(fx.lo, fx.hi + 1)]
    expected = SPEC.golden(params, stim)
    assert {y["y"] for y in expected} >= {fx.lo, fx.hi}
    assert harness.simulate(SPEC, params, stim).outputs == expected
    assert harness.run_icarus(SPEC, params, stim, tmp_path) == expected


@pytest.mark.parametrize("params", [NARROW, NARROW_LUT], ids=["pwl", "lut"])
def test_sigmoid_and_silu_exhaustive_on_narrow_format(params):
    """Every 12-bit input through SIGMOID and SILU in MyHDL."""
    fx = fixed_of(params)
    stim = [{"op": op, "a": a, "b": 0, "c": 0}
            for a in range(fx.lo, fx.hi + 1) for op in (SIGMOID, SILU)]
    assert harness.simulate(SPEC, params, stim).outputs == SPEC.golden(params, stim)


def test_narrow_format_exercises_saturation():
    """The suite's narrow parameter sets clip in every saturating operation."""
    narrow = [{"numerics": n} for n in TEST_NUMERICS if n.get("rowwise")]
    assert narrow
    for params in narrow:
        fx = fixed_of(params)
        stim = SPEC.random_stimulus(params, random.Random(0), 2000)
        for s in stim:
            a, b, c = (np.int64(s[k]) for k in "abc")
            fx.add(a, b), fx.mul(a, b), fx.one_minus(a)
            fx.lower_bound(a, b), fx.recurrence(a, b, c, "paper")
        assert {"add", "mul", "one_minus"} <= set(fx.overflows), fx.overflows


def test_test_params_cover_both_sigmoid_methods():
    methods = {(numerics_of(p).sigmoid.method, numerics_of(p).sigmoid.segments
                if numerics_of(p).sigmoid.method == "pwl"
                else numerics_of(p).sigmoid.lut_entries) for p in SPEC.test_params}
    assert {("pwl", 1), ("pwl", 3), ("pwl", 5), ("lut", 256)} <= methods


def assert_back_to_back(spec, params: dict, seed: int, latency: int) -> None:
    """1000 consecutive beats without back-pressure: bit exact, II = 1 and a fixed
    latency (shared with tests/test_rtl_compositions.py)."""
    stim = spec.random_stimulus(params, random.Random(seed), 1000)
    res = harness.simulate(spec, params, stim)
    assert res.outputs == spec.golden(params, stim)
    assert np.all(np.diff(res.in_cycles) == 1)
    assert np.all(np.diff(res.out_cycles) == 1)
    assert res.latency == latency


@pytest.mark.parametrize("params, latency", [({}, 26), (NARROW_LUT, 15)],
                         ids=["pwl", "lut"])
def test_back_to_back_one_beat_per_cycle(params, latency):
    """1000 consecutive beats without back-pressure: II = 1 and a fixed latency."""
    assert_back_to_back(SPEC, params, 5, latency)


def test_back_pressure_keeps_order_and_values(tmp_path):
    """Random o_ready and input gaps on every opcode, in MyHDL and Icarus."""
    stim = SPEC.random_stimulus(NARROW, random.Random(9), 1500)
    expected = SPEC.golden(NARROW, stim)
    assert harness.simulate(SPEC, NARROW, stim, backpressure=3).outputs == expected
    assert harness.run_icarus(SPEC, NARROW, stim, tmp_path, backpressure=4) == expected


def test_every_opcode_has_a_golden_method():
    assert len(OPS) == 8
    stim = [{"op": op, "a": 1, "b": 2, "c": 3} for op in range(len(OPS))]
    assert len(SPEC.golden({}, stim)) == len(OPS)


def test_datapath_refuses_to_travel_back_in_time():
    nx = numerics_of({})
    dp = Datapath(Signal(bool(0)), nx)
    v = Value(rowwise_signal(nx), 3)
    with pytest.raises(ValueError, match="cycle 3"):
        dp.at(v, 2)
    assert dp.at(v, 5) is dp.at(v, 5)      # delay chains are shared
    assert len(dp.parts) == 1
    assert dp.at(v, 4) is not dp.at(v, 5) and len(dp.parts) == 2


def test_select_takes_at_most_four_sources():
    nx = numerics_of({})
    dp = Datapath(Signal(bool(0)), nx)
    op = Value(Signal(intbv(0)[3:]), 0)
    vals = [Value(rowwise_signal(nx), 0) for _ in range(5)]
    with pytest.raises(ValueError, match="four"):
        dp.select(op, {1: vals[1], 2: vals[2], 3: vals[3], 4: vals[4]}, vals[0])


def mult18x18d_model(registered: bool = True) -> str:
    """A Verilog model of the ECP5 MULT18X18D as the units use it (Lattice TN1267:
    A and B signed per SIGNEDA/SIGNEDB, input and output registers on CLK0 when
    their REG_*_CLK parameter names it). Yosys ships only a blackbox, so the
    `SYNTHESIS` branch of rtl.mult18.dsp_mul is simulated against this.
    ``registered=False`` ignores the registers: a mutant the bench must catch."""
    ports = ([f"A{i}" for i in range(18)] + [f"B{i}" for i in range(18)]
             + ["SIGNEDA", "SIGNEDB", "CLK0", "CE0", "RST0"])
    outs = [f"P{i}" for i in range(36)]
    a = ", ".join(f"A{i}" for i in reversed(range(18)))
    b = ", ".join(f"B{i}" for i in reversed(range(18)))
    p = ", ".join(f"P{i}" for i in reversed(range(36)))
    reg = "1" if registered else "0"
    return f"""
module MULT18X18D({", ".join(ports + outs)});
  input {", ".join(ports)};
  output {", ".join(outs)};
  parameter REG_INPUTA_CLK = "NONE";
  parameter REG_INPUTB_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE";
  wire [17:0] a = {{{a}}};
  wire [17:0] b = {{{b}}};
  reg [17:0] ar = 0, br = 0;
  reg [35:0] pr = 0;
  wire [17:0] ai = ({reg} && REG_INPUTA_CLK == "CLK0") ? ar : a;
  wire [17:0] bi = ({reg} && REG_INPUTB_CLK == "CLK0") ? br : b;
  wire signed [18:0] as = SIGNEDA ? {{ai[17], ai}} : {{1'b0, ai}};
  wire signed [18:0] bs = SIGNEDB ? {{bi[17], bi}} : {{1'b0, bi}};
  wire [35:0] prod = as * bs;
  always @(posedge CLK0) if (CE0) begin ar <= a; br <= b; pr <= prod; end
  assign {{{p}}} = ({reg} && REG_OUTPUT_CLK == "CLK0") ? pr : prod;
endmodule
"""


@pytest.mark.parametrize("registered", [True, False], ids=["primitive", "mutant"])
def test_mult18x18d_instances_in_icarus(registered, tmp_path):
    """The Verilog Yosys synthesises (`SYNTHESIS` defined: MULT18X18D instances with
    their registers, split 24-bit products) equals the golden model in Icarus;
    with the registers ignored the bench fails."""
    from rtl.glu import SPEC as GLU
    params = GLU.with_defaults({})
    stim = GLU.random_stimulus(params, random.Random(4), 200) + GLU.edge_stimulus(params)
    text = harness.verilog(GLU, params)
    assert text.count("MULT18X18D ") == 10
    text = "`define SYNTHESIS\n" + text + mult18x18d_model(registered)
    out = harness.run_icarus(GLU, params, stim, tmp_path, backpressure=2, text=text)
    assert (out == GLU.golden(params, stim)) is registered
