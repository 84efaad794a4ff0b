"""Per-token absmax activation quantiser, bit-exact with FixedPoint.quantize.

It takes n row-wise values (one per beat) into one of two banks while tracking
max|y| (two running maxima, of the even and of the odd beats, each compare
registered before the update it enables), then forms recip = (qmax << K) // m,
m = max(absmax, 1), K = recip_frac, with the non-restoring divider of
:mod:`rtl.divider`, one quotient bit per cycle (bitlen(qmax << K) cycles: 39
with the default numerics), then reads the bank back and emits
q = clamp(round_shift(y * recip, K), qmin, qmax) with m in every output beat.
Double-buffered: loading, dividing and emitting each follow their own bank
pointer, so the next vector loads while the last one is divided and emitted,
and back to back an operation costs about n + 29 cycles (measured 92.9 at
n = 64: a bank is free again once it was loaded, divided and emitted), not
2n + 45. The read-back path is pipelined: the bank read and its output
register, y * recip on MULT18X18D blocks with their registers
(:mod:`rtl.mult18`), rounding, clamp.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from myhdl import Signal, always, always_comb, block, concat, intbv

from rtl.bram import READ_LATENCY, bram
from rtl.divider import quotient_bits, reciprocal
from rtl.flow import counter, readback
from rtl.mult18 import product, product_latency, round_clamp
from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout


def _n(params: dict) -> int:
    n = params["n"]
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"quantize.n must be a positive integer, not {n!r}")
    return n


def in_layout(params: dict) -> Layout:
    """One signed row-wise value per beat."""
    return Layout(Field("y", numerics_of(params).rowwise.bits, signed=True))


def out_layout(params: dict) -> Layout:
    """One quantised activation and the token's absmax m."""
    num = numerics_of(params)
    return Layout(Field("q", num.activation_bits, signed=True),
                  Field("absmax", num.rowwise.bits))


def golden(params: dict, beats: list) -> list:
    """FixedPoint.quantize of each complete group of n beats."""
    n, fx = _n(params), fixed_of(params)
    out = []
    for k in range(len(beats) // n):
        q, m = fx.quantize(np.array([b["y"] for b in beats[k * n:(k + 1) * n]], np.int64))
        out += [{"q": int(v), "absmax": m} for v in q]
    return out


def random_stimulus(params: dict, rng: np.random.Generator, operations: int) -> list:
    """Vectors of random magnitude (a random number of bits), so absmax varies widely."""
    n, fx = _n(params), fixed_of(params)
    beats = []
    for _ in range(operations):
        span = 1 << int(rng.integers(0, fx.bits))
        lo, hi = max(fx.lo, -span), min(fx.hi, span)
        beats += [{"y": int(v)} for v in rng.integers(lo, hi + 1, n)]
    return beats


def edge_stimulus(params: dict) -> list:
    """All-zero, ±1 LSB, full-scale and most-negative vectors, ties of the rounding."""
    n, fx = _n(params), fixed_of(params)
    vectors = [[0] * n, [1] + [0] * (n - 1), [-1] * n, [fx.lo] * n, [fx.hi] * n,
               [fx.lo if k % 2 else fx.hi for k in range(n)],
               [(k * 37) % 7 - 3 for k in range(n)], [fx.lo] + [fx.hi // 2 + 1] * (n - 1)]
    return [{"y": v} for vec in vectors for v in vec]


@block
def quantize(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, *, n, bits,
             abits):
    """The double-buffered quantiser (see the module docstring)."""
    qmax = (1 << (abits - 1)) - 1
    qmin = -qmax - 1
    k = bits + abits
    nb = quotient_bits(qmax, k)
    ymax = 1 << (bits - 1)
    prod_bound = ymax << nb

    # two banks of n values (a bank's address is its number above the index, so no
    # adder forms it); per bank: full (a whole vector is in it) and divided (its
    # reciprocal is ready); load, divider and emit each own one bank pointer
    half = max(2, 1 << (n - 1).bit_length())
    full, divd = Signal(intbv(0)[2:]), Signal(intbv(0)[2:])
    wbank, dbank, rbank = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    waddr = Signal(intbv(0, min=0, max=2 * half))
    raddr = Signal(intbv(0, min=0, max=2 * half))
    y = Signal(intbv(0, min=-ymax, max=ymax))
    # absmax: |y| (floored at 1) registered, then two running maxima, one of the even
    # beats and one of the odd, so that each is updated at most every other cycle and
    # its compare with |y| has a register of its own before the update it enables
    # (measured: a compare deciding the register's enable in one cycle, 5.0 ns); then
    # the larger of the two, a registered compare and a registered select, into the
    # bank's amaxs. t1, f1, g1, l1, b1, o1: a beat, the vector's first, its second, its
    # last, its bank, an odd beat; te2, fe2, to2, fo2: an even beat, one starting the
    # even maximum, an odd beat, one starting the odd maximum, a step later; l2 .. l4,
    # b2 .. b4: the last beat and its bank, one, two, three steps later
    yabs = Signal(intbv(0, min=0, max=ymax + 1))
    ylate = Signal(intbv(0, min=0, max=ymax + 1))
    t1, f1, g1, l1, b1, o1 = (Signal(bool(0)) for _ in range(6))
    te2, fe2, to2, fo2 = (Signal(bool(0)) for _ in range(4))
    l2, l3, l4 = (Signal(bool(0)) for _ in range(3))
    b2, b3, b4 = (Signal(bool(0)) for _ in range(3))
    amax_e, amax_o = (Signal(intbv(1, min=0, max=ymax + 1)) for _ in range(2))
    gap_e, gap_o = (Signal(intbv(0, min=-ymax - 1, max=ymax + 1)) for _ in range(2))
    bigger_e, bigger_o = Signal(bool(0)), Signal(bool(0))
    # the two maxima a step after the last beat, and whether the odd one is the larger
    late_e, late_o = (Signal(intbv(1, min=0, max=ymax + 1)) for _ in range(2))
    gap_eo = Signal(intbv(0, min=-ymax - 1, max=ymax + 1))
    odd_wins = Signal(bool(0))
    amaxs = [Signal(intbv(1, min=0, max=ymax + 1)) for _ in range(2)]
    cnt = Signal(intbv(0, min=0, max=half))
    # take: a beat is taken; offer: the same outside reset, for the control registers,
    # whose reset has priority (with take there, rst reached room through four LUTs)
    take, offer = Signal(bool(0)), Signal(bool(0))
    # registers a beat ahead, so that a beat is taken by one LUT of registers (measured:
    # with full[wbank] and cnt == n - 1 between, rst to full was four LUTs, 4.9 ns
    # between registered ports): at_first, at_second, at_last, the next beat is a
    # vector's first, second, last (the load counter's flag); room, bank wbank is free
    at_first, at_second = Signal(bool(1)), Signal(bool(0))
    at_last, room = Signal(bool(n == 1)), Signal(bool(1))
    loads = counter(clk, rst, offer, cnt, at_last, n=n)
    # the divider works on bank dbank; it must see go low for a cycle between banks.
    # go is a register (its conditions would reach every divider register); cool
    # holds from taking a result until the divider has seen go low and dropped done
    m = Signal(intbv(1, min=0, max=ymax + 1))
    recip = Signal(intbv(0, min=0, max=1 << nb))
    recips = [Signal(intbv(0, min=0, max=1 << nb)) for _ in range(2)]
    go, divided, cool = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    # keep: a cycle after taking a result, store it in recips[kbank] (LUT RAM: its write
    # enable right behind done's test was 5.0 ns) and mark the bank divided
    keep, kbank = Signal(bool(0)), Signal(bool(0))
    divider = reciprocal(clk, rst, go, m, divided, recip, qmax=qmax, k=k)
    # read-back of bank rbank: the store's three read registers, y * recip, rounding,
    # clamp; run (bank rbank is divided) a register, the next state of divd[rbank]
    # (measured: as a mux before the read counter's logic, 5.3 ns at n = 2816)
    run = Signal(bool(0))
    ridx = Signal(intbv(0, min=0, max=half))
    done = Signal(bool(0))
    r_emit = Signal(intbv(0, min=0, max=1 << nb))
    m_emit = Signal(intbv(0, min=0, max=ymax + 1))
    rdata = Signal(intbv(0, min=-ymax, max=ymax))
    store = bram(clk, take, waddr, y, raddr, rdata, depth=2 * half)
    data = Signal(intbv(0)[len(o_data):])
    reader = readback(clk, rst, run, ridx, o_valid, o_ready, o_data, data, done, n=n,
                      depth=READ_LATENCY + 2 + product_latency(rdata, r_emit))
    prod = Signal(intbv(0, min=-prod_bound, max=prod_bound))
    multiplier = product(clk, rdata, r_emit, prod, fabric=True)
    qout = Signal(intbv(0, min=qmin, max=qmax + 1))
    clamp = round_clamp(clk, prod, qout, k=k)

    @always_comb
    def comb():
        y.next = i_data[bits:].signed()
        take.next = i_valid and room and not rst
        offer.next = i_valid and room
        i_ready.next = room and not rst

    @always_comb
    def banks():
        waddr.next = concat(wbank, cnt)
        raddr.next = concat(rbank, ridx)

    @always(clk.posedge)
    def absval():
        # max(|y|, 1): a running maximum is then absmax's floor m itself
        if y < 0:
            yabs.next = -y
        elif y == 0:
            yabs.next = 1
        else:
            yabs.next = y
        t1.next = take
        f1.next = take and at_first
        g1.next = take and at_second
        l1.next = take and at_last
        b1.next = wbank
        o1.next = cnt[0]

    @always_comb
    def compare():
        """amax - |y| for each maximum, negative when |y| is bigger: one carry chain
        each (a ``>`` is cut into LUT trees by ABC, measured 0.7 ns slower); and the
        even maximum less the odd."""
        gap_e.next = amax_e - yabs
        gap_o.next = amax_o - yabs
        gap_eo.next = amax_e - amax_o

    @always(clk.posedge)
    def compared():
        """Each compare registered with the beat it belongs to; free-running."""
        ylate.next = yabs
        bigger_e.next = gap_e < 0
        bigger_o.next = gap_o < 0
        te2.next = t1 and not o1
        fe2.next = f1
        to2.next = t1 and o1
        fo2.next = g1
        l2.next = l1
        b2.next = b1
        l3.next = l2
        b3.next = b2
        l4.next = l3
        b4.next = b3
        late_e.next = amax_e
        late_o.next = amax_o
        odd_wins.next = gap_eo < 0

    @always(clk.posedge)
    def even_running():
        """Alone in its block, so that the registered compare is only the enable; a
        vector's first beat restarts it."""
        if te2 and (fe2 or bigger_e):
            amax_e.next = ylate

    @always(clk.posedge)
    def odd_running():
        """Restarted by a vector's second beat; with n = 1 it keeps the 1 of reset."""
        if rst:
            amax_o.next = 1
        elif to2 and (fo2 or bigger_o):
            amax_o.next = ylate

    @always_comb
    def pack():
        data.next = (m_emit << abits) | qout[abits:]

    @always(clk.posedge)
    def emitted():
        """The emitted bank's reciprocal and absmax, registered: rbank changes only
        when the pipeline is empty, and the first product of a bank is three cycles
        after its first read."""
        r_emit.next = recips[rbank]
        m_emit.next = amaxs[rbank]

    @always(clk.posedge)
    def divisor():
        """The divided bank's absmax, registered (measured: the bank mux in front of the
        divider's m - 1 was a 4.6 ns path); go rises a cycle after it is right."""
        m.next = amaxs[dbank]

    @always(clk.posedge)
    def control():
        if rst:
            full.next = 0
            divd.next = 0
            wbank.next = 0
            dbank.next = 0
            rbank.next = 0
            at_first.next = 1
            at_second.next = 0
            room.next = 1
            cool.next = 0
            go.next = 0
            keep.next = 0
            run.next = 0
        else:
            if offer:
                if at_last:
                    at_first.next = 1
                    at_second.next = 0
                    full.next[wbank] = 1
                    wbank.next = not wbank
                else:
                    at_first.next = 0
                    at_second.next = at_first
            # room: whether bank wbank is free after this edge (a vector's last beat
            # moves wbank to the other bank; an emitted bank is freed)
            if offer and at_last:
                room.next = not full[not wbank] or (done and rbank != wbank)
            else:
                room.next = not full[wbank] or (done and rbank == wbank)
            if l4:
                if odd_wins:
                    amaxs[b4].next = late_o
                else:
                    amaxs[b4].next = late_e
            # the last beat's absmax reaches amaxs four cycles after its bank is full, m
            # a cycle later
            go.next = (full[dbank] and not divd[dbank] and not cool and not l1 and not l2
                       and not l3 and not l4)
            if not divided:
                cool.next = 0
            keep.next = divided and not cool
            if divided and not cool:
                kbank.next = dbank
                dbank.next = not dbank
                cool.next = 1
            if keep:
                recips[kbank].next = recip
                divd.next[kbank] = 1
            if done:
                full.next[rbank] = 0
                divd.next[rbank] = 0
                rbank.next = not rbank
            # done moves rbank to the other bank (never the one kept)
            if done:
                run.next = divd[not rbank] or (keep and kbank != rbank)
            else:
                run.next = divd[rbank] or (keep and kbank == rbank)

    return (reader, loads, divider, store, multiplier, clamp, comb, banks, absval, compare,
            compared, even_running, odd_running, pack, emitted, divisor, control)


def build(params: dict):
    """The quantize block with its parameters bound."""
    num = numerics_of(params)
    return partial(quantize, n=_n(params), bits=num.rowwise.bits, abits=num.activation_bits)


SPEC = UnitSpec(
    name="quantize", build=build, in_layout=in_layout, out_layout=out_layout, golden=golden,
    random_stimulus=random_stimulus, edge_stimulus=edge_stimulus,
    param_names=("n", "numerics"),
    default_params={"n": 64},
    test_params=(
        {"n": 4},
        {"n": 7, "numerics": {"activation_bits": 4}},
        {"n": 5, "numerics": {"rowwise": {"bits": 12, "frac": 6}, "activation_bits": 6}},
    ),
)
