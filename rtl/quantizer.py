"""Per-token absmax activation quantiser, bit-exact with FixedPoint.quantize.

It takes n row-wise values (one per beat) into a buffer while tracking max|y|,
then forms recip = (qmax << K) // m, m = max(absmax, 1), K = recip_frac, with the
restoring divider of :mod:`rtl.divider`, one quotient bit per cycle (bitlen(qmax << K)
cycles: 39 with the default numerics), then reads the buffer back and emits
q = clamp(round_shift(y * recip, K), qmin, qmax) with m in every output beat.
The phases run one after another, so an operation takes about 2n + 39 + 6
cycles and the next one starts when the last q has left. The read-back path is
pipelined (read, two partial products of y * recip, their sum, rounding, clamp).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from myhdl import Signal, always, always_comb, block, enum, intbv

from rtl.divider import quotient_bits, reciprocal
from rtl.flow import readback
from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout

#: low bits of recip in the first partial product of y * recip
SPLIT = 17


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
    """The three-phase quantiser (see the module docstring)."""
    qmax = (1 << (abits - 1)) - 1
    qmin = -qmax - 1
    k = bits + abits
    nb = quotient_bits(qmax, k)
    ymax = 1 << (bits - 1)
    prod_bound = ymax << nb

    phase = enum("LOAD", "DIV", "EMIT")
    state = Signal(phase.LOAD)
    store = [Signal(intbv(0, min=-ymax, max=ymax)) for _ in range(n)]
    y = Signal(intbv(0, min=-ymax, max=ymax))
    yabs = Signal(intbv(0, min=0, max=ymax + 1))
    amax = Signal(intbv(0, min=0, max=ymax + 1))
    cnt = Signal(intbv(0, min=0, max=n))
    recip = Signal(intbv(0, min=0, max=1 << nb))
    go, divided = Signal(bool(0)), Signal(bool(0))
    divider = reciprocal(clk, rst, go, amax, divided, recip, qmax=qmax, k=k)
    # read-back: read, two partial products, their sum, rounding, clamp (5 registers)
    run = Signal(bool(0))
    ridx = Signal(intbv(0, min=0, max=n))
    adv = Signal(bool(0))
    done = Signal(bool(0))
    reader = readback(clk, rst, run, ridx, adv, o_valid, o_ready, done, n=n, depth=5)
    rdata = Signal(intbv(0, min=-ymax, max=ymax))
    # y * recip as two registered partial products, so each fits a few DSP tiles
    low = min(SPLIT, nb - 1)
    rl = Signal(intbv(0)[low:])
    rh = Signal(intbv(0)[nb - low:])
    pl = Signal(intbv(0, min=-ymax << low, max=ymax << low))
    ph = Signal(intbv(0, min=-ymax << (nb - low), max=ymax << (nb - low)))
    prod = Signal(intbv(0, min=-prod_bound, max=prod_bound))
    shifted = Signal(intbv(0, min=-(prod_bound >> k) - 1, max=(prod_bound >> k) + 1))
    shifted_r = Signal(intbv(0, min=shifted.min, max=shifted.max))
    qout = Signal(intbv(0, min=qmin, max=qmax + 1))

    @always_comb
    def comb():
        y.next = i_data[bits:].signed()
        i_ready.next = state == phase.LOAD and not rst
        run.next = state == phase.EMIT
        go.next = state == phase.DIV

    @always_comb
    def absval():
        if y < 0:
            yabs.next = -y
        else:
            yabs.next = y

    @always_comb
    def split():
        rl.next = recip[low:]
        rh.next = recip[nb:low]

    @always_comb
    def rounding():
        shifted.next = (prod + (1 << (k - 1))) >> k

    @always_comb
    def pack():
        o_data.next = (amax << abits) | qout[abits:]

    @always(clk.posedge)
    def write():
        if state == phase.LOAD and i_valid:
            store[cnt].next = y

    @always(clk.posedge)
    def control():
        if rst:
            state.next = phase.LOAD
            cnt.next = 0
            amax.next = 0
        else:
            if state == phase.LOAD:
                if i_valid:
                    if yabs > amax:
                        amax.next = yabs
                    if cnt == n - 1:
                        cnt.next = 0
                        state.next = phase.DIV
                        if yabs == 0 and amax == 0:
                            amax.next = 1
                    else:
                        cnt.next = cnt + 1
            elif state == phase.DIV:
                if divided:
                    state.next = phase.EMIT
            elif done:
                state.next = phase.LOAD
                amax.next = 0

    @always(clk.posedge)
    def datapath():
        if adv:
            rdata.next = store[ridx]
            pl.next = rdata * rl
            ph.next = rdata * rh
            prod.next = (ph << low) + pl
            shifted_r.next = shifted
            if shifted_r > qmax:
                qout.next = qmax
            elif shifted_r < qmin:
                qout.next = qmin
            else:
                qout.next = shifted_r

    return reader, divider, comb, absval, split, rounding, pack, write, control, datapath


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
