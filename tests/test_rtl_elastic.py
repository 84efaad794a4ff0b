"""rtl/elastic.py on its own: a delay line behind the elastic output, whose consumer
side is blocked for half of every 64 cycles (a slow consumer the benches' random
back-pressure never is: their FIFOs never fill), so its credits run out and its banks
fill. MyHDL and Icarus equal the input beats; the unit owes exactly
:func:`rtl.elastic.credits` beats at its fullest; and each fault of the thermometer
counts (a credit too many, a bank popped without o_ready, a write beside a load not
counted) drops or repeats beats, which the Icarus bench catches.
"""

import re
from functools import partial

import numpy as np
import pytest
from myhdl import Signal, always, always_comb, block, intbv
from test_rtl_units import assert_bench_catches

from rtl import harness
from rtl.elastic import BANK, banks, credits, elastic_output
from rtl.mult18 import delay
from rtl.spec import UnitSpec
from rtl.stream import Field, Layout

#: the consumer side is blocked for STALL of every PERIOD cycles
PERIOD, STALL = 64, 32
LAYOUT = Layout(Field("x", 8))


@block
def stalled_line(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, *, depth):
    """i_data delayed by ``depth`` free-running registers, through elastic_output,
    whose o_ready and o_valid are held low for STALL of every PERIOD cycles."""
    data = Signal(intbv(0)[len(i_data):])
    valid, ready = Signal(bool(0)), Signal(bool(0))
    phase = Signal(intbv(0, min=0, max=PERIOD))

    @always(clk.posedge)
    def tick():
        if rst:
            phase.next = 0
        else:
            phase.next = (phase + 1) % PERIOD

    @always_comb
    def gate():
        ready.next = o_ready and phase >= STALL
        o_valid.next = valid and phase >= STALL

    ctrl = elastic_output(clk, rst, i_valid, i_ready, valid, ready, o_data, data, depth)
    return delay(clk, i_data, data, depth), tick, gate, ctrl


def _stimulus(params, rng, operations):
    return [{"x": int(v)} for v in rng.integers(0, 256, operations)]


SPEC = UnitSpec(
    name="stalled_line", build=lambda p: partial(stalled_line, depth=p["depth"]),
    in_layout=lambda p: LAYOUT, out_layout=lambda p: LAYOUT, golden=lambda p, beats: beats,
    random_stimulus=_stimulus, edge_stimulus=lambda p: [{"x": 0}, {"x": 255}],
    param_names=("depth",))
#: two banks of four RAM entries; four banks of eight
DEPTHS = [{"depth": 5}, {"depth": 30}]
OPS = 400


@pytest.mark.parametrize("params", DEPTHS, ids=lambda p: f"depth{p['depth']}")
def test_full_fifo_keeps_every_beat_and_owes_credits_at_most(params, tmp_path):
    """MyHDL and Icarus equal the input, with and without the bench's back-pressure;
    at its fullest the unit owes exactly credits(depth) beats (taken, not given)."""
    stim = _stimulus(params, np.random.default_rng(2), OPS)
    result = harness.simulate(SPEC, params, stim)
    assert result.outputs == stim
    taken = np.searchsorted(result.in_cycles, np.arange(result.cycles), side="right")
    given = np.searchsorted(result.out_cycles, np.arange(result.cycles), side="right")
    assert max(taken - given) == credits(params["depth"])
    assert harness.simulate(SPEC, params, stim, backpressure=3).outputs == stim
    harness.lint(harness.verilog(SPEC, params), tmp_path / "lint")
    assert harness.run_icarus(SPEC, params, stim, tmp_path / "bp", backpressure=5) == stim


#: Verilog text mutations of the FIFO, with the back-pressure seed of the run
MUTANTS = {
    # i_ready stays high while the thermometer holds limit - 1 credits
    "a credit too many": (re.compile(r"(_owed\[\(\d+ - )2\)\]"), r"\g<1>1)]", None),
    # (MyHDL suffixes names with a count of the conversions in the process)
    "pops without o_ready": (re.compile(r"(_bank0\w*_load = .*)\((\w+_ring\[0\]) && \w+\)"),
                             r"\1\2", 5),
    "a write beside a load not counted": (
        re.compile(r"\(\((\w+_bank1\w*_write) != (\w+_bank1\w*_load)\)\)"), r"(\2)", 5),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_bench_fails_on_a_fifo_mutant(mutant, tmp_path):
    """The mutant's Verilog leaves the input beats; the original keeps them."""
    assert_bench_catches(SPEC, DEPTHS[0], *MUTANTS[mutant], tmp_path, ops=OPS)


@pytest.mark.parametrize("depth", [1, 2, 9, 12, 13, 28, 29, 60, 124])
def test_banks_hold_every_credit(depth):
    """Round robin in and out keeps the banks within a beat of each other, so each
    RAM holds credits / banks - 1 at most: that must fit a bank, and the credits
    cover every beat in flight at one beat per cycle."""
    n = banks(depth)
    assert n & (n - 1) == 0 and n >= 2
    assert credits(depth) % n == 0 and credits(depth) >= depth + 4
    assert credits(depth) // n - 1 <= BANK
