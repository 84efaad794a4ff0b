"""Dequantisation of mat-vec row sums, bit-exact with FixedPoint.dequantize.

y = sat(round_shift(acc * gain, shm1 + 1)), with the gain absmax * mantissa
formed once per instruction by the lane. The rounding uses
round_shift(p, s) = ((p >> (s - 1)) + 1) >> 1 (s >= 1), which needs no
2**(s-1) constant of variable position.

The product is up to 64 bits wide: in one cycle (a 64-bit product, then a
64-bit shift) it would hold the accelerator below the units' clock. So it is
pipelined, every stage one short step, all on one :func:`rtl.flow.stream_ctrl`
handshake (between registered ports it routes at 137.5 MHz on the ECP5-85F,
limited by one MULT18X18D between registers):

1. acc, gain and shm1 registered;
2. partial products of MULT18-sized pieces, each one MULT18X18D between
   registers, and
3. their registered adder tree (both :func:`rtl.mult18.product`, on the handshake's
   enable);
4. the shift by shm1's high bits (a multiple of 8), then by its low three bits;
5. the rounding increment, then the saturation into the output register.

The depth follows from the widths (:func:`depth`); the accelerator's timing
model measures it by simulation (rtl.accel.timing). :data:`SPEC` lets the unit
harness prove it against the golden model beat by beat, each beat with its own
gain and shift.
"""

from __future__ import annotations

import numpy as np
from myhdl import Signal, always, always_comb, block, concat, intbv

from cosim.numerics.fixed import WeightScale
from rtl.accel.encode import SHIFT_BITS
from rtl.flow import stream_ctrl
from rtl.mult18 import delay, product, product_latency, result
from rtl.rowwise import field_signals, pack, unpack
from rtl.spec import UnitSpec, fixed_of, numerics_of
from rtl.stream import Field, Layout


def _operands(accbits: int, gainbits: int) -> tuple[Signal, Signal]:
    """The product's registered operands: a signed row sum and an unsigned gain."""
    return (Signal(intbv(0, min=-(1 << (accbits - 1)), max=1 << (accbits - 1))),
            Signal(intbv(0)[gainbits:]))


def depth(accbits: int, gainbits: int) -> int:
    """Registers from a beat to its result: inputs, the split product, two shifts,
    rounding and saturation."""
    return 1 + product_latency(*_operands(accbits, gainbits)) + 4


def _signal(lo: int, hi: int) -> Signal:
    """A signed signal that holds [lo, hi] (the shifted and rounded product)."""
    return Signal(intbv(0, min=min(lo, -1), max=max(hi, 0) + 1))


@block
def dequant(clk, rst, i_valid, i_ready, acc, gain, shm1, o_valid, o_ready, y):
    """The row sum ``acc`` times ``gain``, shifted right by shm1 + 1 with rounding
    and saturated to ``y``; one beat a cycle, ``depth`` cycles from in to out."""
    accbits, gainbits = len(acc), len(gain)
    en = Signal(bool(0))
    insts = [stream_ctrl(clk, rst, i_valid, i_ready, o_valid, o_ready, en,
                         depth(accbits, gainbits))]

    # 1. registered inputs; shm1 follows the product's stages
    acc_r, gain_r = _operands(accbits, gainbits)
    shc = Signal(intbv(0)[len(shm1):])
    insts += [delay(clk, acc, acc_r, 1, en), delay(clk, gain, gain_r, 1, en),
              delay(clk, shm1, shc, 1 + product_latency(acc_r, gain_r), en)]

    # 2-3. the product on MULT18X18D blocks and a registered adder tree
    prod = result(acc_r, gain_r)
    insts.append(product(clk, acc_r, gain_r, prod, en))
    plo, phi = prod.min, prod.max - 1

    # 4. shift right by shm1, in two registered steps
    coarse = Signal(intbv(0)[len(shm1):])
    t1, t = _signal(plo, phi), _signal(plo, phi)
    fine = Signal(intbv(0)[3:])

    @always_comb
    def shifts():
        coarse.next = concat(shc[len(shm1):3], intbv(0)[3:])

    @always(clk.posedge)
    def shift():
        if en:
            t1.next = prod >> coarse
            fine.next = shc[3:]
            t.next = t1 >> fine

    # 5. round half up, then saturate into the output register
    r = _signal((plo + 1) >> 1, (phi + 1) >> 1)
    bits = len(y)
    hi, lo = (1 << (bits - 1)) - 1, -(1 << (bits - 1))

    @always(clk.posedge)
    def finish():
        if en:
            r.next = (t + 1) >> 1
            # hi and lo have at most 24 bits (the schema's row-wise bound): MyHDL
            # would emit a compare with a constant of 32 bits or more unsigned
            if r > hi:
                y.next = hi
            elif r < lo:
                y.next = lo
            else:
                y.next = r[bits:].signed()

    return insts, shifts, shift, finish


# -- the dequantiser as a stream unit, for the harness -----------------------------------


def _widths(params: dict) -> tuple[int, int, int]:
    num = numerics_of(params)
    return num.accumulator_bits, num.rowwise.bits + num.scale_bits, num.rowwise.bits


def in_layout(params: dict) -> Layout:
    """A row sum, its gain and its shift minus one."""
    accbits, gainbits, _ = _widths(params)
    return Layout(Field("acc", accbits, signed=True), Field("gain", gainbits),
                  Field("shm1", SHIFT_BITS))


def out_layout(params: dict) -> Layout:
    """One row-wise value."""
    return Layout(Field("y", _widths(params)[2], signed=True))


def golden(params: dict, beats: list) -> list:
    """FixedPoint.dequantize of each beat (gain as absmax with a unit mantissa)."""
    fx = fixed_of(params)
    return [{"y": int(fx.dequantize(np.array([b["acc"]]), b["gain"],
                                    WeightScale(1, b["shm1"] + 1))[0])} for b in beats]


def _exact(beat: dict) -> bool:
    """Whether the golden model's int64 rounding (p + 2**(s-1)) holds the beat exactly;
    a lane's gain is below 2**(bits - 1 + scale_bits), which keeps every real beat so."""
    return abs(beat["acc"] * beat["gain"]) + (1 << beat["shm1"]) < 1 << 63


def random_stimulus(params: dict, rng: np.random.Generator, operations: int) -> list:
    """Random sums and gains of random magnitude; the shift puts most results in range."""
    accbits, gainbits, bits = _widths(params)
    beats = []
    for _ in range(operations):
        a = int(rng.integers(-(1 << (accbits - 1)), 1 << (accbits - 1)))
        a >>= int(rng.integers(0, accbits))
        g = int(rng.integers(0, 1 << gainbits)) >> int(rng.integers(0, gainbits))
        top = (abs(a) * g).bit_length()
        shm1 = int(np.clip(top - bits + int(rng.integers(-3, 4)), 0, (1 << SHIFT_BITS) - 1))
        beats.append({"acc": a, "gain": g, "shm1": shm1})
    return [b if _exact(b) else {**b, "gain": b["gain"] >> 2} for b in beats]


def edge_stimulus(params: dict) -> list:
    """Extreme products at the smallest and largest shifts, and rounding ties."""
    accbits, gainbits, bits = _widths(params)
    amin, amax, gmax = -(1 << (accbits - 1)), (1 << (accbits - 1)) - 1, (1 << gainbits) - 1
    smax = (1 << SHIFT_BITS) - 1
    beats = [{"acc": a, "gain": g, "shm1": s} for a in (amin, amax, -1, 0, 1)
             for g in (0, 1, gmax) for s in (0, smax)]
    beats += [{"acc": a, "gain": gmax, "shm1": accbits + gainbits - bits - 1 + d}
              for a in (amin, amax) for d in (-1, 0, 1)]
    beats += [{"acc": a, "gain": 1, "shm1": 1} for a in (-6, -5, -3, -2, 2, 3, 5, 6)]
    return [b for b in beats if _exact(b)]


def build(params: dict):
    """The dequantiser with the contract's eight ports (i_data = acc, gain, shm1)."""
    bits = _widths(params)[2]
    layout = in_layout(params)

    @block
    def unit(clk, rst, i_valid, i_ready, i_data, o_valid, o_ready, o_data):
        f = field_signals(layout)
        y = Signal(intbv(0, min=-(1 << (bits - 1)), max=1 << (bits - 1)))
        return unpack(i_data, layout, f), pack(o_data, [y]), dequant(
            clk, rst, i_valid, i_ready, f["acc"], f["gain"], f["shm1"], o_valid, o_ready, y)

    return unit


SPEC = UnitSpec(
    name="dequant", build=build, in_layout=in_layout, out_layout=out_layout, golden=golden,
    random_stimulus=random_stimulus, edge_stimulus=edge_stimulus,
    test_params=({}, {"numerics": {"accumulator_bits": 10, "rowwise": {"bits": 8, "frac": 4},
                                   "scale_bits": 8}},
                 {"numerics": {"accumulator_bits": 48, "rowwise": {"bits": 8, "frac": 4},
                               "scale_bits": 8}}),
)
