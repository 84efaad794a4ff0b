"""Sub-blocks of the longest generators, each on its own vectors against the golden model.

tests/test_rtl_units.py proves whole units; these tables reach the corners of a
sub-block (every leading-one position of RMSNorm's rsqrt, every small divisor of
the quantiser's reciprocal, the largest operands, every weight code in the
mat-vec's adder tree) that whole-unit stimulus reaches only by chance.
"""

import random
from functools import partial

import numpy as np
import pytest
from myhdl import ResetSignal, Signal, StopSimulation, block, delay, instance, intbv

from cosim.numerics.fixed import round_shift
from rtl import matvec, mult18
from rtl.ccu2c import _ripple
from rtl.divider import STEP_INIT, quotient_bits, reciprocal
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


@block
def ticking(clk):
    """A clock of period 10 on ``clk``."""
    @instance
    def tick():
        while True:
            yield delay(5)
            clk.next = not clk
    return tick


def run_bench(bench) -> None:
    """Simulate the block function ``bench`` until it stops, and tear MyHDL down."""
    tb = bench()
    try:
        tb.run_sim(quiet=1)
    finally:
        tb.quit_sim()


def run_go_done(make, values: list[int], x, y) -> list[int]:
    """y for each value of x from the MyHDL sub-block ``make(clk, rst, go, x, done, y)``
    (a block with its parameters bound), one go/done handshake per value."""
    clk, rst = Signal(bool(0)), ResetSignal(1, active=1, isasync=False)
    go, done = Signal(bool(0)), Signal(bool(0))
    results = []

    @block
    def bench():
        dut = make(clk, rst, go, x, done, y)

        clock = ticking(clk)
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

    run_bench(bench)
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


def test_divider_step_cells_add_or_subtract_m():
    """a + m when the sign is set, a - m when not, the chain holding m - 1 and its
    carry-in the sign, for every 5-bit a and m - 1 (the cells' INIT, bit by bit)."""
    init = int(STEP_INIT.split("'h")[1], 16)
    for a in range(-16, 16):
        for m_less in range(16):
            assert _ripple(init, a, m_less, 1, 1, 1, 6) == a + m_less + 1
            assert _ripple(init, a, m_less, 0, 1, 0, 6) == a - m_less - 1


@pytest.mark.parametrize("tp, stages, abits", [(2, 1, 8), (8, 0, 8), (16, 2, 4), (64, 6, 16)])
def test_ternary_tree_sums_every_beat(tp, stages, abits):
    """Each beat's sum of a_i * w_i (FixedPoint.matvec of one beat) leaves the tree
    once as root + carry, with its last bit; extremes and code 10 included."""
    numerics = {"activation_bits": abits}
    params = {"tp": tp, "cols": tp, "numerics": numerics}
    fx = fixed_of(params)
    layout = matvec.in_layout(params)
    rng = random.Random(tp)
    beats = [{"act": [fx.qmin] * tp, "w": [0b11] * tp, "last": 1},
             {"act": [fx.qmax] * tp, "w": [0b01] * tp, "last": 0},
             {"act": [fx.qmin] * tp, "w": [0b10] * tp, "last": 1}]
    beats += [{"act": [rng.randint(fx.qmin, fx.qmax) for _ in range(tp)],
               "w": [rng.choice((0b00, 0b01, 0b11, 0b10)) for _ in range(tp)],
               "last": rng.randint(0, 1)} for _ in range(30)]
    expected = [(int(fx.matvec(np.array(b["act"], np.int64),
                               np.array([[matvec.CODES[c] for c in b["w"]]], np.float32))[0]),
                 b["last"]) for b in beats]
    nlev = tp.bit_length() - 1
    amax = 1 << (abits - 1)
    clk, rst = Signal(bool(0)), ResetSignal(1, active=1, isasync=False)
    i_valid, i_data = Signal(bool(0)), Signal(intbv(0)[layout.width:])
    vroot, lroot, carry = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    root = Signal(intbv(0, min=-amax << nlev, max=amax << nlev))
    seen = []

    @block
    def bench():
        dut = matvec.ternary_tree(clk, rst, i_valid, i_data, vroot, lroot, root, carry,
                                  tp=tp, stages=stages, abits=abits)

        clock = ticking(clk)
        @instance
        def drive():
            yield clk.posedge
            rst.next = 0
            for k, beat in enumerate(beats + [None] * (stages + 4)):
                offer = beat is not None and k % 3 != 2     # else idle, with garbage
                i_valid.next = offer
                i_data.next = layout.pack(beat) if offer else rng.getrandbits(layout.width)
                yield clk.posedge
                if vroot:
                    seen.append((int(root) + int(carry), int(lroot)))
                if beat is not None and k % 3 == 2:   # an idle cycle: offer it again
                    i_valid.next = 1
                    i_data.next = layout.pack(beat)
                    yield clk.posedge
                    if vroot:
                        seen.append((int(root) + int(carry), int(lroot)))
            raise StopSimulation

        return dut, clock, drive

    run_bench(bench)
    assert seen == expected


def product_run(a_bits: int, b_bits: int, b_signed: bool, fabric: bool) -> tuple[list, list]:
    """(products seen, products expected) of mult18.product on a signed a and an unsigned or
    signed b through random stalls: extremes first, then random pairs."""
    rng = random.Random(a_bits * 100 + b_bits)
    lo, hi = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    blo, top = (-(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1) if b_signed else \
        (0, (1 << b_bits) - 1)
    pairs = [(lo, top), (hi, top), (lo, blo), (hi, blo), (-1, 1), (hi, 1)]
    pairs += [(rng.randint(lo, hi), rng.randint(blo, top)) for _ in range(60)]
    clk, en = Signal(bool(0)), Signal(bool(0))
    a = Signal(intbv(0, min=lo, max=hi + 1))
    b = Signal(intbv(0, min=blo, max=top + 1)) if b_signed else Signal(intbv(0)[b_bits:])
    d = mult18.product_latency(a, b)
    ends = [x * y for x in (lo, hi) for y in (blo, top)]
    p = Signal(intbv(0, min=min(ends) - 1, max=max(ends) + 1))
    taken, seen = [], []

    @block
    def bench():
        dut = mult18.product(clk, a, b, p, en, fabric=fabric)

        clock = ticking(clk)
        @instance
        def drive():
            queue = list(pairs) + [(0, 0)] * d
            while queue:
                en.next = rng.random() < 0.7
                a.next, b.next = queue[0] if en.next else (rng.randint(lo, hi),
                                                           rng.randint(blo, top))
                yield clk.posedge
                if en:
                    taken.append(queue.pop(0))
                    yield delay(1)
                    if len(taken) >= d:
                        seen.append(int(p))
            raise StopSimulation

        return dut, clock, drive

    run_bench(bench)
    return seen, [x * y for x, y in taken[:len(taken) - d + 1]]


PRODUCTS = [(24, 39, False), (18, 17, False), (12, 20, False), (32, 63, False), (5, 4, False),
            (24, 24, True), (18, 18, True), (53, 17, False), (19, 19, True), (53, 18, False),
            (20, 36, False), (19, 21, True)]


@pytest.mark.parametrize("fabric", [False, True], ids=["blocks", "fabric"])
@pytest.mark.parametrize("a_bits, b_bits, b_signed", PRODUCTS)
def test_split_product_equals_the_product_through_stalls(a_bits, b_bits, b_signed, fabric):
    """a * b leaves the piece products and adder tree ``depth`` enabled edges later,
    whatever cycles the enable is low, with the pieces of at most mult18.SMALL bits on
    multiplier blocks or (``fabric``) in the fabric."""
    seen, expected = product_run(a_bits, b_bits, b_signed, fabric)
    assert seen == expected


def test_fabric_product_bench_fails_on_a_mutant(monkeypatch):
    """A signed small piece's top row added instead of subtracted: the bench sees it
    (a wrong product, or a sum out of its signal's range)."""
    term = mult18._term

    @block
    def added(x, s, bit, negate, t):
        return term(x, s, bit, False, t)

    monkeypatch.setattr(mult18, "_term", added)
    try:
        seen, expected = product_run(19, 19, True, True)
        caught = seen != expected
    except ValueError:          # or a sum leaves its signal's range
        caught = True
    assert caught



@pytest.mark.parametrize("k, bits, top", [(4, 8, 2), (1, 4, 2), (16, 24, 2), (0, 6, 2),
                                          (16, 8, 20)])
def test_round_clamp_saturates_the_rounded_product(k, bits, top):
    """clamp(round_shift(p, k)) two cycles later, at every rounding offset around both
    ends of q's range (where p >> k just fits or not, and p >> k == qmax with the
    rounding bit set), and at random; k = 0 (a Q.0 row-wise MUL) only clamps. With
    ``top`` bits above q's, more than mult18.SPLIT_TEST, the fit is tested in halves:
    a product with one bit set above q (and its negation) is clamped in either half."""
    qmax, qmin = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    bound = (qmax + 4) << (k + top)
    offsets = sorted({0, 1, (1 << k) >> 1, ((1 << k) >> 1) - 1, (1 << k) - 1} - {-1})
    values = [(p << k) + o for p in (*range(qmin - 3, qmin + 3), -1, 0, 1,
                                     *range(qmax - 3, qmax + 3)) for o in offsets]
    values += [s * (1 << (k + j)) for j in range(bits - 1, bits + top) for s in (1, -1)]
    rng = random.Random(k)
    values += [-bound, bound - 1] + [rng.randrange(-bound, bound) for _ in range(200)]
    clk = Signal(bool(0))
    prod = Signal(intbv(0, min=-bound, max=bound))
    q = Signal(intbv(0, min=qmin, max=qmax + 1))
    seen = []

    @block
    def bench():
        dut = mult18.round_clamp(clk, prod, q, k=k)
        clock = ticking(clk)

        @instance
        def drive():
            for v in values + [0]:
                prod.next = v
                yield clk.posedge
                yield delay(1)
                seen.append(int(q))
            raise StopSimulation

        return dut, clock, drive

    run_bench(bench)
    expected = [min(max(round_shift(v, k), qmin), qmax) for v in values]
    assert seen[1:len(values) + 1] == expected


@pytest.mark.parametrize("prod, q, k, message", [
    ((-1 << 12, 1 << 12), (-100, 100), 4, "full two's-complement range"),
    ((-1 << 12, 1 << 12), (-128, 128), -1, "k must be 0 or more"),
    ((-1 << 12, 1 << 12), (-128, 128), 7, "fewer than q's 8"),
])
def test_round_clamp_refuses_what_it_cannot_build(prod, q, k, message):
    """A q range that is not two's complement, a left shift, a product too short to clamp."""
    clk = Signal(bool(0))
    p = Signal(intbv(0, min=prod[0], max=prod[1]))
    y = Signal(intbv(0, min=q[0], max=q[1]))
    with pytest.raises(ValueError, match=message):
        mult18.round_clamp(clk, p, y, k=k)
