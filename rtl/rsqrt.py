"""RMSNorm's 1/sqrt as a sub-block, bit-exact with FixedPoint.rsqrt.

A short sequence of states: find v's leading one, normalise v by an even shift to
u, read the seed table of cosim.numerics.nonlinear at u's top bits, run the Newton
steps y <- y * (3 - u*y^2) / 2 (square, term, step) and shift back with rounding.
Each product is cut into MULT18-sized registered pieces (:mod:`rtl.multiply`) and
its state waits the pieces' depth for it. Kept apart from :mod:`rtl.rmsnorm` so that its own
vectors (tests/test_rtl_subblocks.py) check it against the golden model directly.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, enum, intbv

from cosim.numerics.nonlinear import rsqrt_seeds
from rtl.multiply import depth, is_signed, product, result


def result_bound(frac: int, rf: int) -> int:
    """r < 2**(frac + rf + 1), as v >= 1 (FixedPoint.rsqrt's docstring)."""
    return 1 << (frac + rf + 1)


@block
def rsqrt(clk, rst, go, v, done, r, *, frac, rf, lut_bits, newton):
    """r = FixedPoint.rsqrt(v), v >= 1 held while ``go`` is high.

    When ``go`` rises the sequence starts; ``done`` rises with r valid and stays
    high until ``go`` falls, which re-arms the block. It takes newton * 3 * (d + 1) + 7
    cycles, d the depth of the widest of its products.
    """
    vbits = max((v.max - 1).bit_length(), 1)
    m = rf + (rf & 1)
    seeds = tuple(rsqrt_seeds(lut_bits, rf))
    ymax = 1 << (rf + 2)
    e_lo, e_hi = -(m // 2) - 1, max(vbits - m, 0) // 2 + 1
    sh_off = m // 2 - frac
    e_top = (vbits - 1 - m) >> 1

    phase = enum("IDLE", "LEAD", "EXPONENT", "NORM", "SEED", "SQUARE", "TERM", "STEP",
                 "ROUND", "FINAL", "DONE")
    state = Signal(phase.IDLE)
    # v's leading one, 1-based (wide enough to compare with m + 2)
    lead = Signal(intbv(0, min=0, max=max(vbits, m + 2) + 1))
    lead_r = Signal(intbv(0, min=0, max=lead.max))
    e_c = Signal(intbv(0, min=e_lo, max=e_hi))
    u_c = Signal(intbv(0, min=0, max=1 << (m + 2)))
    e = Signal(intbv(0, min=e_lo, max=e_hi))
    u = Signal(intbv(0, min=0, max=1 << (m + 2)))
    index = Signal(intbv(0, min=0, max=1 << lut_bits))
    seed = Signal(intbv(0, min=0, max=max(seeds) + 1))
    y = Signal(intbv(0, min=-ymax, max=ymax))
    yy = result(y, y)
    y2 = Signal(intbv(0, min=0, max=(ymax * ymax >> rf) + 1))
    uy = result(u, y2)
    t = Signal(intbv(0, min=-((1 << (m + 2)) * y2.max >> m) - 1, max=(3 << rf) + 1))
    yt = result(y, t)
    always_on = Signal(bool(0))     # 1 from the first edge
    multipliers = [product(clk, always_on, x, z, out) for x, z, out in
                   ((y, y, yy), (u, y2, uy), (y, t, yt))]
    wait = max(depth(len(x), len(z), is_signed(x), is_signed(z))
               for x, z in ((y, y), (u, y2), (y, t)))
    hold = Signal(intbv(0, min=0, max=wait + 1))
    steps = Signal(intbv(0, min=0, max=newton + 1))
    sh = Signal(intbv(0, min=e_lo + sh_off - 1, max=e_hi + sh_off + 1))
    # y plus the rounding half of the final shift
    yr = Signal(intbv(0, min=-ymax, max=ymax + (1 << max(sh.max - 2, 0))))

    @always_comb
    def leading_one():
        lead.next = 0
        for i in range(vbits):
            if v[i]:
                lead.next = i + 1

    @always_comb
    def exponent():
        if lead_r > m:
            e_c.next = (lead_r - 1 - m) >> 1
        else:
            e_c.next = -((m + 2 - lead_r) >> 1)

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

    @always(clk.posedge)
    def constant():
        """The products' enable, as a register: a signal must be driven to convert."""
        always_on.next = 1

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
                state.next = phase.LEAD
        elif state == phase.LEAD:
            lead_r.next = lead
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
            hold.next = wait
            if newton > 0:
                state.next = phase.SQUARE
            else:
                state.next = phase.ROUND
        elif hold != 0:
            hold.next = hold - 1        # a product's pieces settle
        elif state == phase.SQUARE:
            y2.next = yy >> rf
            hold.next = wait
            state.next = phase.TERM
        elif state == phase.TERM:
            t.next = (3 << rf) - (uy >> m)
            hold.next = wait
            state.next = phase.STEP
        elif state == phase.STEP:
            y.next = yt >> (rf + 1)
            hold.next = wait
            if steps == 1:
                state.next = phase.ROUND
            else:
                steps.next = steps - 1
                state.next = phase.SQUARE
        elif state == phase.ROUND:
            if sh > 0:
                yr.next = y + (1 << (sh - 1))
            else:
                yr.next = y
            state.next = phase.FINAL
        elif state == phase.FINAL:
            if sh > 0:
                r.next = yr >> sh
            else:
                r.next = yr << (-sh)
            state.next = phase.DONE
        elif not go:
            state.next = phase.IDLE
            e.next = e_top

    return multipliers, leading_one, exponent, normalise, lookup, rom, constant, status, sequence
