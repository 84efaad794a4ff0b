"""RMSNorm, bit-exact with FixedPoint.rmsnorm: sum of squares, exact mean, rsqrt, scaling.

n beats of (x, w) go into one of two banks of block RAM while sum(x^2)
accumulates; then a short sequence of states forms v = max(round_shift(ss *
round(2**k / n), k) + eps, 1), the sub-block :mod:`rtl.rsqrt` forms r = rsqrt(v),
and the unit reads the bank back and emits n beats of
sat(round_shift(sat(round_shift(x * r, rf)) * w, frac)).
Double-buffered, as :mod:`rtl.quantizer` is: loading (with its sum of squares),
the norm (mean and rsqrt) and emitting each follow their own bank pointer, and
each bank keeps its sum of squares and its rsqrt, so the next vector loads while
the last one is normed and emitted. A bank is free again once it was loaded,
normed and emitted (about 2n + 76 cycles), so back to back an operation costs
about n + 38 cycles (n = 64: 102.4, n = 128: 166.4, n = 2,816: 2,853.9), not
2n + 77 as with one store; each vector also waits for the one norm sequence
(about 50 cycles), which sets the II below n of about 12. The price is a bank
address bit (at n = 2,816 the stores take narrower and twice as many blocks) and
a cycle after each vector's last beat when no beat is taken (the sum of squares
clears, :func:`sum_of_squares`).
Every product goes into a full-width signal first, so no Verilog context width
truncates it, and every multiply, wide add and shift has a register stage of its
own (the exponent, the shift, each Newton product); x*x of the sum of squares,
ss * round(2**k/n), x*r and z*w run on MULT18X18D blocks with their registers
(:mod:`rtl.mult18`; pieces of three bits or less in the fabric), the sum of squares
in two half-width accumulators (:func:`sum_of_squares`), each product's rounding
and saturation in :func:`rtl.mult18.round_clamp`, and x and w are kept in block RAM
read through the block's own output register (:mod:`rtl.bram`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from myhdl import Signal, always, always_comb, block, concat, intbv

from rtl.bram import READ_LATENCY, bram
from rtl.flow import counter, readback
from rtl.mult18 import delay, product, product_latency, round_clamp
from rtl.rsqrt import result_bound, rsqrt
from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout


def _check(params: dict) -> tuple[int, float]:
    n, eps = params["n"], params.get("eps", 1e-6)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"rmsnorm.n must be a positive integer, not {n!r}")
    if not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"rmsnorm.eps must be a non-negative number, not {eps!r}")
    return n, float(eps)


def in_layout(params: dict) -> Layout:
    """An element x and its weight w, both row-wise."""
    bits = numerics_of(params).rowwise.bits
    return Layout(Field("x", bits, signed=True), Field("w", bits, signed=True))


def out_layout(params: dict) -> Layout:
    """One normalised, weighted element."""
    return Layout(Field("y", numerics_of(params).rowwise.bits, signed=True))


def golden(params: dict, beats: list) -> list:
    """FixedPoint.rmsnorm of each complete group of n beats."""
    (n, eps), fx = _check(params), fixed_of(params)
    out = []
    for k in range(len(beats) // n):
        group = beats[k * n:(k + 1) * n]
        y = fx.rmsnorm(np.array([b["x"] for b in group], np.int64),
                       np.array([b["w"] for b in group], np.int64), eps)
        out += [{"y": int(v)} for v in y]
    return out


def random_stimulus(params: dict, rng: np.random.Generator, operations: int) -> list:
    """Vectors of random magnitude; weights around 1.0 and anywhere in range."""
    (n, _), fx = _check(params), fixed_of(params)
    beats = []
    for _ in range(operations):
        span = 1 << int(rng.integers(0, fx.bits))
        xs = rng.integers(max(fx.lo, -span), min(fx.hi, span) + 1, n)
        if rng.random() < 0.5:
            ws = rng.integers(fx.lo, fx.hi + 1, n)
        else:
            ws = np.clip(fx.one + rng.integers(-fx.one // 2, fx.one // 2 + 1, n), fx.lo, fx.hi)
        beats += [{"x": int(x), "w": int(w)} for x, w in zip(xs, ws)]
    return beats


def edge_stimulus(params: dict) -> list:
    """Zeros (eps only), one LSB, full-scale extremes, saturating weights, one spike."""
    (n, _), fx = _check(params), fixed_of(params)
    vectors = [([0] * n, [fx.hi] * n), ([1] * n, [fx.hi] * n), ([fx.lo] * n, [fx.lo] * n),
               ([fx.hi] * n, [fx.hi] * n), ([-1] + [0] * (n - 1), [fx.lo] * n),
               ([fx.lo if k % 2 else fx.hi for k in range(n)], [fx.one] * n),
               ([fx.hi] + [1] * (n - 1), [fx.hi] * n)]
    return [{"x": x, "w": w} for xs, ws in vectors for x, w in zip(xs, ws)]


@block
def rmsnorm(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data, *, n, eps, bits,
            frac, rf, lut_bits, newton):
    """The double-buffered RMSNorm (see the module docstring)."""
    xmax = 1 << (bits - 1)
    lo, hi = -xmax, xmax - 1
    k = n.bit_length() + 16
    recip_n = round((1 << k) / n)
    eps_int = int(np.floor(eps * 4.0 ** frac + 0.5))
    floor = max(eps_int, 1)
    ss_max = n * xmax * xmax
    v_max = max(((ss_max * recip_n + (1 << (k - 1))) >> k) + eps_int, 1)
    r_max = result_bound(frac, rf)

    # two banks of n (x, w) pairs (a bank's address is its number above the index, so
    # no adder forms it); per bank: full (a whole vector is in it), summed (its sum of
    # squares is in sss), normed (its rsqrt is in rs); load, norm and emit each own
    # one bank pointer
    half = max(2, 1 << (n - 1).bit_length())
    full, summed, normed = (Signal(intbv(0)[2:]) for _ in range(3))
    wbank, cbank, rbank = (Signal(bool(0)) for _ in range(3))
    waddr = Signal(intbv(0, min=0, max=2 * half))
    raddr = Signal(intbv(0, min=0, max=2 * half))
    cnt = Signal(intbv(0, min=0, max=half))
    take, last = Signal(bool(0)), Signal(bool(n == 1))     # last: cnt == n - 1
    # room: a beat can be taken, a register set a step ahead (bank wbank is free, and
    # this is not the cycle after a vector's last beat, when the sum of squares
    # clears); offer: take outside reset, for the control registers, whose reset has
    # priority. Measured: with full[wbank], that cycle's flag and rst between, rst to
    # full was three LUTs, 186.7 MHz at n = 2,816 between registered ports
    room, offer = Signal(bool(1)), Signal(bool(0))
    loads = counter(clk, rst, take, cnt, last, n=n)
    x_in = Signal(intbv(0, min=lo, max=hi + 1))
    w_in = Signal(intbv(0, min=lo, max=hi + 1))
    # sum of squares: register x, x*x in pieces, accumulate; lv, ll, lb: a square's
    # valid bit, its vector's last beat and its bank, a stage each
    xl = Signal(intbv(0, min=lo, max=hi + 1))
    sq = Signal(intbv(0, min=-xmax * xmax, max=xmax * xmax + 1))
    squarer = product(clk, xl, xl, sq, fabric=True)
    sq_depth = product_latency(xl, xl)
    lv, ll, lb = (Signal(intbv(0)[sq_depth + 1:]) for _ in range(3))
    clear = Signal(bool(0))
    ss = Signal(intbv(0, min=0, max=ss_max + 1))
    summer = sum_of_squares(clk, clear, lv, sq, ss)
    # the last square's sum, two cycles after it is added, into its bank's sss
    l2, l3, b2, b3 = (Signal(bool(0)) for _ in range(4))
    sss = [Signal(intbv(0, min=0, max=ss_max + 1)) for _ in range(2)]
    # the mean of bank cbank: ss * round(2**k / n) in pieces, then its rounding, mean +
    # eps and the floor, each a register computing on every cycle; the norm waits for
    # them with a token running down ``settle`` (no step depends on the data), then
    # raises go for the rsqrt block
    ss_c = Signal(intbv(0, min=0, max=ss_max + 1))
    recip_c = Signal(intbv(0, min=0, max=recip_n + 1))
    msp = Signal(intbv(0)[len(ss_c) + len(recip_c):])     # the product's full width
    scaler = product(clk, ss_c, recip_c, msp, fabric=True)
    msp_r = Signal(intbv(0)[len(msp):])
    mean = Signal(intbv(0, min=0, max=v_max + 1))
    mean_r = Signal(intbv(0, min=0, max=v_max + 1))
    v, v_c = (Signal(intbv(0, min=0, max=v_max + 1)) for _ in range(2))
    zero = Signal(bool(0))
    # ss_c, the product, msp_r, mean_r, v_c, v: v is the run's on the cycle go rises
    settle = Signal(intbv(0)[product_latency(ss_c, recip_c) + 4:])
    # start: bank cbank's norm can begin; kick, a cycle later, its register (it enables
    # ss_c's 60-odd bits: the decode of start into them was the critical path at 205 MHz)
    busy, start, kick = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    go, ready = Signal(bool(0)), Signal(bool(0))
    r = Signal(intbv(0, min=0, max=r_max))
    rs = [Signal(intbv(0, min=0, max=r_max)) for _ in range(2)]
    root = rsqrt(clk, rst, go, v, ready, r, frac=frac, rf=rf, lut_bits=lut_bits,
                 newton=newton)
    # emit pipeline of bank rbank: the store's three read registers, a fabric register,
    # x*r (pieces), round, clamp, a register, z*w (pieces), round, clamp; w travels
    # beside x*r.
    # x's fabric register: at n = 2,816 the 24 blocks spread out, and a block's route
    # to the multiplier's input register alone took 4.1 ns (195 MHz)
    r_emit = Signal(intbv(0, min=0, max=r_max))
    xa, xb, wa, wd = (Signal(intbv(0, min=lo, max=hi + 1)) for _ in range(4))
    xr_depth, zw_depth = product_latency(xb, r_emit), product_latency(wa, wd)
    run = Signal(bool(0))
    ridx = Signal(intbv(0, min=0, max=half))
    done = Signal(bool(0))
    xs = bram(clk, take, waddr, x_in, raddr, xa, depth=2 * half)
    ws = bram(clk, take, waddr, w_in, raddr, wa, depth=2 * half)
    data = Signal(intbv(0)[len(o_data):])
    reader = readback(clk, rst, run, ridx, o_valid, o_ready, o_data, data, done, n=n,
                      depth=READ_LATENCY + 6 + xr_depth + zw_depth)
    xr = Signal(intbv(0, min=-xmax * r_max, max=xmax * r_max))
    scale_x = product(clk, xb, r_emit, xr, fabric=True)
    x_delay, w_delay = delay(clk, xa, xb, 1), delay(clk, wa, wd, xr_depth + 4)
    # z registered once more on its way to the multiplier blocks: the clamp's carry
    # chain and its long route to them held RMSNorm at 197 MHz
    z, z_r = (Signal(intbv(0, min=lo, max=hi + 1)) for _ in range(2))
    zw = Signal(intbv(0, min=-xmax * xmax, max=xmax * xmax + 1))
    scale_w = product(clk, z_r, wd, zw, fabric=True)
    out = Signal(intbv(0, min=lo, max=hi + 1))
    clamps = (round_clamp(clk, xr, z, k=rf), delay(clk, z, z_r, 1),
              round_clamp(clk, zw, out, k=frac))

    @always_comb
    def inputs():
        x_in.next = i_data[bits:].signed()
        w_in.next = i_data[2 * bits:bits].signed()
        take.next = i_valid and room and not rst
        offer.next = i_valid and room
        i_ready.next = room and not rst
        start.next = summed[cbank] and not normed[cbank] and not busy

    @always_comb
    def banks():
        waddr.next = concat(wbank, cnt)
        raddr.next = concat(rbank, ridx)

    @always(clk.posedge)
    def constants():
        """The constant operand, as a register (a signal must be driven to convert). It
        starts at 0 and takes its value on the first edge, so a simulator sees it
        change: Icarus never runs a combinational slice of a register whose initial
        value is already the one it keeps."""
        recip_c.next = recip_n

    @always_comb
    def rounding_mean():
        # (p + 2**(s-1)) >> s: the carry out of the s low bits is bit s - 1
        mean.next = (msp_r >> k) + msp_r[k - 1]

    @always_comb
    def drive():
        data.next = out[bits:]

    @always(clk.posedge)
    def squares():
        if rst:
            lv.next = 0
        else:
            lv.next = concat(lv[sq_depth:], take)
        clear.next = rst or (lv[sq_depth] and ll[sq_depth])
        ll.next = concat(ll[sq_depth:], last)
        lb.next = concat(lb[sq_depth:], wbank)
        xl.next = x_in
        l2.next = lv[sq_depth] and ll[sq_depth]
        b2.next = lb[sq_depth]
        l3.next = l2
        b3.next = b2
        if l3:
            sss[b3].next = ss

    @always(clk.posedge)
    def mean_path():
        """v = max(mean + eps, 1) from the registered product, on every cycle (ss_c
        holds still while the norm waits for it and the rsqrt block runs): the
        rounded mean, then mean + eps beside a zero test, then the floor (with eps of an
        LSB or more, mean + eps >= 1 and the test is left out)."""
        msp_r.next = msp
        mean_r.next = mean
        v_c.next = mean_r + eps_int
        if eps_int == 0:
            zero.next = mean_r == 0
            if zero:
                v.next = floor
            else:
                v.next = v_c
        else:
            v.next = v_c

    @always(clk.posedge)
    def emitted():
        """The emitted bank's rsqrt, registered: rbank changes only when the pipeline
        is empty, and the first product of a bank is four cycles after its first read.
        run, registered too (its bank mux into the read counter's enable held the unit
        at 190 MHz at n = 2,816): normed[rbank] a cycle late, low the cycle after done,
        when rbank moves on (normed[rbank] falls only then)."""
        r_emit.next = rs[rbank]
        if rst:
            run.next = 0
        else:
            run.next = normed[rbank] and not done

    @always(clk.posedge)
    def control():
        if rst:
            full.next = 0
            summed.next = 0
            normed.next = 0
            wbank.next = 0
            cbank.next = 0
            rbank.next = 0
            busy.next = 0
            kick.next = 0
            go.next = 0
            settle.next = 0
            room.next = 1
        else:
            if offer and last:
                full.next[wbank] = 1
                wbank.next = not wbank
                room.next = 0
            else:
                room.next = not full[wbank] or (done and rbank == wbank)
            if l3:
                summed.next[b3] = 1
            settle.next = concat(settle[len(settle) - 1:0], kick)
            kick.next = start
            if start:
                busy.next = 1
            if kick:
                ss_c.next = sss[cbank]
            if settle[len(settle) - 1]:
                go.next = 1
            if go and ready:
                # go falls for a cycle at least, which re-arms the rsqrt block
                go.next = 0
                busy.next = 0
                rs[cbank].next = r
                normed.next[cbank] = 1
                cbank.next = not cbank
            if done:
                full.next[rbank] = 0
                summed.next[rbank] = 0
                normed.next[rbank] = 0
                rbank.next = not rbank

    return (reader, loads, root, squarer, summer, scaler, scale_x, x_delay, w_delay, scale_w,
            inputs, banks, constants, rounding_mean, drive, squares, mean_path, emitted,
            control, xs, ws, clamps)


@block
def sum_of_squares(clk, clear, lv, sq, ss):
    """ss = the sum of the squares sq on the cycles lv's top bit is high, since ``clear``
    (the cycle after a vector's last square, the registers' synchronous reset: a
    restart muxed in after the adders held RMSNorm at 203 MHz): the low half of each
    square (as wide as half of ss) and the rest summed in two accumulators (two short
    carry chains: one of 53 bits held RMSNorm near 170 MHz), then combined in a
    register, so ss follows the last square by two cycles."""
    low = min(len(ss) // 2, len(sq) - 1)
    low_max = ((1 << low) - 1) * (ss.max // max(sq.max - 1, 1) + 1)
    lo = Signal(intbv(0, min=0, max=low_max + 1))
    hi = Signal(intbv(0, min=0, max=(ss.max >> low) + 1))
    top = len(lv) - 1

    @always(clk.posedge)
    def accumulate():
        if clear:
            lo.next = 0
            hi.next = 0
        elif lv[top]:
            lo.next = lo + sq[low:]
            hi.next = hi + (sq >> low)

    @always(clk.posedge)
    def combine():
        ss.next = ((hi + (lo >> low)) << low) | lo[low:]

    return accumulate, combine


def build(params: dict):
    """The rmsnorm block with its parameters bound."""
    n, eps = _check(params)
    num = numerics_of(params)
    return partial(rmsnorm, n=n, eps=eps, bits=num.rowwise.bits, frac=num.rowwise.frac,
                   rf=num.rsqrt.frac, lut_bits=num.rsqrt.lut_bits,
                   newton=num.rsqrt.newton_steps)


SPEC = UnitSpec(
    name="rmsnorm", build=build, in_layout=in_layout, out_layout=out_layout, golden=golden,
    random_stimulus=random_stimulus, edge_stimulus=edge_stimulus,
    param_names=("n", "eps", "numerics"),
    default_params={"n": 64, "eps": 1e-6},
    test_params=(
        {"n": 4},
        {"n": 3, "eps": 1e-5, "numerics": {"rsqrt": {"newton_steps": 2, "lut_bits": 4}}},
        {"n": 5, "numerics": {"rsqrt": {"newton_steps": 0, "frac": 11},
                              "rowwise": {"bits": 16, "frac": 8}}},
    ),
)
