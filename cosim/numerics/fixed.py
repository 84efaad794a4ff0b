"""The fixed-point golden model: what the hardware computes, integer for integer.

Each operation is a small method of :class:`FixedPoint` so that every RTL unit
can be checked against exactly one function, bit for bit. Values are int64
NumPy arrays of raw two's-complement integers in the row-wise format
(``rowwise.bits`` wide, ``rowwise.frac`` fractional bits) unless a method says
otherwise. Every rounding is round-half-up ((x + 2**(s-1)) >> s, an arithmetic
shift); every overflow saturates and is counted in ``self.overflows`` by
operation, never wraps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from cosim.config.schedule import Numerics
from cosim.numerics.nonlinear import (
    SLOPE_FRAC,
    rsqrt_seeds,
    sigmoid_lut,
    sigmoid_pwl,
)


def round_shift(x, shift: int):
    """x / 2**shift rounded half up; works on int64 arrays and Python ints."""
    if shift <= 0:
        return x << -shift if shift else x
    return (x + (1 << (shift - 1))) >> shift


@dataclass(frozen=True)
class WeightScale:
    """A matrix's dequantisation constant mean|W| / qmax as mantissa * 2**-shift."""

    mantissa: int
    shift: int


class FixedPoint:
    """Golden operations parameterised by a schedule's ``numerics`` section."""

    def __init__(self, numerics: Numerics):
        self.numerics = numerics
        self.bits = numerics.rowwise.bits
        self.frac = numerics.rowwise.frac
        self.one = 1 << self.frac
        self.lo = -(1 << (self.bits - 1))
        self.hi = (1 << (self.bits - 1)) - 1
        self.qmax = (1 << (numerics.activation_bits - 1)) - 1
        self.qmin = -(1 << (numerics.activation_bits - 1))
        self.acc_hi = (1 << (numerics.accumulator_bits - 1)) - 1
        #: fractional bits of the quantiser's reciprocal 1/absmax
        self.recip_frac = self.bits + numerics.activation_bits
        self.overflows: Counter[str] = Counter()
        sig = numerics.sigmoid
        if sig.method == "lut":
            self.lut = sigmoid_lut(sig.lut_entries, sig.input_range, self.frac)
        else:
            self.pwl = sigmoid_pwl(sig.segments, sig.input_range, self.frac)
        self.seeds = np.array(rsqrt_seeds(numerics.rsqrt.lut_bits, numerics.rsqrt.frac),
                              dtype=np.int64)

    # -- formats -----------------------------------------------------------
    def saturate(self, x, op: str, lo: int | None = None, hi: int | None = None):
        """Clamp to [lo, hi] (default: the row-wise range), counting clipped elements."""
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        x = np.asarray(x, dtype=np.int64)
        clipped = int(np.count_nonzero((x < lo) | (x > hi)))
        if clipped:
            self.overflows[op] += clipped
            x = np.clip(x, lo, hi)
        return x

    def to_fixed(self, real, op: str = "to_fixed"):
        """Real values to the row-wise format (round half up, saturate)."""
        scaled = np.floor(np.asarray(real, dtype=np.float64) * self.one + 0.5)
        limit = float(1 << 62)
        return self.saturate(np.clip(scaled, -limit, limit).astype(np.int64), op)

    def to_real(self, x):
        """Raw row-wise integers to float64."""
        return np.asarray(x, dtype=np.float64) / self.one

    def weight_scale(self, mean_abs: float) -> WeightScale:
        """mean|W| / qmax with ``scale_bits`` of mantissa, for :meth:`dequantize`."""
        value = mean_abs / self.qmax
        bits = self.numerics.scale_bits
        shift = bits - 1 - int(np.floor(np.log2(value)))
        return WeightScale(int(np.floor(value * 2.0 ** shift + 0.5)), shift)

    # -- element-wise (row-wise unit) ----------------------------------------
    def add(self, a, b):
        """Saturating a + b."""
        return self.saturate(np.asarray(a, np.int64) + b, "add")

    def mul(self, a, b):
        """a * b in the row-wise format: (a*b) >> frac, rounded, saturated."""
        return self.saturate(round_shift(np.asarray(a, np.int64) * b, self.frac), "mul")

    def one_minus(self, x):
        """1 - x, for x a gate in [0, 1]."""
        return self.saturate(self.one - np.asarray(x, np.int64), "one_minus")

    def sigmoid(self, x):
        """sigmoid by the schedule's LUT or piecewise-linear fit."""
        x = np.asarray(x, dtype=np.int64)
        if self.numerics.sigmoid.method == "lut":
            lut = self.lut
            index = np.clip((x + lut.offset) >> lut.shift, 0, len(lut.table) - 1)
            return np.asarray(lut.table, dtype=np.int64)[index]
        pwl = self.pwl
        mag = np.abs(x)
        seg = np.searchsorted(np.asarray(pwl.breaks), mag, side="right")
        last = len(pwl.slopes)
        safe = np.minimum(seg, last - 1)
        slopes = np.asarray(pwl.slopes, dtype=np.int64)[safe]
        icepts = np.asarray(pwl.intercepts, dtype=np.int64)[safe]
        pos = np.where(seg >= last, self.one,
                       np.minimum(round_shift(slopes * mag, SLOPE_FRAC) + icepts, self.one))
        return np.where(x < 0, self.one - pos, pos)

    def silu(self, x):
        """SiLU = x * sigmoid(x), on the same sigmoid and multiplier."""
        return self.mul(x, self.sigmoid(x))

    def lower_bound(self, f, lb):
        """Released MLGRU forget gate with lower bound: lb + (1 - lb) * f."""
        return self.add(lb, self.mul(self.one_minus(lb), f))

    def recurrence(self, f, x, h, variant: str):
        """One MLGRU state update.

        released: h = f*h + x, where x = SiLU(i) * (1 - f) was formed before;
        paper:    h = f*h + (1 - f)*x, where x = SiLU(c).
        """
        if variant == "paper":
            x = self.mul(self.one_minus(f), x)
        return self.add(self.mul(f, h), x)

    # -- RMSNorm -------------------------------------------------------------
    def mean_square(self, x, eps: float) -> int:
        """mean(x^2) + eps as a Python int with 2*frac fractional bits.

        The division by n is a multiplication by round(2**k / n), k = bitlen(n)+16.
        """
        x = np.asarray(x, dtype=np.int64)
        n = x.shape[-1]
        k = n.bit_length() + 16
        ss = int(np.dot(x, x))
        mean = round_shift(ss * round((1 << k) / n), k)
        return max(mean + int(np.floor(eps * 4.0 ** self.frac + 0.5)), 1)

    def rsqrt(self, v: int) -> int:
        """1/sqrt(v) for v with 2*frac fractional bits, with rsqrt.frac fractional bits.

        v is normalised by an even shift to a mantissa u in [2**m, 2**(m+2))
        (m = rsqrt.frac rounded up to even), a seed is read from the table at
        u's top ``lut_bits`` bits, refined by ``newton_steps`` steps
        y <- y * (3 - u*y^2) / 2, and shifted back. As v >= 1, the result is
        below 2**(frac + rsqrt.frac + 1).
        """
        cfg = self.numerics.rsqrt
        rf = cfg.frac
        m = rf + (rf & 1)
        e = (v.bit_length() - 1 - m) >> 1
        u = v >> (2 * e) if e >= 0 else v << (-2 * e)
        y = int(self.seeds[u >> (m + 2 - cfg.lut_bits)])
        for _ in range(cfg.newton_steps):
            y2 = (y * y) >> rf
            t = (3 << rf) - ((u * y2) >> m)
            y = (y * t) >> (rf + 1)
        return round_shift(y, e + m // 2 - self.frac)

    def rmsnorm(self, x, weight, eps: float):
        """x * rsqrt(mean(x^2) + eps) * weight, saturating after each product."""
        x = np.asarray(x, dtype=np.int64)
        r = self.rsqrt(self.mean_square(x, eps))
        z = self.saturate(round_shift(x * r, self.numerics.rsqrt.frac), "rmsnorm")
        return self.saturate(round_shift(z * weight, self.frac), "rmsnorm")

    # -- BitLinear: quantise, ternary mat-vec, dequantise ------------------------
    def absmax(self, y) -> int:
        """max |y|, at least one LSB (the float model's max(|x|, 1e-5))."""
        return max(int(np.max(np.abs(np.asarray(y, dtype=np.int64)))), 1)

    def quantize(self, y):
        """Per-token absmax quantisation to activation_bits: (q, absmax).

        q = round(y * qmax / absmax) computed as y * floor(qmax * 2**K / absmax) >> K.
        """
        m = self.absmax(y)
        recip = (self.qmax << self.recip_frac) // m
        q = round_shift(np.asarray(y, dtype=np.int64) * recip, self.recip_frac)
        return np.clip(q, self.qmin, self.qmax), m

    def matvec(self, q, ternary):
        """acc = W_t @ q, exact, saturated to accumulator_bits.

        ``ternary`` is a float32 {-1,0,1} matrix: the sum is exact in float32 while
        sum|q| < 2**24, and in float64 otherwise.
        """
        q = np.asarray(q)
        exact_f32 = q.shape[-1] * (self.qmax + 1) < (1 << 24)
        dtype = np.float32 if exact_f32 else np.float64
        acc = (ternary.astype(dtype, copy=False) @ q.astype(dtype)).astype(np.int64)
        return self.saturate(acc, "matvec", -self.acc_hi - 1, self.acc_hi)

    def dequantize(self, acc, absmax: int, scale: WeightScale):
        """acc * absmax * mean|W| / qmax back to the row-wise format."""
        gain = absmax * scale.mantissa
        return self.saturate(round_shift(np.asarray(acc, np.int64) * gain, scale.shift),
                             "dequantize")
