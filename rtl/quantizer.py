"""Per-token absmax activation quantiser, bit-exact with FixedPoint.quantize.

It takes n row-wise values (one per beat) into one of two banks while tracking
max|y|, then forms recip = (qmax << K) // m, m = max(absmax, 1), K = recip_frac,
with the restoring divider of :mod:`rtl.divider`, one quotient bit per cycle
(bitlen(qmax << K) cycles: 39 with the default numerics), then reads the bank
back and emits q = clamp(round_shift(y * recip, K), qmin, qmax) with m in every
output beat. Double-buffered: loading, dividing and emitting each follow their
own bank pointer, so the next vector loads while the last one is divided and
emitted, and back to back an operation costs about n + 24 cycles at n = 64 (a
bank is free again once it was loaded, divided and emitted: 2 II >= 2n + 47),
not 2n + 45. The read-back path is pipelined: the bank read and its output
register, y * recip in MULT18-sized registered pieces (:mod:`rtl.multiply`),
rounding, clamp.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from myhdl import Signal, always, always_comb, block, intbv

from rtl.divider import quotient_bits, reciprocal
from rtl.flow import readback
from rtl.multiply import depth, product
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

    # two banks of n values; per bank: full (a whole vector is in it) and divided
    # (its reciprocal is ready); load, divider and emit each own one bank pointer
    store = [Signal(intbv(0, min=-ymax, max=ymax)) for _ in range(2 * n)]
    full, divd = Signal(intbv(0)[2:]), Signal(intbv(0)[2:])
    wbank, dbank, rbank = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    waddr = Signal(intbv(0, min=0, max=2 * n))
    raddr = Signal(intbv(0, min=0, max=2 * n))
    y = Signal(intbv(0, min=-ymax, max=ymax))
    yabs = Signal(intbv(0, min=0, max=ymax + 1))
    amax = Signal(intbv(0, min=0, max=ymax + 1))
    biggest = Signal(intbv(0, min=0, max=ymax + 1))
    amaxs = [Signal(intbv(1, min=0, max=ymax + 1)) for _ in range(2)]
    cnt = Signal(intbv(0, min=0, max=n))
    take = Signal(bool(0))
    # the divider works on bank dbank; it must see go low for a cycle between banks
    m = Signal(intbv(1, min=0, max=ymax + 1))
    recip = Signal(intbv(0, min=0, max=1 << nb))
    recips = [Signal(intbv(0, min=0, max=1 << nb)) for _ in range(2)]
    go, divided, cool = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    divider = reciprocal(clk, rst, go, m, divided, recip, qmax=qmax, k=k)
    # read-back of bank rbank: read, its register, y * recip, rounding, clamp
    run = Signal(bool(0))
    ridx = Signal(intbv(0, min=0, max=n))
    adv = Signal(bool(0))
    done = Signal(bool(0))
    reader = readback(clk, rst, run, ridx, adv, o_valid, o_ready, done, n=n,
                      depth=4 + depth(bits, nb))
    r_emit = Signal(intbv(0, min=0, max=1 << nb))
    m_emit = Signal(intbv(0, min=0, max=ymax + 1))
    rdata = Signal(intbv(0, min=-ymax, max=ymax))
    rdata_r = Signal(intbv(0, min=-ymax, max=ymax))
    prod = Signal(intbv(0, min=-prod_bound, max=prod_bound))
    multiplier = product(clk, adv, rdata_r, r_emit, prod)
    shifted = Signal(intbv(0, min=-(prod_bound >> k) - 1, max=(prod_bound >> k) + 1))
    shifted_r = Signal(intbv(0, min=shifted.min, max=shifted.max))
    qout = Signal(intbv(0, min=qmin, max=qmax + 1))

    @always_comb
    def comb():
        y.next = i_data[bits:].signed()
        take.next = i_valid and not full[wbank] and not rst
        i_ready.next = not full[wbank] and not rst
        go.next = full[dbank] and not divd[dbank] and not cool
        run.next = divd[rbank]

    @always_comb
    def banks():
        m.next = amaxs[dbank]
        if wbank:
            waddr.next = cnt + n
        else:
            waddr.next = cnt
        if rbank:
            raddr.next = ridx + n
        else:
            raddr.next = ridx

    @always_comb
    def absval():
        if y < 0:
            yabs.next = -y
        else:
            yabs.next = y

    @always_comb
    def running_max():
        if yabs > amax:
            biggest.next = yabs
        else:
            biggest.next = amax

    @always_comb
    def rounding():
        shifted.next = (prod + (1 << (k - 1))) >> k

    @always_comb
    def pack():
        o_data.next = (m_emit << abits) | qout[abits:]

    @always(clk.posedge)
    def emitted():
        """The emitted bank's reciprocal and absmax, registered: rbank changes only
        when the pipeline is empty, and the first product of a bank is two cycles
        after its first read."""
        r_emit.next = recips[rbank]
        m_emit.next = amaxs[rbank]

    @always(clk.posedge)
    def write():
        if take:
            store[waddr].next = y

    @always(clk.posedge)
    def control():
        if rst:
            full.next = 0
            divd.next = 0
            wbank.next = 0
            dbank.next = 0
            rbank.next = 0
            cnt.next = 0
            amax.next = 0
            cool.next = 0
        else:
            if take:
                if cnt == n - 1:
                    cnt.next = 0
                    amax.next = 0
                    full.next[wbank] = 1
                    if biggest == 0:
                        amaxs[wbank].next = 1
                    else:
                        amaxs[wbank].next = biggest
                    wbank.next = not wbank
                else:
                    cnt.next = cnt + 1
                    amax.next = biggest
            cool.next = 0
            if divided and not cool:
                recips[dbank].next = recip
                divd.next[dbank] = 1
                dbank.next = not dbank
                cool.next = 1
            if done:
                full.next[rbank] = 0
                divd.next[rbank] = 0
                rbank.next = not rbank

    @always(clk.posedge)
    def datapath():
        if adv:
            rdata.next = store[raddr]
            rdata_r.next = rdata
            shifted_r.next = shifted
            if shifted_r > qmax:
                qout.next = qmax
            elif shifted_r < qmin:
                qout.next = qmin
            else:
                qout.next = shifted_r

    return (reader, divider, multiplier, comb, banks, absval, running_max, rounding, pack,
            emitted, write, control, datapath)


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
