"""The sigmoid datapath of the row-wise unit: a LUT or a piecewise-linear fit.

The constants come from :mod:`cosim.numerics.nonlinear`, the same tables the
golden model :meth:`cosim.numerics.fixed.FixedPoint.sigmoid` reads, so the
hardware and the golden model agree bit for bit. :func:`sigmoid_pipe` is a
MyHDL sub-block with a fixed latency (:func:`sigmoid_latency`) whose registers
advance when ``en`` is high; the row-wise unit and its compositions instantiate
it. :func:`max_error` and :func:`silu_max_error` measure the approximation
against ``scipy.special.expit`` over every representable input.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from myhdl import Signal, always, always_comb, block, intbv
from scipy.special import expit

from cosim.config.schedule import Numerics
from cosim.numerics.fixed import FixedPoint
from cosim.numerics.nonlinear import SLOPE_FRAC, sigmoid_lut, sigmoid_pwl

#: breaks the PWL compare chain is written for (Numerics allows up to 16 segments)
MAX_SEGMENTS = 16
#: pipeline registers of each sigmoid method
LATENCY = {"lut": 2, "pwl": 5}


def sigmoid_latency(numerics: Numerics) -> int:
    """Cycles from ``x`` to ``y`` of :func:`sigmoid_pipe` built for ``numerics``."""
    return LATENCY[numerics.sigmoid.method]


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
def sigmoid_lut_pipe(clk, en, x, y, numerics):
    """sigmoid(x) by table: index = clip((x + offset) >> shift, 0, N-1); two registers."""
    sig, bits, frac = numerics.sigmoid, numerics.rowwise.bits, numerics.rowwise.frac
    lut = sigmoid_lut(sig.lut_entries, sig.input_range, frac)
    entries, shift, offset = len(lut.table), lut.shift, lut.offset
    top = entries - 1
    hi_sum = (1 << (bits - 1)) + offset
    total = Signal(intbv(0, min=-(1 << (bits - 1)) + offset - 1, max=hi_sum))
    idx = Signal(intbv(0, min=0, max=entries))
    value = Signal(intbv(0, min=0, max=(1 << frac) + 1))

    @always_comb
    def offset_x():
        total.next = x + offset

    @always(clk.posedge)
    def index():
        if en:
            if total < 0:
                idx.next = 0
            elif (total >> shift) > top:
                idx.next = top
            else:
                idx.next = (total >> shift)

    table = lut.table

    @always_comb
    def rom():
        value.next = table[idx]

    @always(clk.posedge)
    def out():
        if en:
            y.next = value

    return offset_x, index, rom, out


@block
def sigmoid_pwl_pipe(clk, en, x, y, numerics):
    """sigmoid(x) as FixedPoint.sigmoid's PWL: |x| vs breaks, slope/intercept ROM,
    one multiply, mirrored for x < 0; five registers."""
    bits, frac = numerics.rowwise.bits, numerics.rowwise.frac
    one = 1 << frac
    breaks, slopes, icepts = pwl_rom(numerics)
    nbreaks = len(breaks)
    mag_max = (1 << (bits - 1)) + 1
    half = 1 << (SLOPE_FRAC - 1)

    def unsigned(hi):
        return intbv(0, min=0, max=hi)

    mag1 = Signal(unsigned(mag_max))
    neg1 = Signal(bool(0))
    # the compare chain below is written out for MAX_SEGMENTS breaks; unused ones
    # compare against a value |x| never reaches
    b = breaks + (mag_max,) * (MAX_SEGMENTS - nbreaks)
    b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15 = b
    seg2 = Signal(unsigned(nbreaks + 1))
    mag2 = Signal(unsigned(mag_max))
    neg2 = Signal(bool(0))
    slope_c = Signal(intbv(0, min=min(slopes + (0,)), max=max(slopes) + 1))
    icept_c = Signal(intbv(0, min=min(icepts + (0,)), max=max(icepts) + 1))
    slope3 = Signal(intbv(0, min=slope_c.min, max=slope_c.max))
    icept3 = Signal(intbv(0, min=icept_c.min, max=icept_c.max))
    mag3 = Signal(unsigned(mag_max))
    neg3 = Signal(bool(0))
    prod_lo = min(0, slope_c.min * (mag_max - 1))
    prod_hi = max(slope_c.max * mag_max, 1)
    prod4 = Signal(intbv(0, min=prod_lo, max=prod_hi))
    icept4 = Signal(intbv(0, min=icept_c.min, max=icept_c.max))
    neg4 = Signal(bool(0))
    pos_lo = min(0, (prod_lo >> SLOPE_FRAC) + icept_c.min) - 1
    pos_hi = max(one, ((prod_hi + half) >> SLOPE_FRAC) + icept_c.max) + 1
    pos = Signal(intbv(0, min=pos_lo, max=pos_hi))
    clipped = Signal(intbv(0, min=pos_lo, max=one + 1))

    @always(clk.posedge)
    def magnitude():
        if en:
            if x < 0:
                mag1.next = -x
                neg1.next = True
            else:
                mag1.next = x
                neg1.next = False

    @always(clk.posedge)
    def segment():
        if en:
            seg2.next = ((mag1 >= b0) + (mag1 >= b1) + (mag1 >= b2) + (mag1 >= b3)
                         + (mag1 >= b4) + (mag1 >= b5) + (mag1 >= b6) + (mag1 >= b7)
                         + (mag1 >= b8) + (mag1 >= b9) + (mag1 >= b10) + (mag1 >= b11)
                         + (mag1 >= b12) + (mag1 >= b13) + (mag1 >= b14) + (mag1 >= b15))
            mag2.next = mag1
            neg2.next = neg1

    @always_comb
    def slope_rom():
        slope_c.next = slopes[seg2]

    @always_comb
    def icept_rom():
        icept_c.next = icepts[seg2]

    @always(clk.posedge)
    def lookup():
        if en:
            slope3.next = slope_c
            icept3.next = icept_c
            mag3.next = mag2
            neg3.next = neg2

    @always(clk.posedge)
    def multiply():
        if en:
            prod4.next = slope3 * mag3
            icept4.next = icept3
            neg4.next = neg3

    @always_comb
    def line():
        pos.next = ((prod4 + half) >> SLOPE_FRAC) + icept4

    @always_comb
    def clip():
        if pos > one:
            clipped.next = one
        else:
            clipped.next = pos

    @always(clk.posedge)
    def mirror():
        if en:
            if neg4:
                y.next = one - clipped
            else:
                y.next = clipped

    return (magnitude, segment, slope_rom, icept_rom, lookup, multiply, line,
            clip, mirror)


@block
def sigmoid_pipe(clk, en, x, y, numerics: Numerics):
    """The sigmoid datapath of ``numerics.sigmoid.method``; latency :func:`sigmoid_latency`."""
    if numerics.sigmoid.method == "lut":
        inst = sigmoid_lut_pipe(clk, en, x, y, numerics)
    else:
        inst = sigmoid_pwl_pipe(clk, en, x, y, numerics)
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
