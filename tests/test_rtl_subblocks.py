"""Sub-blocks of the longest generators, each on its own vectors against the golden model.

tests/test_rtl_units.py proves whole units; these tables reach the corners of a
sub-block (every leading-one position of RMSNorm's rsqrt, the largest operands)
that whole-unit stimulus reaches only by chance.
"""

import random

import pytest
from myhdl import ResetSignal, Signal, StopSimulation, always, block, delay, instance, intbv

from rtl.rsqrt import result_bound, rsqrt
from rtl.spec import fixed_of, numerics_of

RSQRT_NUMERICS = [
    {},
    {"rsqrt": {"newton_steps": 0, "lut_bits": 12}},
    {"rsqrt": {"newton_steps": 3, "lut_bits": 2, "frac": 23}},
    {"rowwise": {"bits": 16, "frac": 8}, "rsqrt": {"newton_steps": 2, "frac": 11}},
]


def rsqrt_vectors(v_max: int, seed: int) -> list[int]:
    """1, every power of two and its neighbours up to v_max, v_max, and random values."""
    rng = random.Random(seed)
    values = {1, v_max}
    for k in range(v_max.bit_length()):
        values |= {(1 << k) - 1, 1 << k, (1 << k) + 1}
    values |= {rng.randint(1, v_max) for _ in range(40)}
    return sorted(v for v in values if 1 <= v <= v_max)


def run_rsqrt(numerics: dict, values: list[int], v_max: int) -> list[int]:
    """r for each v from the MyHDL sub-block, one go/done handshake per value."""
    num = numerics_of({"numerics": numerics})
    frac, rf = num.rowwise.frac, num.rsqrt.frac
    clk, rst = Signal(bool(0)), ResetSignal(1, active=1, isasync=False)
    go, done = Signal(bool(0)), Signal(bool(0))
    v = Signal(intbv(1, min=0, max=v_max + 1))
    r = Signal(intbv(0, min=0, max=result_bound(frac, rf)))
    results = []

    @block
    def bench():
        dut = rsqrt(clk, rst, go, v, done, r, frac=frac, rf=rf, lut_bits=num.rsqrt.lut_bits,
                    newton=num.rsqrt.newton_steps)

        @instance
        def clock():
            while True:
                yield delay(5)
                clk.next = not clk

        @instance
        def drive():
            for _ in range(3):
                yield clk.posedge
            rst.next = 0
            for value in values:
                v.next = value
                go.next = 1
                yield clk.posedge
                while not done:
                    yield clk.posedge
                results.append(int(r))
                go.next = 0
                yield clk.posedge
            raise StopSimulation

        return dut, clock, drive

    tb = bench()
    try:
        tb.run_sim(quiet=1)
    finally:
        tb.quit_sim()
    return results


@pytest.mark.parametrize("numerics", RSQRT_NUMERICS, ids=range(len(RSQRT_NUMERICS)))
def test_rsqrt_sub_block_matches_fixed_point_rsqrt(numerics):
    fx = fixed_of({"numerics": numerics})
    v_max = 64 * (1 << (2 * (fx.bits - 1)))   # the largest v of an RMSNorm with n = 64
    values = rsqrt_vectors(v_max, seed=len(str(numerics)))
    assert run_rsqrt(numerics, values, v_max) == [fx.rsqrt(v) for v in values]
