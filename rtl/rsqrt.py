"""RMSNorm's 1/sqrt as a sub-block, bit-exact with FixedPoint.rsqrt.

A short sequence of states, one multiply per cycle: find v's leading one, normalise
v by an even shift to u, read the seed table of cosim.numerics.nonlinear at u's
top bits, run the Newton steps y <- y * (3 - u*y^2) / 2 (square, term, step) and
shift back with rounding. Kept apart from :mod:`rtl.rmsnorm` so that its own
vectors (tests/test_rtl_subblocks.py) check it against the golden model directly.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, enum, intbv

from cosim.numerics.nonlinear import rsqrt_seeds


def result_bound(frac: int, rf: int) -> int:
    """r < 2**(frac + rf + 1), as v >= 1 (FixedPoint.rsqrt's docstring)."""
    return 1 << (frac + rf + 1)


@block
def rsqrt(clk, rst, go, v, done, r, *, frac, rf, lut_bits, newton):
    """r = FixedPoint.rsqrt(v), v >= 1 held while ``go`` is high.

    When ``go`` rises the sequence starts; ``done`` rises with r valid and stays
    high until ``go`` falls, which re-arms the block. It takes newton * 3 + 5 cycles.
    """
    vbits = max((v.max - 1).bit_length(), 1)
    m = rf + (rf & 1)
    seeds = tuple(rsqrt_seeds(lut_bits, rf))
    ymax = 1 << (rf + 2)
    e_lo, e_hi = -(m // 2) - 1, max(vbits - m, 0) // 2 + 1
    sh_off = m // 2 - frac
    e_top = (vbits - 1 - m) >> 1

    phase = enum("IDLE", "EXPONENT", "NORM", "SEED", "SQUARE", "TERM", "STEP", "FINAL",
                 "DONE")
    state = Signal(phase.IDLE)
    e_c = Signal(intbv(0, min=e_lo, max=e_hi))
    u_c = Signal(intbv(0, min=0, max=1 << (m + 2)))
    e = Signal(intbv(0, min=e_lo, max=e_hi))
    u = Signal(intbv(0, min=0, max=1 << (m + 2)))
    index = Signal(intbv(0, min=0, max=1 << lut_bits))
    seed = Signal(intbv(0, min=0, max=max(seeds) + 1))
    y = Signal(intbv(0, min=-ymax, max=ymax))
    yy = Signal(intbv(0, min=0, max=ymax * ymax + 1))
    y2 = Signal(intbv(0, min=0, max=(ymax * ymax >> rf) + 1))
    uy = Signal(intbv(0, min=0, max=(1 << (m + 2)) * ((ymax * ymax >> rf) + 1)))
    t = Signal(intbv(0, min=-(uy.max >> m) - 1, max=(3 << rf) + 1))
    yt = Signal(intbv(0, min=-ymax * t.max, max=ymax * max(t.max, -t.min) + 1))
    steps = Signal(intbv(0, min=0, max=newton + 1))
    sh = Signal(intbv(0, min=e_lo + sh_off - 1, max=e_hi + sh_off + 1))

    @always_comb
    def leading_one():
        b = 0
        for i in range(vbits):
            if v[i]:
                b = i + 1
        if b > m:
            e_c.next = (b - 1 - m) >> 1
        else:
            e_c.next = -((m + 2 - b) >> 1)

    @always_comb
    def normalise():
        if e >= 0:
            u_c.next = v >> (2 * e)
        else:
            u_c.next = v << (-2 * e)

    @always_comb
    def lookup():
        index.next = u >> (m + 2 - lut_bits)

    @always_comb
    def rom():
        seed.next = seeds[index]

    @always_comb
    def products():
        yy.next = y * y
        uy.next = u * y2
        yt.next = y * t

    @always_comb
    def status():
        done.next = state == phase.DONE

    @always(clk.posedge)
    def sequence():
        if rst:
            state.next = phase.IDLE
            e.next = e_top
        elif state == phase.IDLE:
            # the largest exponent keeps v >> 2e in range until the real one arrives
            e.next = e_top
            if go:
                state.next = phase.EXPONENT
        elif state == phase.EXPONENT:
            e.next = e_c
            state.next = phase.NORM
        elif state == phase.NORM:
            u.next = u_c
            state.next = phase.SEED
        elif state == phase.SEED:
            y.next = seed
            steps.next = newton
            sh.next = e + sh_off
            if newton > 0:
                state.next = phase.SQUARE
            else:
                state.next = phase.FINAL
        elif state == phase.SQUARE:
            y2.next = yy >> rf
            state.next = phase.TERM
        elif state == phase.TERM:
            t.next = (3 << rf) - (uy >> m)
            state.next = phase.STEP
        elif state == phase.STEP:
            y.next = yt >> (rf + 1)
            if steps == 1:
                state.next = phase.FINAL
            else:
                steps.next = steps - 1
                state.next = phase.SQUARE
        elif state == phase.FINAL:
            if sh > 0:
                r.next = (y + (1 << (sh - 1))) >> sh
            elif sh == 0:
                r.next = y
            else:
                r.next = y << (-sh)
            state.next = phase.DONE
        elif not go:
            state.next = phase.IDLE
            e.next = e_top

    return leading_one, normalise, lookup, rom, products, status, sequence
