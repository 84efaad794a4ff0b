"""RMSNorm's 1/sqrt as a sub-block, bit-exact with FixedPoint.rsqrt.

A short sequence of states: find v's leading one, normalise v by an even shift to
u, read the seed table of cosim.numerics.nonlinear at u's top bits, run the Newton
steps y <- y * (3 - u*y^2) / 2 (square, term, step) and shift back with rounding.
Each product runs on MULT18X18D blocks with their registers (:mod:`rtl.mult18`) and
its state waits the pieces' depth for it. For the clock, the leading one, the
exponent, the normalising shift, the seed table and the final shift are registers
computing on every cycle from registers, and the state that takes one waits a cycle.
Kept apart from :mod:`rtl.rmsnorm` so that its own vectors (tests/test_rtl_subblocks.py)
check it against the golden model directly.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, enum, intbv

from cosim.numerics.nonlinear import rsqrt_seeds
from rtl.mult18 import product, product_latency, result

#: bits of v one leading-one finder looks at (its result registered, then combined)
CHUNK = 8


@block
def _chunk_lead(clk, v, lo, width, found, pos):
    """found <= v[lo + width : lo] != 0; pos <= lo + 1 + its leading one's index."""
    @always(clk.posedge)
    def find():
        found.next = 0
        pos.next = 0
        for i in range(width):
            if v[lo + i]:
                found.next = 1
                pos.next = lo + i + 1

    return find


@block
def _highest(found, pos, prev, out):
    """out = pos when found, else prev (one link of the chunks' priority chain)."""
    @always_comb
    def pick():
        if found:
            out.next = pos
        else:
            out.next = prev

    return pick


@block
def _register(clk, x, y):
    @always(clk.posedge)
    def reg():
        y.next = x

    return reg


def result_bound(frac: int, rf: int) -> int:
    """r < 2**(frac + rf + 1), as v >= 1 (FixedPoint.rsqrt's docstring)."""
    return 1 << (frac + rf + 1)


@block
def rsqrt(clk, rst, go, v, done, r, *, frac, rf, lut_bits, newton):
    """r = FixedPoint.rsqrt(v), v >= 1 held while ``go`` is high.

    When ``go`` rises the sequence starts; ``done`` rises with r valid and stays
    high until ``go`` falls, which re-arms the block. It takes newton * 3 * (d + 1) + 17
    cycles, d the depth of the widest of its products.
    """
    vbits = max((v.max - 1).bit_length(), 1)
    m = rf + (rf & 1)
    seeds = tuple(rsqrt_seeds(lut_bits, rf))
    ymax = 1 << (rf + 2)
    e_lo, e_hi = -(m // 2) - 1, max(vbits - m, 0) // 2 + 1
    sh_off = m // 2 - frac
    e_top = (vbits - 1 - m) >> 1
    top_amt, top_neg = abs(2 * e_top), e_top < 0

    phase = enum("IDLE", "LEAD", "EXPONENT", "NORM", "SEED", "SQUARE", "TERM", "STEP",
                 "ROUND", "FINAL", "DONE",
                 encoding="one_hot")
    state = Signal(phase.IDLE)
    # v's leading one, 1-based (wide enough to compare with m + 2)
    lead = Signal(intbv(0, min=0, max=max(vbits, m + 2) + 1))
    lead_r = Signal(intbv(0, min=0, max=lead.max))
    e_c = Signal(intbv(0, min=e_lo, max=e_hi))
    above = Signal(bool(0))
    lmax = max(vbits, m + 2)
    up = Signal(intbv(0, min=((-1 - m) >> 1) - 1, max=max((lmax - 1 - m) >> 1, 0) + 1))
    down = Signal(intbv(0, min=min((m + 2 - lmax) >> 1, 0) - 1, max=((m + 2) >> 1) + 1))
    # |2e| and e < 0, so the normalising shift needs no negation or compare
    amt_c, amt = (Signal(intbv(0, min=0, max=2 * max(-e_lo, e_hi) + 1)) for _ in range(2))
    neg_c, neg, neg_a = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    u_a, u_b = (Signal(intbv(0, min=0, max=max(v.max, 1 << (m + 2)))) for _ in range(2))
    mid, fine, fine_a = Signal(intbv(0)[4:]), Signal(intbv(0)[3:]), Signal(intbv(0)[3:])
    neg_b = Signal(bool(0))
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
    multipliers = [product(clk, x, z, out, fabric=True)
                   for x, z, out in ((y, y, yy), (u, y2, uy), (y, t, yt))]
    # v's leading one in two registered steps: per chunk of CHUNK bits, then the highest
    chunks = range(0, vbits, CHUNK)
    founds = [Signal(bool(0)) for _ in chunks]
    poss = [Signal(intbv(0, min=0, max=lead.max)) for _ in chunks]
    finders = [_chunk_lead(clk, v, lo, min(CHUNK, vbits - lo), founds[j], poss[j])
               for j, lo in enumerate(chunks)]
    links = [Signal(intbv(0, min=0, max=lead.max)) for _ in chunks]
    finders += [_highest(founds[0], poss[0], poss[0], links[0])]
    finders += [_highest(founds[j], poss[j], links[j - 1], links[j]) for j in range(1, len(links))]
    finders.append(_register(clk, links[-1], lead))
    wait = max(product_latency(x, z) for x, z in ((y, y), (u, y2), (y, t)))
    hold = Signal(intbv(0, min=0, max=wait + 1))
    holding = Signal(bool(0))       # hold != 0, as a register of its own
    steps = Signal(intbv(0, min=0, max=newton + 1))
    sh = Signal(intbv(0, min=e_lo + sh_off - 1, max=e_hi + sh_off + 1))
    # y plus the rounding half of the final shift; that half; the shifted result
    yr = Signal(intbv(0, min=-ymax, max=ymax + (1 << max(sh.max - 2, 0))))
    half = Signal(intbv(0, min=0, max=(1 << max(sh.max - 2, 0)) + 1))
    r_c = Signal(intbv(0, min=r.min, max=r.max))
    # sh > 0, sh and -sh as registers (sh is set long before ROUND)
    pos, pos_a, pos_b = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    part_a, part_b = Signal(intbv(0)[3:]), Signal(intbv(0)[2:])
    r_a, r_b = (Signal(intbv(0, min=min(yr.min, 0), max=max(yr.max, r.max))) for _ in range(2))
    shf = Signal(intbv(0, min=0, max=max(sh.max, -sh.min + 1, 2)))
    shm = Signal(intbv(0, min=sh.min - 1, max=sh.max))


    @always(clk.posedge)
    def exponent():
        """e in two registered steps: both candidates and the test, then the choice
        (one carry chain a step)."""
        above.next = lead_r > m
        up.next = (lead_r - 1 - m) >> 1
        down.next = (m + 2 - lead_r) >> 1
        if above:
            e_c.next = up
            amt_c.next = up << 1
            neg_c.next = 0
        else:
            e_c.next = -down
            amt_c.next = down << 1
            neg_c.next = 1

    @always(clk.posedge)
    def normalise():
        """v shifted by 2e in three registered steps, by amt's multiple of 16, its 8 and
        the rest (each step carries the amount it was given, so the steps stay in range)."""
        if neg:
            u_a.next = v << (amt & ~15)
        else:
            u_a.next = v >> (amt & ~15)
        mid.next = amt & 8
        fine_a.next = amt & 7
        neg_a.next = neg
        if neg_a:
            u_b.next = u_a << mid
        else:
            u_b.next = u_a >> mid
        fine.next = fine_a
        neg_b.next = neg_a
        if neg_b:
            u_c.next = u_b << fine
        else:
            u_c.next = u_b >> fine

    @always_comb
    def lookup():
        index.next = u >> (m + 2 - lut_bits)

    @always(clk.posedge)
    def rom():
        seed.next = seeds[index]

    @always(clk.posedge)
    def final_shift():
        """The rounding half in two registered steps (sh is set long before ROUND), and
        the final shift in three, taken only in FINAL (its wait cycles), where yr and sh
        are the run's."""
        pos.next = sh > 0
        shm.next = sh - 1
        if sh > 0:
            shf.next = sh
        else:
            shf.next = -sh
        if pos:
            half.next = 1 << shm
        else:
            half.next = 0
        if state == phase.FINAL:
            # by the multiple of 8, then by 4 or 0, then by the rest; each step carries
            # the amount and direction it was given, so a step never meets a stale one
            if pos:
                r_a.next = yr >> (shf & ~7)
            else:
                r_a.next = yr << (shf & ~7)
            part_a.next = shf & 7
            pos_a.next = pos
            if pos_a:
                r_b.next = r_a >> (part_a & 4)
            else:
                r_b.next = r_a << (part_a & 4)
            part_b.next = part_a & 3
            pos_b.next = pos_a
            if pos_b:
                r_c.next = r_b >> part_b
            else:
                r_c.next = r_b << part_b

    @always_comb
    def status():
        done.next = state == phase.DONE

    @always(clk.posedge)
    def steps_free():
        """What the states only wait for, on every cycle (their sources hold still while
        a state waits; fewer registers hang on the state and its enables)."""
        lead_r.next = lead
        u.next = u_c
        sh.next = e + sh_off
        y2.next = yy >> rf
        t.next = (3 << rf) - (uy >> m)
        yr.next = y + half

    @always(clk.posedge)
    def sequence():
        if rst:
            state.next = phase.IDLE
            e.next = e_top
            amt.next = top_amt
            neg.next = top_neg
        elif state == phase.IDLE:
            # the largest exponent keeps v >> 2e in range until the real one arrives
            e.next = e_top
            amt.next = top_amt
            neg.next = top_neg
            if go:
                hold.next = 1           # v's leading one takes two registers
                holding.next = 1
                state.next = phase.LEAD
        elif holding:
            hold.next = hold - 1        # a registered result or a product settles
            holding.next = hold != 1
        elif state == phase.LEAD:
            hold.next = 2
            holding.next = 1
            state.next = phase.EXPONENT
        elif state == phase.EXPONENT:
            e.next = e_c
            amt.next = amt_c
            neg.next = neg_c
            hold.next = 3
            holding.next = 1
            state.next = phase.NORM
        elif state == phase.NORM:
            hold.next = 1
            holding.next = 1
            state.next = phase.SEED
        elif state == phase.SEED:
            y.next = seed
            steps.next = newton
            hold.next = wait
            holding.next = 1
            if newton > 0:
                state.next = phase.SQUARE
            else:
                state.next = phase.ROUND
        elif state == phase.SQUARE:
            hold.next = wait
            holding.next = 1
            state.next = phase.TERM
        elif state == phase.TERM:
            hold.next = wait
            holding.next = 1
            state.next = phase.STEP
        elif state == phase.STEP:
            y.next = yt >> (rf + 1)
            hold.next = wait
            holding.next = 1
            if steps == 1:
                state.next = phase.ROUND
            else:
                steps.next = steps - 1
                state.next = phase.SQUARE
        elif state == phase.ROUND:
            hold.next = 3
            holding.next = 1
            state.next = phase.FINAL
        elif state == phase.FINAL:
            r.next = r_c
            state.next = phase.DONE
        elif not go:
            state.next = phase.IDLE
            e.next = e_top
            amt.next = top_amt
            neg.next = top_neg

    return (multipliers, finders, exponent, normalise, lookup, rom, final_shift, status, steps_free,
            sequence)
