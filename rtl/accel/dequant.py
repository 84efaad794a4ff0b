"""Dequantisation of mat-vec row sums, bit-exact with FixedPoint.dequantize.

y = sat(round_shift(acc * absmax * mantissa, shift)), with the gain
absmax * mantissa formed once per instruction by the lane. The rounding uses
round_shift(p, s) = ((p >> (s - 1)) + 1) >> 1 (s >= 1), which needs no
2**(s-1) constant of variable position. Three registers (product, shift,
round and saturate) on a :func:`rtl.flow.stream_ctrl` handshake.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, intbv

from rtl.flow import stream_ctrl

#: registers from a row sum to its dequantised value
DEPTH = 3


@block
def dequant(clk, rst, i_valid, i_ready, acc, gain, shm1, o_valid, o_ready, y):
    """The row sum ``acc`` times ``gain``, shifted right by shm1 + 1 with rounding."""
    pmax = max(abs(acc.min), acc.max) * gain.max
    prod = Signal(intbv(0, min=-pmax, max=pmax + 1))
    t = Signal(intbv(0, min=-pmax, max=pmax + 1))
    r = Signal(intbv(0, min=-pmax, max=pmax + 1))
    lo, hi = y.min, y.max - 1
    en = Signal(bool(0))
    ctrl = stream_ctrl(clk, rst, i_valid, i_ready, o_valid, o_ready, en, DEPTH)

    @always_comb
    def rounding():
        r.next = (t + 1) >> 1

    @always(clk.posedge)
    def pipe():
        if en:
            prod.next = acc * gain
            t.next = prod >> shm1
            if r > hi:
                y.next = hi
            elif r < lo:
                y.next = lo
            else:
                y.next = r

    return ctrl, rounding, pipe
