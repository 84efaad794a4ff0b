"""The sigmoid datapath of the row-wise unit: a LUT or a piecewise-linear fit.

The constants come from :mod:`cosim.numerics.nonlinear`, the same tables the
golden model :meth:`cosim.numerics.fixed.FixedPoint.sigmoid` reads, so the
hardware and the golden model agree bit for bit. :func:`sigmoid_pipe` is a
MyHDL sub-block with a fixed latency (:func:`sigmoid_latency`) and no enable
(the pipelines around it run freely); the row-wise unit and its compositions
instantiate it. :func:`max_error` and :func:`silu_max_error` measure the approximation
against ``scipy.special.expit`` over every representable input.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from myhdl import ConcatSignal, Signal, always, block, intbv
from scipy.special import expit

from cosim.config.schedule import Numerics
from cosim.numerics.fixed import FixedPoint
from cosim.numerics.nonlinear import SLOPE_FRAC, sigmoid_lut, sigmoid_pwl
from rtl.mult18 import delay, product, product_latency

#: registers of the LUT method (offset, index, table)
LUT_LATENCY = 3


def _pwl_operands(numerics: Numerics) -> tuple[Signal, Signal]:
    """The slope and magnitude signals the PWL's product multiplies: the magnitude
    keeps only the bits below the last break (beyond it the slope is 0)."""
    _, slopes, _ = pwl_rom(numerics)
    breaks = pwl_rom(numerics)[0]
    slope = Signal(intbv(0, min=min(slopes + (0,)), max=max(slopes) + 1))
    mag = Signal(intbv(0)[max(breaks[-1].bit_length(), 1):])
    return slope, mag


def sigmoid_latency(numerics: Numerics) -> int:
    """Cycles from ``x`` to ``y`` of :func:`sigmoid_pipe` built for ``numerics``."""
    if numerics.sigmoid.method == "lut":
        return LUT_LATENCY
    return 8 + product_latency(*_pwl_operands(numerics))


def pwl_rom(numerics: Numerics) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Breaks, and slopes and intercepts indexed by segment 0..segments.

    The golden model outputs 1.0 at or beyond the last break; the extra entry
    (slope 0, intercept 1.0) gives exactly that through the same multiply-add,
    min(0 + one, one) = one, so no special case is needed in hardware.
    """
    sig, frac = numerics.sigmoid, numerics.rowwise.frac
    pwl = sigmoid_pwl(sig.segments, sig.input_range, frac)
    return (tuple(pwl.breaks), tuple(pwl.slopes) + (0,),
            tuple(pwl.intercepts) + (1 << frac,))


@block
def sigmoid_lut_pipe(clk, x, y, numerics):
    """sigmoid(x) by table: index = clip((x + offset) >> shift, 0, N-1); three registers
    (offset sum, clipped index, table)."""
    sig, bits, frac = numerics.sigmoid, numerics.rowwise.bits, numerics.rowwise.frac
    lut = sigmoid_lut(sig.lut_entries, sig.input_range, frac)
    entries, shift, offset = len(lut.table), lut.shift, lut.offset
    top = entries - 1
    total = Signal(intbv(0, min=-(1 << (bits - 1)) + offset - 1, max=(1 << (bits - 1)) + offset))
    idx = Signal(intbv(0, min=0, max=entries))
    table = lut.table

    @always(clk.posedge)
    def offset_x():
        total.next = x + offset

    @always(clk.posedge)
    def index():
        if total < 0:
            idx.next = 0
        elif (total >> shift) > top:
            idx.next = top
        else:
            idx.next = (total >> shift)

    @always(clk.posedge)
    def rom():
        y.next = table[idx]

    return offset_x, index, rom


@block
def _at_least(clk, x, bound, ge):
    """ge <= x >= bound, for a constant bound."""
    @always(clk.posedge)
    def compare():
        ge.next = x >= bound

    return compare


@block
def sigmoid_pwl_pipe(clk, x, y, numerics):
    """sigmoid(x) as FixedPoint.sigmoid's PWL: |x| against the breaks, the segment's
    slope and intercept, one product, mirrored for x < 0; each compare, carry chain
    and table read in its own cycle, :func:`sigmoid_latency` registers in all."""
    bits, frac = numerics.rowwise.bits, numerics.rowwise.frac
    one = 1 << frac
    breaks, slopes, icepts = pwl_rom(numerics)
    nbreaks = len(breaks)
    mag_max = (1 << (bits - 1)) + 1
    # pos = ((slope * mag + half) >> SLOPE_FRAC) + icept, with the intercept and the
    # rounding folded into one addend: adding icept << SLOPE_FRAC before the shift is exact
    addends = tuple((c << SLOPE_FRAC) + (1 << (SLOPE_FRAC - 1)) for c in icepts)
    slope_c, mag_c = _pwl_operands(numerics)
    latency = product_latency(slope_c, mag_c)

    mag1 = Signal(intbv(0, min=0, max=mag_max))
    neg1 = Signal(bool(0))
    mag2 = Signal(intbv(0, min=0, max=mag_c.max))
    neg2 = Signal(bool(0))
    seg3 = Signal(intbv(0, min=0, max=nbreaks + 1))
    mag3 = Signal(intbv(0, min=0, max=mag_c.max))
    neg3 = Signal(bool(0))
    slope4 = Signal(intbv(0, min=slope_c.min, max=slope_c.max))
    mag4 = Signal(intbv(0, min=0, max=mag_c.max))
    addend4 = Signal(intbv(0, min=min(addends + (0,)), max=max(addends) + 1))
    neg4 = Signal(bool(0))
    prod = Signal(intbv(0, min=min(0, slope_c.min * (mag_c.max - 1)),
                        max=max(slope_c.max * mag_c.max, 1)))
    addend5 = Signal(intbv(0, min=addend4.min, max=addend4.max))
    neg5 = Signal(bool(0))
    above = (one + 1) << SLOPE_FRAC              # total6 >= above: pos > one
    # at least as wide as MyHDL writes the constant ``above`` (its bits and a sign
    # bit), so the compare is between equal widths
    total6 = Signal(intbv(0, min=prod.min + addend4.min,
                          max=max(prod.max + addend4.max, 2 * above)))
    neg6 = Signal(bool(0))
    # slopes and intercepts of the sigmoid are >= 0, so pos is; only its bits up to
    # one matter below the clip (over7 says when it is larger)
    if min(slopes + icepts) < 0:
        raise ValueError("the PWL sigmoid's slopes and intercepts must be non-negative")
    pos7 = Signal(intbv(0)[frac + 1:])
    neg7 = Signal(bool(0))
    over7 = Signal(bool(0))
    clipped8 = Signal(intbv(0, min=0, max=one + 1))
    neg8 = Signal(bool(0))

    @always(clk.posedge)
    def magnitude():
        if x < 0:
            mag1.next = -x
            neg1.next = True
        else:
            mag1.next = x
            neg1.next = False

    ges = [Signal(intbv(0)[1:]) for _ in breaks]
    compares = [_at_least(clk, mag1, brk, ge) for brk, ge in zip(breaks, ges)]
    ge2 = ConcatSignal(*reversed(ges)) if nbreaks > 1 else ges[0]

    @always(clk.posedge)
    def follow():
        mag2.next = mag1[len(mag2):]     # beyond the last break the slope is 0
        neg2.next = neg1

    @always(clk.posedge)
    def segment():
        # breaks ascend, so the last one |x| reaches counts them all
        count = intbv(0, min=0, max=nbreaks + 1)
        for k in range(nbreaks):
            if ge2[k]:
                count[:] = k + 1
        seg3.next = count
        mag3.next = mag2
        neg3.next = neg2

    @always(clk.posedge)
    def lookup():
        slope4.next = slopes[seg3]
        addend4.next = addends[seg3]
        mag4.next = mag3
        neg4.next = neg3

    @always(clk.posedge)
    def line():
        total6.next = prod + addend5
        neg6.next = neg5

    @always(clk.posedge)
    def scale():
        pos7.next = total6[SLOPE_FRAC + frac + 1:SLOPE_FRAC]
        over7.next = total6 >= above       # pos7 > one, found beside the shift
        neg7.next = neg6

    @always(clk.posedge)
    def clip():
        if over7:
            clipped8.next = one
        else:
            clipped8.next = pos7
        neg8.next = neg7

    @always(clk.posedge)
    def mirror():
        if neg8:
            y.next = one - clipped8
        else:
            y.next = clipped8

    return (magnitude, compares, follow, segment, lookup, product(clk, slope4, mag4, prod),
            delay(clk, addend4, addend5, latency), delay(clk, neg4, neg5, latency),
            line, scale, clip, mirror)


@block
def sigmoid_pipe(clk, x, y, numerics: Numerics):
    """The sigmoid datapath of ``numerics.sigmoid.method``; latency :func:`sigmoid_latency`."""
    if numerics.sigmoid.method == "lut":
        inst = sigmoid_lut_pipe(clk, x, y, numerics)
    else:
        inst = sigmoid_pwl_pipe(clk, x, y, numerics)
    return inst


# -- accuracy -------------------------------------------------------------------
def _inputs(numerics: Numerics) -> np.ndarray:
    """Every raw row-wise input in [-input_range, input_range)."""
    span = numerics.sigmoid.input_range << numerics.rowwise.frac
    return np.arange(-span, span, dtype=np.int64)


def max_error(numerics: Numerics) -> float:
    """Worst |sigmoid_hw(x) - expit(x)| over every representable x in the sigmoid's range."""
    fx = FixedPoint(numerics)
    x = _inputs(numerics)
    return float(np.max(np.abs(fx.to_real(fx.sigmoid(x)) - expit(fx.to_real(x)))))


def silu_max_error(numerics: Numerics) -> float:
    """Worst |silu_hw(x) - x * expit(x)| over every representable x in the sigmoid's range."""
    fx = FixedPoint(numerics)
    x = _inputs(numerics)
    real = fx.to_real(x)
    return float(np.max(np.abs(fx.to_real(fx.silu(x)) - real * expit(real))))


#: the closing table's sigmoid configurations: (method, size)
TABLE_CONFIGS = (("lut", 64), ("lut", 256), ("lut", 1024),
                 ("pwl", 1), ("pwl", 3), ("pwl", 5), ("pwl", 8))


def error_table(numerics: Numerics | None = None,
                configs: tuple[tuple[str, int], ...] = TABLE_CONFIGS) -> list[dict]:
    """Max sigmoid and SiLU error per (method, size), on ``numerics``' row-wise format."""
    base = numerics or Numerics()
    rows = []
    for method, size in configs:
        key = "lut_entries" if method == "lut" else "segments"
        nx = replace(base, sigmoid=replace(base.sigmoid, method=method, **{key: size}))
        rows.append({"method": method, "size": size, "sigmoid": max_error(nx),
                     "silu": silu_max_error(nx)})
    return rows
