"""RMSNorm's 1/sqrt as a sub-block, bit-exact with FixedPoint.rsqrt.

A fixed sequence: find v's leading one, normalise v by an even shift to u, read
the seed table of cosim.numerics.nonlinear at u's top bits, run the Newton steps
y <- y * (3 - u*y^2) / 2 (square, term, step) and shift back with rounding.
Each product runs on MULT18X18D blocks with their registers (:mod:`rtl.mult18`).
For the clock, the leading one, the exponent, the normalising shift, the seed
table, the Newton terms and the final shift are registers computing on every
cycle from registers, and the sequence only says when a register takes its
result. No step depends on the data, so the sequence is a token running down a
shift register, one bit a cycle, and each step's enable is one of its bits: a
state machine's decode into the enables (state, its wait counter, rst) was the
unit's critical path, about 5 ns at 192 MHz between registered ports.
Kept apart from :mod:`rtl.rmsnorm` so that its own vectors (tests/test_rtl_subblocks.py)
check it against the golden model directly.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

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
    """r = FixedPoint.rsqrt(v), v >= 1 valid from the first cycle of ``go``, held while
    ``go`` is high.

    When ``go`` rises the sequence starts; ``done`` rises with r valid and stays
    high until ``go`` falls, which re-arms the block. It takes newton * 3 * (d + 1) + 19
    cycles, d the depth of the widest of its products.
    Cycle c of the sequence (c = 0: go's first) takes register x's result where the
    schedule says: v's leading one lands in ``lead`` at c = 2, the exponent e at
    c = 6, u at 10, y the seed at 13; each Newton step (y2, term t, y) takes
    3 (d + 1) cycles; then yr = y + half and the final shift's four steps, and r.
    """
    vbits = max((v.max - 1).bit_length(), 1)
    m = rf + (rf & 1)
    seeds = tuple(rsqrt_seeds(lut_bits, rf))
    ymax = 1 << (rf + 2)
    e_lo, e_hi = -(m // 2) - 1, max(vbits - m, 0) // 2 + 1
    sh_off = m // 2 - frac
    e_top = (vbits - 1 - m) >> 1
    top_amt, top_neg = abs(2 * e_top), e_top < 0

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
    seed_lo, seed_hi = (Signal(intbv(0, min=0, max=max(seeds) + 1)) for _ in range(2))
    top = Signal(bool(0))
    half_size = len(seeds) // 2
    low_seeds, high_seeds = seeds[:half_size], seeds[half_size:]
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
    d = max(product_latency(x, z) for x, z in ((y, y), (u, y2), (y, t)))
    sh = Signal(intbv(0, min=e_lo + sh_off - 1, max=e_hi + sh_off + 1))
    # y plus the rounding half of the final shift; that half; the shifted result
    yr = Signal(intbv(0, min=-ymax, max=ymax + (1 << max(sh.max - 2, 0))))
    half = Signal(intbv(0, min=0, max=(1 << max(sh.max - 2, 0)) + 1))
    r_d = Signal(intbv(0, min=r.min, max=r.max))
    # the final shift by sh as a right shift of yr << lift by shr = sh + lift >= 0: one
    # direction, so each step is a two-way mux on one bit of a register (both directions,
    # chosen by sh > 0, were three LUTs from that register at 197.8 MHz)
    lift = -sh.min
    pos = Signal(bool(0))
    shm = Signal(intbv(0, min=sh.min - 1, max=sh.max))
    shr = Signal(intbv(0, min=0, max=sh.max + lift))
    part_a, part_b, part_c = Signal(intbv(0)[3:]), Signal(intbv(0)[2:]), Signal(bool(0))
    yl, r_a, r_b, r_c = (Signal(intbv(0, min=min(yr.min, 0) << lift, max=yr.max << lift))
                         for _ in range(4))
    # the schedule: the token is in bit c - 1 of ``token`` on cycle c of the sequence,
    # and a register taking its result at the end of cycle c is enabled by that bit
    take_e, take_seed = 5, 12
    take_steps = [take_seed + 3 * (d + 1) * s for s in range(1, newton + 1)]
    take_y = take_steps[-1] if newton else take_seed    # y is final from the next cycle
    # yr from the cycle after, then the final shift's four steps and r
    shift_a, shift_b, shift_c, shift_d = take_y + 2, take_y + 3, take_y + 4, take_y + 5
    take_r = take_y + 6
    length = take_r
    token = Signal(intbv(0)[length:])
    start, armed = Signal(bool(0)), Signal(bool(1))
    step_now = Signal(bool(0))      # the token reaches a Newton step next cycle
    step_mask = sum(1 << (s - 2) for s in take_steps)

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
        """Each half of the table by the index's low bits, then the index's top bit
        picks one (one 64-entry lookup, three LUT levels after the route from u's
        register at the multiplier, was 196 MHz)."""
        seed_lo.next = low_seeds[index[lut_bits - 1:]]
        seed_hi.next = high_seeds[index[lut_bits - 1:]]
        top.next = index[lut_bits - 1]
        if top:
            seed.next = seed_hi
        else:
            seed.next = seed_lo

    @always(clk.posedge)
    def rounding_half():
        """The rounding half in two registered steps, and the shift right (sh is set
        long before either is used)."""
        pos.next = sh > 0
        shm.next = sh - 1
        shr.next = sh + lift
        if pos:
            half.next = 1 << shm
        else:
            half.next = 0

    @always_comb
    def lifted():
        """yr << lift as wires (a shift in the step's expression converts to one at
        yr's width)."""
        yl.next = concat(yr, intbv(0)[lift:]).signed()

    @always(clk.posedge)
    def final_shift():
        """The final shift in four registered steps, each taken on its own cycle of the
        schedule, where yr and shr are the run's: by the multiple of 8, then by 4, 2 and 1
        or 0 (a step of 0-3 in one took three LUTs and 211 MHz); each step carries the
        amount it was given."""
        if token[shift_a - 1]:
            r_a.next = yl >> (shr & ~7)
            part_a.next = shr & 7
        if token[shift_b - 1]:
            r_b.next = r_a >> (part_a & 4)
            part_b.next = part_a & 3
        if token[shift_c - 1]:
            r_c.next = r_b >> (part_b & 2)
            part_c.next = part_b[0]
        if token[shift_d - 1]:
            r_d.next = r_c >> part_c

    @always(clk.posedge)
    def steps_free():
        """What the schedule only waits for, on every cycle (their sources hold still
        while it waits; fewer registers hang on the schedule's enables)."""
        lead_r.next = lead
        u.next = u_c
        sh.next = e + sh_off
        y2.next = yy >> rf
        t.next = (3 << rf) - (uy >> m)
        yr.next = y + half

    @always_comb
    def starting():
        start.next = go and armed

    @always(clk.posedge)
    def sequence():
        """The token and the handshake: armed until go starts a run, done from r's
        cycle until go falls, which re-arms."""
        if rst:
            token.next = 0
            armed.next = 1
            done.next = 0
        else:
            token.next = concat(token[length - 1:0], start)
            if start:
                armed.next = 0
            if token[take_r - 1]:
                done.next = 1
            elif done and not go:
                done.next = 0
                armed.next = 1
        step_now.next = (token & step_mask) != 0

    @always(clk.posedge)
    def exponent_taken():
        """The largest exponent while go is low keeps v >> 2e in range until the run's
        own arrives."""
        if rst or not go:
            e.next = e_top
            amt.next = top_amt
            neg.next = top_neg
        elif token[take_e - 1]:
            e.next = e_c
            amt.next = amt_c
            neg.next = neg_c

    @always(clk.posedge)
    def newton_step():
        if token[take_seed - 1]:
            y.next = seed
        elif step_now:
            y.next = yt >> (rf + 1)

    @always(clk.posedge)
    def result_taken():
        if token[take_r - 1]:
            r.next = r_d

    return (multipliers, finders, exponent, normalise, lookup, rom, rounding_half, lifted,
            final_shift, steps_free, starting, sequence, exponent_taken, newton_step, result_taken)
