"""Sub-blocks of the longest generators, each on its own vectors against the golden model.

tests/test_rtl_units.py proves whole units; these tables reach the corners of a
sub-block (every leading-one position of RMSNorm's rsqrt, every small divisor of
the quantiser's reciprocal, the largest operands) that whole-unit stimulus
reaches only by chance.
"""

import random
from functools import partial

import pytest
from myhdl import ResetSignal, Signal, StopSimulation, block, delay, instance, intbv

from rtl.divider import quotient_bits, reciprocal
from rtl.rsqrt import result_bound, rsqrt
from rtl.spec import fixed_of

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


def run_go_done(make, values: list[int], x, y) -> list[int]:
    """y for each value of x from the MyHDL sub-block ``make(clk, rst, go, x, done, y)``
    (a block with its parameters bound), one go/done handshake per value."""
    clk, rst = Signal(bool(0)), ResetSignal(1, active=1, isasync=False)
    go, done = Signal(bool(0)), Signal(bool(0))
    results = []

    @block
    def bench():
        dut = make(clk, rst, go, x, done, y)

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
                x.next = value
                go.next = 1
                yield clk.posedge
                while not done:
                    yield clk.posedge
                results.append(int(y))
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
    num = fx.numerics
    frac, rf = num.rowwise.frac, num.rsqrt.frac
    v_max = 64 * (1 << (2 * (fx.bits - 1)))   # the largest v of an RMSNorm with n = 64
    values = rsqrt_vectors(v_max, seed=len(str(numerics)))
    make = partial(rsqrt, frac=frac, rf=rf, lut_bits=num.rsqrt.lut_bits,
                   newton=num.rsqrt.newton_steps)
    v = Signal(intbv(1, min=0, max=v_max + 1))
    r = Signal(intbv(0, min=0, max=result_bound(frac, rf)))
    assert run_go_done(make, values, v, r) == [fx.rsqrt(v) for v in values]


@pytest.mark.parametrize("numerics", [{}, {"activation_bits": 4},
                                      {"activation_bits": 16, "rowwise": {"bits": 8,
                                                                          "frac": 4}}],
                         ids=range(3))
def test_divider_sub_block_matches_the_quantisers_reciprocal(numerics):
    """Every m from 1 up, every power of two and its neighbours, and the largest m."""
    fx = fixed_of({"numerics": numerics})
    m_max = 1 << (fx.bits - 1)
    values = sorted({m for m in rsqrt_vectors(m_max, seed=3) if m <= m_max}
                    | set(range(1, 20)))
    make = partial(reciprocal, qmax=fx.qmax, k=fx.recip_frac)
    m = Signal(intbv(1, min=0, max=m_max + 1))
    recip = Signal(intbv(0, min=0, max=1 << quotient_bits(fx.qmax, fx.recip_frac)))
    assert run_go_done(make, values, m, recip) == [(fx.qmax << fx.recip_frac) // v
                                                    for v in values]
